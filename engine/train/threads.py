"""``set_threads(n)``: how many CPU threads the engine's kernels use.

The CPU kernels and the matrix products run their blocks on a pool of that many threads
(:mod:`engine.kernels.cpu.parallel`); numpy's OpenBLAS stays on one thread, so the two
never oversubscribe the cores.
"""
from __future__ import annotations

__all__ = ["set_threads", "get_threads"]


def set_threads(n: int) -> int:
    """Uses ``n`` threads for the CPU kernels (capped at the cores this process may use,
    or NUMBA_NUM_THREADS when set). Returns the count set."""
    from engine.kernels.cpu import parallel
    return parallel.set_num_threads(n)


def get_threads() -> int:
    from engine.kernels.cpu import parallel
    return parallel.get_num_threads()
