"""Host memory: keep freed activation memory in the process (glibc malloc settings).

Every layer returns a fresh numpy array, and a training step allocates the same sizes
again every iteration. With glibc's defaults, arrays above a dynamic threshold
(128 KiB to 32 MiB) are ``mmap``-ed and given back on free, and the top of the heap is
trimmed back to the OS: every step then page-faults its activations in again, one
zero-filled 4 KiB page at a time. On the 2-core machine that made mnist_cnn's first ReLU
(64x6x24x24, 0.9 MB) take 0.44 ms instead of 0.06 ms, and a whole mnist_cnn training
step 1.3x slower (processes with and without the setting, alternated four times: 4.5-6.2
against 3.6-4.4 ms per step; cifar_cnn 3% slower). An earlier A/B inside the noisier
full benchmark had missed it. ``install_allocator()`` raises the mmap threshold to 512 MiB and
the trim threshold to 2 GiB (``mallopt``), so freed blocks stay on the heap and the next step
reuses them, as PyTorch users get from jemalloc or tcmalloc. The price: memory freed
by the engine stays with the process (its peak resident size does not grow).

It runs when the CPU kernel set is imported; ``NUMBACNN_CPU_ALLOCATOR=default`` keeps
glibc's defaults. Elsewhere than glibc it does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 512 * 2**20
TRIM_THRESHOLD = 2**31 - 1  # mallopt takes an int: about 2 GiB of free heap top kept

_installed = False


def install_allocator() -> bool:
    """Sets glibc's mmap and trim thresholds (once). Returns whether they are in force."""
    global _installed
    if _installed or os.environ.get("NUMBACNN_CPU_ALLOCATOR", "keep") == "default":
        return _installed
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _installed = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _installed
