"""``set_threads(n)``: how many CPU threads the engine's kernels use.

Numba's parallel kernels take ``numba.set_num_threads``; the BLAS behind numpy's
(and scipy's) matrix products is OpenBLAS, which reads ``OPENBLAS_NUM_THREADS``
only when it loads, so a running process sets it through threadpoolctl when that
is installed, or else by calling OpenBLAS's own ``*set_num_threads*`` function in
every OpenBLAS library this process has loaded.
"""
from __future__ import annotations

import ctypes
import os

__all__ = ["set_threads", "get_threads"]

_SETTERS = ("openblas_set_num_threads", "openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads_64_")


def _loaded_openblas():
    libs = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if "/" in line else ""
                if "openblas" in os.path.basename(path).lower() and path not in libs:
                    libs.append(path)
    except OSError:
        pass
    return libs


def _set_blas_threads(n: int) -> int:
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=n, user_api="blas")
        return 1
    except ImportError:
        pass
    done = 0
    for path in _loaded_openblas():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _SETTERS:
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.argtypes = [ctypes.c_int]
                fn.restype = None
                fn(int(n))
                done += 1
                break
    return done


def set_threads(n: int) -> int:
    """Uses ``n`` threads for Numba kernels and BLAS (capped at Numba's maximum, the
    number of cores unless NUMBA_NUM_THREADS says otherwise). Returns the count set."""
    n = int(n)
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    import numpy  # noqa: F401  (loads numpy's OpenBLAS so it can be limited too)
    try:
        import scipy.linalg.cython_blas  # noqa: F401  (numba's np.dot runs on scipy's BLAS)
    except Exception:
        pass
    import numba
    n = min(n, numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(n)
    os.environ["OPENBLAS_NUM_THREADS"] = str(n)   # for any BLAS loaded later
    _set_blas_threads(n)
    return n


def get_threads() -> int:
    import numba
    return numba.get_num_threads()
