"""Scratch buffers reused across calls, so a training step allocates no im2col columns."""
from __future__ import annotations

import numpy as np

_buffers: dict[tuple[str, str], np.ndarray] = {}


def workspace(name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A C-contiguous scratch array of ``shape`` named ``name``; contents are undefined.

    Each name owns one flat buffer that only grows, so callers must not hold two
    views of the same name at once. Engine calls all run on one thread.
    """
    dtype = np.dtype(dtype)
    size = 1
    for s in shape:
        size *= int(s)
    key = (name, dtype.str)
    buf = _buffers.get(key)
    if buf is None or buf.size < size:
        buf = np.empty(max(size, 1), dtype)
        _buffers[key] = buf
    return buf[:size].reshape(shape)


def release() -> None:
    """Free every scratch buffer (e.g. after training a large model)."""
    _buffers.clear()
