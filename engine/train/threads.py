"""``set_threads(n)``: how many CPU threads the engine's kernels use (capped at the cores
this process may use, or NUMBA_NUM_THREADS when set; returns the count set).

The CPU kernels and the matrix products run their blocks on a pool of that many threads
(:mod:`engine.kernels.cpu.parallel`); numpy's OpenBLAS stays on one thread, so the two
never oversubscribe the cores.
"""
from engine.kernels.cpu.parallel import get_num_threads as get_threads
from engine.kernels.cpu.parallel import set_num_threads as set_threads

__all__ = ["set_threads", "get_threads"]
