"""Kernel sets, one per device, exposing the same functions.

``ops("cpu")`` is :mod:`engine.kernels.cpu` (Numba ``@njit`` over numpy arrays),
``ops("cuda")`` is :mod:`engine.kernels.cuda` (``numba.cuda`` over device arrays).
Kernels are pure functions over arrays: they know nothing of layers. Layers ask
for the set of their device here; nothing else in the engine branches on it.
"""
from __future__ import annotations

import importlib

import numpy as np

from .contracts import conv_output_size  # noqa: F401  (layers size their outputs with it)

DEVICES = ("cpu", "cuda")
_loaded: dict = {}      # device -> its kernel module, once loaded (and, for cuda, usable)


def ops(device: str):
    """The kernel module for ``device`` ("cpu" or "cuda"), loaded on first use: numba-cuda
    is an optional dependency. Every layer call asks, so a loaded set is a dict lookup
    (an ``import`` statement here cost a few microseconds a call, ten times that in a
    process with PySide6, whose import hook runs Python code on every import)."""
    kernels = _loaded.get(device)
    if kernels is not None:
        return kernels
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}: use one of {', '.join(DEVICES)}")
    kernels = importlib.import_module(f"{__name__}.{device}")
    if device == "cuda":
        kernels.require()
    _loaded[device] = kernels
    return kernels


def device_of(array) -> str:
    """"cpu" for a numpy array, "cuda" for a numba.cuda device array."""
    return "cpu" if isinstance(array, np.ndarray) else "cuda"


class DeviceMemoryError(MemoryError):
    """The device ran out of memory. Kernels raise it with what they were allocating;
    containers add the layer (``path``, ``layer``) and the ``batch_size`` on the way out,
    as they do for ShapeError. The kernel set has freed its caches by then, so the
    process stays usable (e.g. retry with a smaller batch)."""

    def __init__(self, message: str, path: tuple[str, ...] = (), layer: str | None = None,
                 batch_size: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.layer = layer
        self.batch_size = batch_size

    def within(self, name: str, module=None, batch_size: int | None = None) -> "DeviceMemoryError":
        """The same error one container up: ``name`` is the child it happened in."""
        layer = self.layer if self.layer is not None else (type(module).__name__ if module is not None else None)
        batch = self.batch_size if self.batch_size is not None else batch_size
        return DeviceMemoryError(self.message, (name,) + self.path, layer, batch)

    def __str__(self) -> str:
        where = ""
        if self.path:
            where = f" in layer '{'.'.join(self.path)}'" + (f" ({self.layer})" if self.layer else "")
        batch = f" at batch size {self.batch_size}" if self.batch_size is not None else ""
        hint = "; try a smaller batch size" if self.batch_size is not None else ""
        return f"CUDA out of memory{where}{batch}: {self.message}{hint}"
