"""Kernel sets, one per device, exposing the same functions.

``ops("cpu")`` is :mod:`engine.kernels.cpu` (Numba ``@njit`` over numpy arrays),
``ops("cuda")`` is :mod:`engine.kernels.cuda` (``numba.cuda`` over device arrays).
Kernels are pure functions over arrays: they know nothing of layers. Layers ask
for the set of their device here; nothing else in the engine branches on it.
"""
from __future__ import annotations

DEVICES = ("cpu", "cuda")


def ops(device: str):
    """The kernel module for ``device`` ("cpu" or "cuda")."""
    if device == "cpu":
        from . import cpu
        return cpu
    if device == "cuda":
        from . import cuda
        cuda.require()
        return cuda
    raise ValueError(f"unknown device {device!r}: use one of {', '.join(DEVICES)}")


def device_of(array) -> str:
    """"cpu" for a numpy array, "cuda" for a numba.cuda device array."""
    import numpy as np
    return "cpu" if isinstance(array, np.ndarray) else "cuda"
