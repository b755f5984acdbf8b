"""``set_threads(n)``: how many CPU threads the engine's kernels use (capped at
MAX_THREADS, the cores this process may use or NUMBA_NUM_THREADS when set; None: all of
them; returns the count set).

The CPU kernels and the matrix products run their blocks on a pool of that many threads
(:mod:`engine.kernels.cpu.parallel`); numpy's OpenBLAS stays on one thread, so the two
never oversubscribe the cores.
"""
from engine.kernels.cpu.parallel import MAX_THREADS, set_num_threads
from engine.kernels.cpu.parallel import get_num_threads as get_threads

__all__ = ["set_threads", "get_threads", "MAX_THREADS"]


def set_threads(n: int | None = None) -> int:
    """Runs the kernels on ``n`` threads (None: MAX_THREADS); returns the count set."""
    return set_num_threads(MAX_THREADS if n is None else n)
