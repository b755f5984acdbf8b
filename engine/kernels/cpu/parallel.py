"""How the CPU kernel set uses the cores: Numba's threading layer, BLAS threads, and
``gemm``, the matrix product every layer calls.

Measured on the 2-core development machine, which is shared (load averages of 4-9 are
common while other people run tests):

* Numba's ``omp`` layer (GNU OpenMP, what Numba picks when it can) spin-waits at every
  barrier; with another thread pool (OpenBLAS's, which also spins after each call) and
  other processes on the same cores, a training step of mnist_cnn ran at 62 img/s under
  ``omp`` and 1933 img/s under ``workqueue`` in back-to-back runs (numbacnn issue 7).
  ``workqueue`` workers sleep when idle, so this module selects it before the first
  parallel kernel runs, unless NUMBA_THREADING_LAYER (or numba.config) already chose
  one. ``workqueue`` must not be entered by two Python threads at once; the engine
  calls its kernels from one thread (the GUI's EngineThread, the Trainer's thread), and
  the data loader's kernels are not parallel.
* OpenBLAS with 2 threads on skinny products (the weight gradient of a 16-channel conv:
  (144 x 131072) @ (131072 x 16)) fell to 0.4 GFLOP/s under load against 8.8 for one
  thread. So ``gemm`` runs OpenBLAS single-threaded and splits a large product itself
  into ``numba.get_num_threads()`` blocks computed on a small pool of Python threads
  (numpy releases the GIL in matmul): nothing spins, and on an idle machine both cores
  still work. The pool size follows ``numba.set_num_threads`` (and so
  ``engine.train.threads.set_threads``).
"""
from __future__ import annotations

import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

# --- threading layer ---------------------------------------------------------------------
if "NUMBA_THREADING_LAYER" not in os.environ and numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER = "workqueue"


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


# --- gemm ------------------------------------------------------------------------------------
_pool = None
_pool_size = 0
_pool_lock = threading.Lock()
SPLIT_FLOPS = 4e6  # below this a product runs on the calling thread only


def _get_pool(n):
    global _pool, _pool_size
    if _pool is None or _pool_size != n:
        with _pool_lock:
            if _pool is not None:
                _pool.shutdown(wait=True)
            _pool = ThreadPoolExecutor(max_workers=n - 1, thread_name_prefix="numbacnn-gemm")
            _pool_size = n
    return _pool


def gemm(a, b, out=None):
    """out = a @ b for 2-d float arrays (views with unit last stride are fine), on
    ``numba.get_num_threads()`` threads: the output is cut into that many column blocks
    (or row blocks when it is tall and narrow), each a single-threaded OpenBLAS call."""
    M, K = a.shape
    N = b.shape[1]
    if out is None:
        out = np.empty((M, N), np.result_type(a, b))
    blas_single_thread()
    T = numba.get_num_threads()
    if T <= 1 or 2.0 * M * N * K < SPLIT_FLOPS or max(M, N) < 2 * T:
        np.matmul(a, b, out=out)
        return out
    pool = _get_pool(T)
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


# --- serial twins of small kernels ------------------------------------------------------------
PARALLEL_MIN = 1 << 16
"""Elements below which a kernel runs on the calling thread. Waking the pool costs
10-20 us on an idle machine and 70-80 us (median; the mean far more) on the loaded
2-core machine, where a 24k-element ReLU took 75 us in parallel and 3 us serially."""


def serial_twin(dispatcher):
    """A ``@njit(fastmath=True, cache=True)`` copy of a parallel kernel (prange runs as
    range). The copy gets its own name, so its cache files do not collide."""
    import types

    from numba import njit
    f = dispatcher.py_func
    g = types.FunctionType(f.__code__, f.__globals__, f.__name__ + "_serial", f.__defaults__,
                           f.__closure__)
    g.__qualname__ = f.__qualname__ + "_serial"
    g.__module__ = f.__module__
    g.__doc__ = f.__doc__
    return njit(fastmath=True, cache=True)(g)


_twins: dict = {}


def sized(kernel, size):
    """``kernel`` itself for ``size`` elements of work or more, else its serial twin
    (made on first use, so only kernels that meet small inputs compile twice)."""
    if size >= PARALLEL_MIN:
        return kernel
    twin = _twins.get(kernel)
    if twin is None:
        twin = _twins[kernel] = serial_twin(kernel)
    return twin
