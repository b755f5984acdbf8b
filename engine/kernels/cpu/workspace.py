"""Scratch buffers reused across calls, so a training step allocates no im2col columns.

Each thread has its own buffers (the GEMM path runs one share of the samples on every
thread of the pool, and the GUI, loaders and trainer call kernels from threads of their
own), so two threads never write the same scratch memory.
"""
from __future__ import annotations

import threading

import numpy as np

_local = threading.local()
_all: list[dict] = []  # every thread's buffers, for release()
_lock = threading.Lock()


def workspace(name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A C-contiguous scratch array of ``shape`` named ``name``, owned by the calling
    thread; contents are undefined. Each name owns one flat buffer per thread that only
    grows, so a caller must not hold two views of the same name at once."""
    buffers = getattr(_local, "buffers", None)
    if buffers is None:
        buffers = _local.buffers = {}
        with _lock:
            _all.append(buffers)
    dtype = np.dtype(dtype)
    size = 1
    for s in shape:
        size *= int(s)
    key = (name, dtype.str)
    buf = buffers.get(key)
    if buf is None or buf.size < size:
        buf = np.empty(max(size, 1), dtype)
        buffers[key] = buf
    return buf[:size].reshape(shape)


def release() -> None:
    """Free every thread's scratch buffers (e.g. after training a large model)."""
    with _lock:
        for buffers in _all:
            buffers.clear()
