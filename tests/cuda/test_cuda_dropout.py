"""Dropout on the CUDA set draws exactly the CPU set's mask for a seed (a run's dropout does
not depend on its device), through the same 53-bit threshold test. (Each set's dropout,
activations and optimizer steps against numpy: tests/kernels, over the ``ops`` fixture.)"""
import numpy as np
import pytest
from helpers.cuda import assert_close, big, randn, up


@pytest.mark.parametrize("p", [0.3, 0.5])     # p = 0 and 1 keep and drop all: tests/kernels/test_activation.py
def test_dropout_draws_exactly_the_cpu_mask(gpu, cpu, rng, p):
    x = randn(rng, *big((3, 40), (64, 4096)))
    seed = 123456789
    y_c, m_c = cpu.dropout_forward(x, p, seed)
    y_g, m_g = gpu.dropout_forward(up(x), p, seed)
    np.testing.assert_array_equal(gpu.to_host(m_g), m_c)
    assert_close(y_g, y_c)
    g = randn(rng, *x.shape)
    assert_close(gpu.dropout_backward(up(g), m_g), cpu.dropout_backward(g, m_c))


def test_dropout_threshold_matches_the_float_test():
    """bits >= ceil(p * 2^53)  <=>  bits * 2^-53 >= p, at and around the boundary."""
    from engine.kernels.cuda.dropout import _threshold53
    for p in (0.0, 0.1, 0.3, 0.5, 1 / 3, 0.999, 1.0):
        t = _threshold53(p)
        for b in (t - 2, t - 1, t, t + 1):
            if 0 <= b < 2**53:
                assert (b >= t) == (b * (1.0 / 9007199254740992.0) >= p)
