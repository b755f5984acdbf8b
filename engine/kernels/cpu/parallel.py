"""How the CPU kernel set uses the cores: ``parallel_for``, which runs a kernel's blocks
on a small pool of Python threads, ``gemm``, the matrix product every layer calls, and the
thread count (``set_num_threads``).

Every CPU kernel is a serial ``@kernel`` (``@njit(nogil=True, error_model="numpy",
cache=True)``) loop over a range ``[lo, hi)`` of its outer index (planes, channels, rows).
The numpy error model (x / 0 gives inf or NaN instead of raising) is the one Numba's
parallel kernels used, and lets a diverging run reach the trainer's NaN guard.
``parallel_for`` cuts the range into one block per thread and runs them at once; the
kernels release the GIL, so the blocks run on all cores. Measured on the 2-core
development machine (numbacnn issue 7), this replaced ``@njit(parallel=True)`` kernels
because:

* compile time: Numba's parfor passes took 1-6 s per parallel kernel (a cold start of
  resnet20, which compiles about 20 kernels, took 40-90 s); the same loop as a plain
  ``@njit`` function compiles in 0.1-0.7 s, and loads from the cache faster;
* no threading layer: ``omp`` spin-waits at every barrier (62 img/s against 1933 for a
  sleeping pool on the loaded machine), and ``workqueue``, the layer that sleeps, aborts the
  process when two Python threads enter parallel regions at once (the GUI, the data
  loader's workers and the trainer all run kernels on threads of their own);
* the GIL is released while a kernel runs, so a GUI stays responsive during a step.

OpenBLAS with 2 threads on skinny products (the weight gradient of a 16-channel conv:
(144 x 131072) @ (131072 x 16)) fell to 0.4 GFLOP/s under load against 8.8 for one
thread. So numpy's OpenBLAS is pinned to one thread and ``gemm`` splits a large product
itself into blocks computed on the same pool (numpy releases the GIL in matmul): nothing
spins, and on an idle machine every core works.
"""
from __future__ import annotations

import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np


def kernel(fn=None, *, fastmath=True):
    """The decorator of every CPU kernel (a function called from Python): ``@njit`` with
    the GIL released, the numpy error model and the on-disk cache. ``@kernel`` or
    ``@kernel(fastmath=...)``; functions that only kernels call take :func:`helper`."""
    jit = numba.njit(nogil=True, error_model="numpy", fastmath=fastmath, cache=True)
    return jit if fn is None else jit(fn)


def helper(fn):
    """The decorator of a function that only kernels call: Numba inlines it into each
    caller (``inline="always"``), so it is never compiled on its own. Compiled separately,
    LLVM inlined and re-optimised its code inside every caller anyway, and a cold start
    paid for it twice (conv_direct's forward: the helpers' own compiles were half of its
    7 s)."""
    return numba.njit(inline="always", nogil=True, error_model="numpy", fastmath=True)(fn)


# --- OpenBLAS, pinned to one thread --------------------------------------------------------
_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_", "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
            "openblas_get_num_threads64_", "openblas_get_num_threads")
_blas = None  # (get, set) of numpy's OpenBLAS, or () when not found


def _numpy_openblas():
    """(get, set) ctypes functions of the OpenBLAS numpy uses, or () if there is none."""
    paths = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1] if "/" in line else ""
                if "openblas" in os.path.basename(p).lower() and p not in paths:
                    paths.append(p)
    except OSError:
        return ()
    # numpy's own copy (numpy.libs / scipy_openblas64) first; scipy's is a different library
    paths.sort(key=lambda p: 0 if ("numpy" in p or "openblas64" in p) else 1)
    for p in paths:
        try:
            lib = ctypes.CDLL(p)
        except OSError:
            continue
        get = next((getattr(lib, n) for n in _GETTERS if hasattr(lib, n)), None)
        set_ = next((getattr(lib, n) for n in _SETTERS if hasattr(lib, n)), None)
        if get is not None and set_ is not None:
            get.restype = ctypes.c_int
            get.argtypes = []
            set_.restype = None
            set_.argtypes = [ctypes.c_int]
            return get, set_
    return ()


def blas_single_thread() -> None:
    """Makes numpy's OpenBLAS run each call on the calling thread (cheap when it already does)."""
    global _blas
    if _blas is None:
        _blas = _numpy_openblas()
    if _blas:
        get, set_ = _blas
        if get() != 1:
            set_(1)


