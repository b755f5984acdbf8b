"""Pooling kernels of every kernel set (the ``ops`` fixture): max, average and adaptive
average pooling, forward and backward, against the numpy reference (on ties the first
maximum in row-major order wins, on both sets); the fused ReLU mask of
the max-pool backward. (Against central differences: test_backward_gradcheck.py.)"""
import numpy as np
import pytest
from helpers import kernel_reference as ref
from helpers.cuda import big


# (N, C, H, W, kernel, stride, padding)
SMALL = [(2, 2, 4, 6, (2, 2), (2, 2), (0, 0)),
         (1, 2, 7, 5, (3, 3), (2, 2), (1, 1)),       # overlapping windows, padding
         (2, 1, 5, 6, (3, 2), (1, 2), (1, 0)),
         (2, 2, 5, 7, (2, 2), (2, 2), (0, 0))]      # odd sizes: a row and a column in no window
CASES = big(SMALL, [(32, 64, 32, 32, (2, 2), (2, 2), (0, 0)),      # on a GPU, not the simulator
                    (16, 32, 27, 27, (3, 3), (2, 2), (1, 1)),
                    (8, 16, 15, 17, (3, 2), (1, 2), (1, 0))])
TOL = dict(rtol=1e-5, atol=1e-6)


def _distinct(shape, seed=0):
    """float32 values without ties, so every window has one winner."""
    n = int(np.prod(shape))
    return ((np.random.default_rng(seed).permutation(n) - n / 2) * 0.01).reshape(shape).astype(np.float32)


def _grad(shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("case", CASES)
def test_max_pool(ops, case):
    N, C, H, W, k, s, p = case
    x = _distinct((N, C, H, W))
    y, idx = ops.maxpool2d_forward(ops.asarray(x), k, s, p)
    want, winners = ref.maxpool_forward(x, k, s, p)
    np.testing.assert_array_equal(ops.to_host(y), want)
    np.testing.assert_array_equal(ops.to_host(idx), winners)
    g = _grad(want.shape)
    np.testing.assert_allclose(ops.to_host(ops.maxpool2d_backward(ops.asarray(g), idx, x.shape)),
                               ref.maxpool_backward(g, winners, x.shape), **TOL)


@pytest.mark.parametrize("s,p", [(1, 1), (2, 1), (2, 0), (1, 0)])
def test_3x3_max_pool_picks_the_first_maximum_of_each_window(ops, s, p):
    x = np.random.default_rng(4).integers(0, 4, (2, 3, 7, 9)).astype(np.float32)  # many ties
    y, idx = ops.maxpool2d_forward(ops.asarray(x), (3, 3), (s, s), (p, p))
    want, winners = ref.maxpool_forward(x, (3, 3), (s, s), (p, p))
    np.testing.assert_array_equal(ops.to_host(y), want)
    np.testing.assert_array_equal(ops.to_host(idx), winners)


@pytest.mark.parametrize("case", SMALL)
def test_max_pool_backward_with_the_relu_mask(ops, case):
    # a ReLU in front of the pool: the pool's output y (> 0 where the winner's ReLU passed)
    # gates the windows' gradients
    N, C, H, W, k, s, p = case
    relu_y = np.maximum(_distinct((N, C, H, W)) - 0.5 * _distinct((N, C, H, W)).max(), 0)
    want, winners = ref.maxpool_forward(relu_y, k, s, p)
    g = _grad(want.shape)
    masked = ref.maxpool_backward(np.where(want > 0, g, 0), winners, relu_y.shape)
    assert (masked == 0).sum() > (ref.maxpool_backward(g, winners, relu_y.shape) == 0).sum()
    y, idx = ops.maxpool2d_forward(ops.asarray(relu_y), k, s, p)
    got = ops.maxpool2d_backward(ops.asarray(g), idx, relu_y.shape, y=y)
    np.testing.assert_allclose(ops.to_host(got), masked, **TOL)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("include_pad", [True, False])
def test_average_pool(ops, case, include_pad):
    N, C, H, W, k, s, p = case
    x = _grad((N, C, H, W), seed=2)
    y = ops.to_host(ops.avgpool2d_forward(ops.asarray(x), k, s, p, include_pad))
    np.testing.assert_allclose(y, ref.avgpool_forward(x, k, s, p, include_pad), **TOL)
    g = _grad(y.shape)
    np.testing.assert_allclose(ops.to_host(ops.avgpool2d_backward(ops.asarray(g), x.shape, k, s, p, include_pad)),
                               ref.avgpool_backward(g, x.shape, k, s, p, include_pad), **TOL)


@pytest.mark.parametrize("hw,out", [((5, 7), (2, 3)), ((4, 4), (1, 1)), ((6, 5), (4, 5))])
def test_adaptive_average_pool(ops, hw, out):
    x = _grad((2, 2) + hw, seed=3)
    y = ops.to_host(ops.adaptive_avgpool2d_forward(ops.asarray(x), out))
    np.testing.assert_allclose(y, ref.adaptive_avgpool_forward(x, out), **TOL)
    g = _grad(y.shape)
    np.testing.assert_allclose(ops.to_host(ops.adaptive_avgpool2d_backward(ops.asarray(g), x.shape)),
                               ref.adaptive_avgpool_backward(g, x.shape), **TOL)
