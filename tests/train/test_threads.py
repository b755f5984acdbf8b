"""--threads: Numba's thread count and the BLAS pool follow set_threads."""
import numba

from engine.train import threads


def test_set_threads_limits_numba_and_blas():
    before = numba.get_num_threads()
    try:
        assert threads.set_threads(1) == 1
        assert numba.get_num_threads() == 1 == threads.get_threads()
        # numpy's OpenBLAS is loaded in this process, and its thread setter was found
        assert any("openblas" in p.lower() for p in threads._loaded_openblas())
        assert threads._set_blas_threads(1) >= 1
        assert threads.set_threads(10_000) == numba.config.NUMBA_NUM_THREADS     # capped
    finally:
        numba.set_num_threads(before)
        threads._set_blas_threads(before)


def test_set_threads_rejects_zero():
    import pytest
    with pytest.raises(ValueError):
        threads.set_threads(0)