# --- threads ---------------------------------------------------------------------------------
MAX_THREADS = numba.config.NUMBA_NUM_THREADS
"""The most threads the kernels use: the cores this process may run on, or
NUMBA_NUM_THREADS when set."""
_threads = MAX_THREADS
_pool = None
_pool_size = 0
_pool_lock = threading.Lock()


def set_num_threads(n: int) -> int:
    """Runs every kernel and product on ``n`` threads (capped at MAX_THREADS); returns
    the count set. numpy's OpenBLAS stays on one thread (see the module docstring)."""
    global _threads
    n = int(n)
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    _threads = min(n, MAX_THREADS)
    blas_single_thread()
    return _threads


def get_num_threads() -> int:
    return _threads


def _get_pool():
    """The pool of ``_threads - 1`` workers (the calling thread does one block itself)."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size != _threads:
            if _pool is not None:
                _pool.shutdown(wait=True)
            _pool = ThreadPoolExecutor(max_workers=_threads - 1, thread_name_prefix="numbacnn")
            _pool_size = _threads
        return _pool


def _forget_pool_after_fork():
    # a forked child has the pool object but none of its threads: it makes its own
    global _pool, _pool_size, _pool_lock
    _pool, _pool_size, _pool_lock = None, 0, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_after_fork)


PARALLEL_MIN = 1 << 19
"""Elements of work below which a kernel runs on the calling thread only. Handing a block
to the pool and waiting for it costs 50-150 us on the 2-core development machine (a
virtual machine: waking a sleeping thread wakes a halted virtual CPU), while one thread
runs an element-wise pass over 2**19 float32 (2 MB) in about 100 us: a ReLU over MNIST's
first feature maps (221k elements) took 40 us on one thread and 100-200 us on two, one
over ResNet-20's (2M) 1 ms on one and 0.5 ms on two."""


def parallel_for(kernel, n, *args, work=None):
    """Runs ``kernel(*args, lo, hi)`` over the whole range [0, n) of its outer index, cut
    into one block per thread. ``kernel`` must write disjoint outputs for disjoint ranges
    (no reductions across blocks). ``work``, the number of elements the call touches
    (default n), decides whether threads are worth waking (PARALLEL_MIN)."""
    T = min(_threads, n)
    if T <= 1 or (n if work is None else work) < PARALLEL_MIN:
        kernel(*args, 0, n)
        return
    edges = [(n * i) // T for i in range(T + 1)]
    pool = _get_pool()
    futs = [pool.submit(kernel, *args, edges[i], edges[i + 1]) for i in range(1, T)]
    kernel(*args, 0, edges[1])
    for f in futs:
        f.result()


# --- gemm ------------------------------------------------------------------------------------
SPLIT_FLOPS = 16e6  # below this a product runs on the calling thread only (6 MFLOP: 107 us there, 110-190 us split)


def gemm(a, b, out=None):
    """out = a @ b for 2-d float arrays (views with unit last stride are fine), on
    ``get_num_threads()`` threads: the output is cut into that many column blocks
    (or row blocks when it is tall and narrow), each a single-threaded OpenBLAS call."""
    M, K = a.shape
    N = b.shape[1]
    if out is None:
        out = np.empty((M, N), np.result_type(a, b))
    blas_single_thread()
    T = _threads
    if T <= 1 or 2.0 * M * N * K < SPLIT_FLOPS or max(M, N) < 2 * T:
        np.matmul(a, b, out=out)
        return out
    pool = _get_pool()
    if N >= M:
        edges = [(N * i) // T for i in range(T + 1)]
        futs = [pool.submit(np.matmul, a, b[:, edges[i]:edges[i + 1]], out=out[:, edges[i]:edges[i + 1]])
                for i in range(1, T)]
        np.matmul(a, b[:, :edges[1]], out=out[:, :edges[1]])
    else:
        edges = [(M * i) // T for i in range(T + 1)]
        futs = [pool.submit(np.matmul, a[edges[i]:edges[i + 1]], b, out=out[edges[i]:edges[i + 1]])
                for i in range(1, T)]
        np.matmul(a[:edges[1]], b, out=out[:edges[1]])
    for f in futs:
        f.result()
    return out
