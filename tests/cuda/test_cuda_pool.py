"""Max, average and adaptive pooling, forward and backward: CUDA vs CPU."""
import numpy as np
import pytest
from helpers.cuda import assert_close, big, randn, up

# (N, C, H, W, kernel, stride, padding)
CASES = big(
    [(2, 2, 4, 6, (2, 2), (2, 2), (0, 0)),
     (1, 2, 7, 5, (3, 3), (2, 2), (1, 1)),       # overlapping windows, padding
     (2, 1, 5, 6, (3, 2), (1, 2), (1, 0)),
     (2, 2, 5, 7, (2, 2), (2, 2), (0, 0))],      # odd sizes: a row and a column in no window
    [(32, 64, 32, 32, (2, 2), (2, 2), (0, 0)),
     (16, 32, 27, 27, (3, 3), (2, 2), (1, 1)),
     (8, 16, 15, 17, (3, 2), (1, 2), (1, 0))])


def _distinct(rng, shape):
    n = int(np.prod(shape))
    return ((rng.permutation(n) - n / 2) * 0.01).reshape(shape).astype(np.float32)


@pytest.mark.parametrize("case", CASES)
def test_maxpool(gpu, cpu, rng, case):
    N, C, H, W, k, s, p = case
    x = _distinct(rng, (N, C, H, W))  # no ties: the winner is unambiguous
    y_c, i_c = cpu.maxpool2d_forward(x, k, s, p)
    y_g, i_g = gpu.maxpool2d_forward(up(x), k, s, p)
    assert_close(y_g, y_c)
    np.testing.assert_array_equal(gpu.to_host(i_g), i_c)
    g = randn(rng, *y_c.shape)
    dx = cpu.maxpool2d_backward(g, i_c, x.shape)
    assert_close(gpu.maxpool2d_backward(up(g), i_g, x.shape), dx)
    ref = np.zeros(x.shape, np.float32)  # dx[winner] += g, by hand
    n, c, oh, ow = np.indices(g.shape)
    np.add.at(ref.reshape(N, C, -1), (n, c, i_c), g)
    np.testing.assert_allclose(dx, ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", CASES[:4])
def test_maxpool_backward_with_relu_mask(gpu, cpu, rng, case):
    # a ReLU in front of the pool: the pool's output y (> 0 where the winner's ReLU passed)
    # gates the windows' gradients
    N, C, H, W, k, s, p = case
    relu_y = cpu.relu_forward(_distinct(rng, (N, C, H, W)) - 0.5 * _distinct(rng, (N, C, H, W)).max())
    y, idx = cpu.maxpool2d_forward(relu_y, k, s, p)
    g = randn(rng, *y.shape)
    fused = cpu.maxpool2d_backward(g, idx, relu_y.shape, y=y)
    apart = cpu.relu_backward(relu_y, cpu.maxpool2d_backward(g, idx, relu_y.shape))
    np.testing.assert_array_equal(fused, apart)
    assert (fused == 0).sum() > (cpu.maxpool2d_backward(g, idx, relu_y.shape) == 0).sum()
    assert_close(gpu.maxpool2d_backward(up(g), up(idx), relu_y.shape, y=up(y)), fused)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("include_pad", [True, False])
def test_avgpool(gpu, cpu, rng, case, include_pad):
    N, C, H, W, k, s, p = case
    x = randn(rng, N, C, H, W)
    y_c = cpu.avgpool2d_forward(x, k, s, p, include_pad)
    assert_close(gpu.avgpool2d_forward(up(x), k, s, p, include_pad), y_c)
    g = randn(rng, *y_c.shape)
    assert_close(gpu.avgpool2d_backward(up(g), x.shape, k, s, p, include_pad),
                 cpu.avgpool2d_backward(g, x.shape, k, s, p, include_pad))


@pytest.mark.parametrize("hw,out", [((5, 7), (2, 3)), ((4, 4), (1, 1)), ((6, 5), (4, 5))])
def test_adaptive_avgpool(gpu, cpu, rng, hw, out):
    x = randn(rng, 2, 2, *hw)
    y_c = cpu.adaptive_avgpool2d_forward(x, out)
    assert_close(gpu.adaptive_avgpool2d_forward(up(x), out), y_c)
    g = randn(rng, *y_c.shape)
    assert_close(gpu.adaptive_avgpool2d_backward(up(g), x.shape), cpu.adaptive_avgpool2d_backward(g, x.shape))
