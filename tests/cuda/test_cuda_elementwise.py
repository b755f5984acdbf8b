"""Activations, dropout and optimizer updates: CUDA vs CPU."""
import numpy as np
import pytest
from helpers.cuda import assert_close, big, randn, up

SHAPE = big((2, 3, 5), (16, 32, 9, 11))


@pytest.mark.parametrize("name,args", [("relu", ()), ("leaky_relu", (0.1,)), ("sigmoid", ()), ("tanh", ())])
def test_activation_forward_backward(gpu, cpu, rng, name, args):
    x = randn(rng, *SHAPE) * 3
    g = randn(rng, *SHAPE)
    y_cpu = getattr(cpu, name + "_forward")(x, *args)
    y_gpu = getattr(gpu, name + "_forward")(up(x), *args)
    assert_close(y_gpu, y_cpu, what=name)
    first = x if name == "leaky_relu" else y_cpu
    dx_cpu = getattr(cpu, name + "_backward")(first, g, *args)
    dx_gpu = getattr(gpu, name + "_backward")(up(first), up(g), *args)
    assert_close(dx_gpu, dx_cpu, what=name + " backward")


def test_relu_keeps_nan_and_inf_like_the_cpu(gpu, cpu):
    x = np.array([[np.nan, -1.0, 2.0, np.inf, -np.inf, 0.0]], np.float32)
    y = gpu.to_host(gpu.relu_forward(up(x)))
    assert np.isnan(y[0, 0])
    np.testing.assert_array_equal(y[0, 1:], [0.0, 2.0, np.inf, 0.0, 0.0])
    np.testing.assert_array_equal(np.isnan(cpu.relu_forward(x)), np.isnan(y))


@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 1.0])
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


def _params(rng, n):
    return randn(rng, n), randn(rng, n), randn(rng, n)


@pytest.mark.parametrize("kw", [
    dict(momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0),
    dict(momentum=0.9, dampening=0.1, nesterov=False, weight_decay=1e-2),
    dict(momentum=0.9, dampening=0.0, nesterov=True, weight_decay=5e-4),
])
def test_sgd_step(gpu, cpu, rng, kw):
    p, g, buf = _params(rng, big(37, 100003))
    dp, dg, dbuf = up(p), up(g), up(buf)
    for first in (True, False):
        cpu.sgd_step(p, g, buf, 0.05, first=first, **kw)
        gpu.sgd_step(dp, dg, dbuf, 0.05, first=first, **kw)
    assert_close(dp, p)
    if kw["momentum"]:
        assert_close(dbuf, buf)


@pytest.mark.parametrize("decoupled,wd", [(False, 0.0), (False, 1e-2), (True, 1e-2)])
def test_adam_step(gpu, cpu, rng, decoupled, wd):
    p, g, _ = _params(rng, big(29, 100003))
    m, v = np.zeros_like(p), np.zeros_like(p)
    dp, dg, dm, dv = up(p), up(g), up(m), up(v)
    for step in (1, 2, 3):
        cpu.adam_step(p, g, m, v, 1e-2, (0.9, 0.999), 1e-8, wd, decoupled, step)
        gpu.adam_step(dp, dg, dm, dv, 1e-2, (0.9, 0.999), 1e-8, wd, decoupled, step)
    assert_close(dp, p)
    assert_close(dm, m)
    assert_close(dv, v, rtol=1e-4, atol=1e-7)
