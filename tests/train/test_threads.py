"""--threads: the CPU kernels' thread pool follows set_threads; OpenBLAS stays on one thread."""
import threading
import time

import numpy as np
import pytest

from engine.kernels.cpu import parallel
from engine.train import threads


def test_set_threads_sets_the_kernel_pool_and_pins_blas():
    before = threads.get_threads()
    try:
        assert threads.set_threads(1) == 1 == threads.get_threads() == parallel.get_num_threads()
        get_blas, _ = parallel._numpy_openblas()        # numpy's OpenBLAS is found ...
        assert get_blas() == 1                          # ... and runs on the calling thread
        assert threads.set_threads(10_000) == parallel.MAX_THREADS     # capped
    finally:
        threads.set_threads(before)


def test_set_threads_rejects_zero():
    with pytest.raises(ValueError):
        threads.set_threads(0)


@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("n,min_size", [(1, 0), (7, 0), (1000, 0), (1000, 1 << 30)])
def test_parallel_for_covers_the_range_once(monkeypatch, n_threads, n, min_size):
    monkeypatch.setattr(parallel, "PARALLEL_MIN", min_size)
    monkeypatch.setattr(parallel, "MAX_THREADS", 3)
    before = threads.get_threads()
    seen, ranges = np.zeros(n, int), []

    def kernel(a, lo, hi):
        ranges.append((lo, hi))
        a[lo:hi] += 1
    try:
        parallel.set_num_threads(n_threads)
        parallel.parallel_for(kernel, n, seen)
    finally:
        threads.set_threads(before)
    assert (seen == 1).all()
    expected = 1 if min_size else min(n_threads, n)
    assert len(ranges) == expected


def test_parallel_for_raises_the_error_of_a_pool_block(monkeypatch):
    monkeypatch.setattr(parallel, "PARALLEL_MIN", 0)
    monkeypatch.setattr(parallel, "MAX_THREADS", 2)
    before = threads.get_threads()

    def kernel(lo, hi):
        if lo > 0:                      # the block run by the pool, not the calling thread
            raise IndexError(f"block {lo}")
    try:
        parallel.set_num_threads(2)
        with pytest.raises(IndexError, match="block 5"):
            parallel.parallel_for(kernel, 10)
    finally:
        threads.set_threads(before)


def test_a_forked_child_runs_blocks_on_a_pool_of_its_own(monkeypatch):
    import multiprocessing as mp
    monkeypatch.setattr(parallel, "PARALLEL_MIN", 0)
    before = threads.get_threads()
    try:
        parallel.set_num_threads(2)
        parallel.parallel_for(_fill, 10, np.zeros(10))          # the parent's pool exists
        with mp.get_context("fork").Pool(1) as p:
            assert p.apply_async(_child_sum).get(timeout=60) == 10.0   # hung before: no pool threads
    finally:
        threads.set_threads(before)


def _fill(a, lo, hi):
    a[lo:hi] = 1


def _child_sum():
    a = np.zeros(10)
    parallel.parallel_for(_fill, 10, a)
    return float(a.sum())


def _slow_fill(a, lo, hi):
    for i in range(lo, hi):
        a[i] += 1


@pytest.mark.parametrize("pause", [0.0, 0.002])      # workers still spinning / gone to sleep
def test_blocks_from_two_threads_at_once_each_run_once(monkeypatch, pause):
    monkeypatch.setattr(parallel, "PARALLEL_MIN", 0)
    monkeypatch.setattr(parallel, "MAX_THREADS", 3)
    before = threads.get_threads()
    arrays = [np.zeros(64) for _ in range(2)]

    def caller(a):
        for _ in range(200):
            parallel.parallel_for(_slow_fill, a.size, a)
            time.sleep(pause)
    try:
        parallel.set_num_threads(3)
        ts = [threading.Thread(target=caller, args=(a,)) for a in arrays]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in ts)
    finally:
        threads.set_threads(before)
    for a in arrays:
        assert (a == 200).all()
