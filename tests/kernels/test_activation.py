"""Activation and dropout kernels of every kernel set (the ``ops`` fixture) against numpy:
forward and backward, non-finite values passed through as torch does (so divergence stays
visible), the dropout mask's values. (Against central differences: test_backward_gradcheck.py;
the CPU's vectorised sigmoid/tanh accuracy: test_cpu_act_avgpool.py; the CUDA set drawing
the CPU's very dropout mask: tests/cuda/test_cuda_dropout.py.)"""
import numpy as np
import pytest
from helpers.cuda import big

from engine import nn

SHAPE = big((2, 3, 5), (16, 32, 9, 11))      # the larger on a GPU, not the simulator


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# name -> (extra arguments, forward, backward's first argument from (x, y), dx from (x, y, g))
ACTIVATIONS = {
    "relu": ((), lambda x: np.maximum(x, 0), lambda x, y: y, lambda x, y, g: g * (x > 0)),
    "leaky_relu": ((0.1,), lambda x: np.where(x > 0, x, 0.1 * x), lambda x, y: x,
                   lambda x, y, g: g * np.where(x > 0, 1, 0.1)),
    "sigmoid": ((), _sigmoid, lambda x, y: y, lambda x, y, g: g * y * (1 - y)),
    "tanh": ((), np.tanh, lambda x, y: y, lambda x, y, g: g * (1 - y * y)),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_forward_and_backward_equal_numpy(ops, name):
    args, forward, first, backward = ACTIVATIONS[name]
    r = np.random.default_rng(0)
    x, g = (r.standard_normal(SHAPE) * 3).astype(np.float32), r.standard_normal(SHAPE).astype(np.float32)
    y = ops.to_host(getattr(ops, name + "_forward")(ops.asarray(x), *args))
    want = forward(x.astype(np.float64))
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    dx = getattr(ops, name + "_backward")(ops.asarray(first(x, y)), ops.asarray(g), *args)
    np.testing.assert_allclose(ops.to_host(dx), backward(x, want, g), rtol=1e-5, atol=1e-6)


def test_relu_keeps_nan_and_inf(ops):
    x = np.array([[np.nan, -1.0, 2.0, np.inf, -np.inf, 0.0]], np.float32)
    for y in (ops.to_host(ops.relu_forward(ops.asarray(x))), nn.ReLU().to(ops.DEVICE)(ops.asarray(x)).numpy()):
        assert np.isnan(y[0, 0])
        np.testing.assert_array_equal(y[0, 1:], [0.0, 2.0, np.inf, 0.0, 0.0])


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
def test_sigmoid_and_tanh_pass_nan_and_give_the_limits_at_infinity(ops, act):
    x = np.array([np.nan, np.inf, -np.inf, -np.nan], np.float32)
    y = ops.to_host(getattr(ops, act + "_forward")(ops.asarray(x)))
    assert np.isnan(y[0]) and np.isnan(y[3])
    assert y[1] == 1.0
    assert y[2] == -1.0 if act == "tanh" else 0 <= y[2] < 1e-38


@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_dropout_keeps_a_share_and_scales_it(ops, p):
    x = np.random.default_rng(1).standard_normal(big((6, 100), (64, 4096))).astype(np.float32)
    y, mask = ops.dropout_forward(ops.asarray(x), p, 123456789)
    y, m = ops.to_host(y), ops.to_host(mask)
    scale = np.float32(1 / (1 - p)) if p < 1 else 0
    assert set(np.unique(m)) <= {0, scale}
    kept = (m != 0).mean()
    assert kept == 1 - p if p in (0.0, 1.0) else abs(kept - (1 - p)) < 0.06      # 3.5 standard deviations
    np.testing.assert_allclose(y, x * m, rtol=1e-6)
    g = np.random.default_rng(2).standard_normal(x.shape).astype(np.float32)
    np.testing.assert_allclose(ops.to_host(ops.dropout_backward(ops.asarray(g), mask)), g * m, rtol=1e-6)
    again, _ = ops.dropout_forward(ops.asarray(x), p, 123456789)
    np.testing.assert_array_equal(ops.to_host(again), y)       # a seed draws one mask
