"""Convolution kernels of every kernel set (the ``ops`` fixture: cpu, then cuda): forward,
both backward passes and the fused epilogues against the numpy reference (against central
differences: test_backward_gradcheck.py). Shapes stay small enough for the CUDA simulator;
the CPU's path selection (GEMM, direct, Winograd, ...) is tested over many more in
test_cpu_conv*.py. Where a GPU runs the CUDA set (not the simulator), the cases are the
larger ones (helpers.cuda.big)."""
import numpy as np
import pytest
from helpers import kernel_reference as ref
from helpers.cuda import big


# (N, C, H, W, O, k, stride, padding)
CASES = big(
    [(2, 3, 5, 6, 4, (3, 3), (1, 1), (1, 1)),
     (2, 2, 6, 5, 3, (3, 2), (2, 1), (0, 1)),
     (2, 3, 4, 4, 5, (1, 1), (1, 1), (0, 0)),     # pointwise: no im2col
     (1, 2, 5, 5, 2, (5, 5), (2, 2), (2, 2))],
    [(8, 16, 17, 19, 32, (3, 3), (1, 1), (1, 1)),
     (16, 3, 32, 32, 64, (3, 3), (1, 1), (1, 1)),
     (8, 32, 15, 15, 16, (5, 3), (2, 1), (2, 0)),
     (32, 64, 8, 8, 128, (1, 1), (1, 1), (0, 0)),
     (4, 8, 20, 20, 8, (7, 7), (2, 2), (3, 3))])
TOL = dict(rtol=1e-4, atol=1e-4)


def _data(case, seed=0):
    N, C, H, W, O, k, stride, padding = case
    r = np.random.default_rng(seed)
    x = r.standard_normal((N, C, H, W)).astype(np.float32)
    w = (r.standard_normal((O, C) + k) * 0.3).astype(np.float32)
    return x, w, r.standard_normal(O).astype(np.float32), stride, padding


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[:5])) + f"_k{c[5]}_s{c[6]}_p{c[7]}")
def test_forward_and_both_gradients_equal_the_reference(ops, case):
    x, w, b, stride, padding = _data(case)
    up, host = ops.asarray, ops.to_host
    y = host(ops.conv2d_forward(up(x), up(w), up(b), stride, padding))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, ref.conv_forward(x, w, b, stride, padding), **TOL)
    g = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    want = ref.conv_backward(x, w, g, stride, padding)
    scale = max(1.0, np.sqrt(x.shape[0] * y.shape[2] * y.shape[3]))      # dw and db sum this many terms
    got = ops.conv2d_backward(up(x), up(w), up(g), stride, padding)
    for a, r, what, atol in zip(got, want, ("dx", "dw", "db"), (1e-4, 1e-4 * scale, 1e-4 * scale)):
        np.testing.assert_allclose(host(a), r, rtol=1e-4, atol=atol, err_msg=what)
    dx, dw, db = ops.conv2d_backward(up(x), up(w), up(g), stride, padding, need_input_grad=False)
    assert dx is None
    np.testing.assert_allclose(host(dw), want[1], rtol=1e-4, atol=1e-4 * scale)
    np.testing.assert_allclose(host(db), want[2], rtol=1e-4, atol=1e-4 * scale)


def test_without_bias(ops):
    x, w, _, stride, padding = _data((1, 2, 4, 4, 3, (3, 3), (1, 1), (1, 1)), seed=2)
    y = ops.conv2d_forward(ops.asarray(x), ops.asarray(w), None, stride, padding)
    np.testing.assert_allclose(ops.to_host(y), ref.conv_forward(x, w, None, stride, padding), **TOL)


def test_relu_epilogue(ops):
    x, w, b, stride, padding = _data((2, 2, 5, 5, 3, (3, 3), (1, 1), (1, 1)), seed=3)
    want = np.maximum(ref.conv_forward(x, w, b, stride, padding), 0)
    assert (want == 0).any() and (want > 0).any()
    y = ops.to_host(ops.conv2d_forward(ops.asarray(x), ops.asarray(w), ops.asarray(b), stride, padding, relu=True))
    np.testing.assert_allclose(y, want, **TOL)
    assert (y >= 0).all()


def test_relu_maxpool2x2_equals_conv_relu_then_max_pool(ops):
    # the same outputs, and the same winners wherever the window's max is positive (at 0 all tie)
    x, w, b, stride, padding = _data((2, 2, 9, 8, 3, (3, 3), (1, 1), (1, 1)), seed=4)
    y, idx = ops.conv2d_relu_maxpool2x2(ops.asarray(x), ops.asarray(w), ops.asarray(b), stride, padding)
    y, idx = ops.to_host(y), ops.to_host(idx)
    want, winners = ref.maxpool_forward(np.maximum(ref.conv_forward(x, w, b, stride, padding), 0),
                                        (2, 2), (2, 2), (0, 0))
    assert y.shape == idx.shape == (2, 3, 4, 4) and idx.dtype == np.int32
    assert (want == 0).any() and (want > 0).any()
    np.testing.assert_allclose(y, want, **TOL)
    np.testing.assert_array_equal(np.where(want > 0, idx, 0), np.where(want > 0, winners, 0))


# the activation and its derivative from its output
ACTS = {"sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda a: a * (1 - a)), "tanh": (np.tanh, lambda a: 1 - a * a)}


@pytest.mark.parametrize("act", ACTS)
def test_act_avgpool2x2_equals_conv_activation_then_average_pool(ops, act):
    # LeNet-5's fusion; the odd map (7 x 6 -> 3 x 3 windows) leaves a row out of every window
    x, w, b, stride, padding = _data((2, 2, 7, 6, 3, (3, 3), (1, 1), (1, 1)), seed=5)
    forward, derivative = ACTS[act]
    want_a = forward(ref.conv_forward(x, w, b, stride, padding))
    want_y = ref.avgpool_forward(want_a, (2, 2), (2, 2), (0, 0), True)
    y, a = ops.conv2d_act_avgpool2x2(ops.asarray(x), ops.asarray(w), ops.asarray(b), stride, padding, act)
    np.testing.assert_allclose(ops.to_host(a), want_a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ops.to_host(y), want_y, rtol=1e-5, atol=1e-6)
    g = np.random.default_rng(6).standard_normal(want_y.shape).astype(np.float32)
    want = derivative(want_a) * ref.avgpool_backward(g, want_a.shape, (2, 2), (2, 2), (0, 0), True)
    np.testing.assert_allclose(ops.to_host(ops.act_avgpool2x2_backward(ops.asarray(g), a, act)), want,
                               rtol=1e-5, atol=1e-6)
