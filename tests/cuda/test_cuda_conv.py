"""The CUDA convolution against torch's CUDA convolution, on a GPU only (each set's
convolution against the numpy reference: tests/kernels/test_conv.py, over the ``ops`` fixture)."""
import pytest
from helpers.cuda import SIM, assert_close, randn, up

# (N, C, H, W, O, k, stride, padding)
CASES = [(8, 16, 17, 19, 32, (3, 3), (1, 1), (1, 1)),
         (16, 3, 32, 32, 64, (3, 3), (1, 1), (1, 1)),
         (8, 32, 15, 15, 16, (5, 3), (2, 1), (2, 0)),
         (32, 64, 8, 8, 128, (1, 1), (1, 1), (0, 0)),
         (4, 8, 20, 20, 8, (7, 7), (2, 2), (3, 3))]


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
