"""Convolution forward and both backward passes: CUDA vs CPU (and torch's CUDA conv)."""
import numpy as np
import pytest
from helpers.cuda import SIM, assert_close, big, randn, up

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


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[:5])) + f"_k{c[5]}_s{c[6]}_p{c[7]}")
def test_conv2d_forward_backward(gpu, cpu, rng, case):
    N, C, H, W, O, k, stride, padding = case
    x = randn(rng, N, C, H, W)
    w = randn(rng, O, C, *k) * 0.3
    b = randn(rng, O)
    y_c = cpu.conv2d_forward(x, w, b, stride, padding)
    y_g = gpu.conv2d_forward(up(x), up(w), up(b), stride, padding)
    assert_close(y_g, y_c, rtol=1e-4, atol=1e-4, what="forward")
    g = randn(rng, *y_c.shape)
    dx_c, dw_c, db_c = cpu.conv2d_backward(x, w, g, stride, padding)
    dx_g, dw_g, db_g = gpu.conv2d_backward(up(x), up(w), up(g), stride, padding)
    scale = max(1.0, np.sqrt(N * y_c.shape[2] * y_c.shape[3]))
    assert_close(dx_g, dx_c, rtol=1e-4, atol=1e-4, what="dx")
    assert_close(dw_g, dw_c, rtol=1e-4, atol=1e-4 * scale, what="dw")
    assert_close(db_g, db_c, rtol=1e-4, atol=1e-4 * scale, what="db")
    dx_none, dw2, _ = gpu.conv2d_backward(up(x), up(w), up(g), stride, padding, need_input_grad=False)
    assert dx_none is None
    assert_close(dw2, dw_c, rtol=1e-4, atol=1e-4 * scale)


def test_conv2d_without_bias(gpu, cpu, rng):
    x, w = randn(rng, 1, 2, 4, 4), randn(rng, 3, 2, 3, 3)
    assert_close(gpu.conv2d_forward(up(x), up(w), None, (1, 1), (1, 1)),
                 cpu.conv2d_forward(x, w, None, (1, 1), (1, 1)), atol=1e-4)


def test_conv2d_relu_epilogue(gpu, cpu, rng):
    x, w, b = randn(rng, 2, 2, 5, 5), randn(rng, 3, 2, 3, 3), randn(rng, 3)
    y = cpu.conv2d_forward(x, w, b, (1, 1), (1, 1), relu=True)
    assert (y == 0).any() and np.array_equal(y, np.maximum(cpu.conv2d_forward(x, w, b, (1, 1), (1, 1)), 0))
    assert_close(gpu.conv2d_forward(up(x), up(w), up(b), (1, 1), (1, 1), relu=True), y, atol=1e-4)


def test_conv2d_relu_maxpool2x2(gpu, cpu, rng):
    x, w, b = randn(rng, 2, 2, 9, 8), randn(rng, 3, 2, 3, 3), randn(rng, 3)
    y, idx = cpu.conv2d_relu_maxpool2x2(x, w, b, (1, 1), (1, 1))
    y_g, idx_g = gpu.conv2d_relu_maxpool2x2(up(x), up(w), up(b), (1, 1), (1, 1))
    assert y.shape == (2, 3, 4, 4) and (y == 0).any()
    assert_close(y_g, y, atol=1e-4)
    np.testing.assert_array_equal(np.where(y > 0, gpu.to_host(idx_g), 0), np.where(y > 0, idx, 0))


@pytest.mark.skipif(SIM, reason="torch CUDA parity needs a real GPU")
def test_conv2d_matches_torch_cuda(gpu, rng):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA here")
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    for N, C, H, W, O, k, stride, padding in CASES:
        x = randn(rng, N, C, H, W)
        w = randn(rng, O, C, *k) * 0.3
        b = randn(rng, O)
        tx = torch.tensor(x, device="cuda", requires_grad=True)
        tw = torch.tensor(w, device="cuda", requires_grad=True)
        tb = torch.tensor(b, device="cuda", requires_grad=True)
        ty = torch.nn.functional.conv2d(tx, tw, tb, stride, padding)
        g = randn(rng, *ty.shape)
        ty.backward(torch.tensor(g, device="cuda"))
        y = gpu.conv2d_forward(up(x), up(w), up(b), stride, padding)
        dx, dw, db = gpu.conv2d_backward(up(x), up(w), up(g), stride, padding)
        assert_close(y, ty.detach().cpu().numpy(), rtol=1e-4, atol=1e-3)
        assert_close(dx, tx.grad.cpu().numpy(), rtol=1e-4, atol=1e-3)
        assert_close(dw, tw.grad.cpu().numpy(), rtol=1e-3, atol=1e-2)
        assert_close(db, tb.grad.cpu().numpy(), rtol=1e-3, atol=1e-2)
