"""Linear, cross-entropy and MSE: CUDA vs CPU."""
import numpy as np
import pytest
from helpers.cuda import assert_close, big, randn, up


@pytest.mark.parametrize("N,I,O", big([(3, 7, 5), (1, 4, 2)], [(128, 512, 10), (256, 4096, 1000), (7, 33, 65)]))
@pytest.mark.parametrize("bias", [True, False])
def test_linear(gpu, cpu, rng, N, I, O, bias):
    x, w = randn(rng, N, I), randn(rng, O, I) * 0.2
    b = randn(rng, O) if bias else None
    y_c = cpu.linear_forward(x, w, b)
    assert_close(gpu.linear_forward(up(x), up(w), None if b is None else up(b)), y_c, atol=1e-4)
    g = randn(rng, N, O)
    for got, want, what in zip(gpu.linear_backward(up(x), up(w), up(g)), cpu.linear_backward(x, w, g),
                               ("dx", "dw", "db")):
        assert_close(got, want, rtol=1e-4, atol=1e-4 * max(1, np.sqrt(N)), what=what)
    assert gpu.linear_backward(up(x), up(w), up(g), need_input_grad=False)[0] is None


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy(gpu, cpu, rng, smoothing):
    N, K = big((5, 4), (1000, 100))
    z = randn(rng, N, K) * 3
    t = rng.integers(0, K, N).astype(np.int64)
    loss_c, p_c = cpu.cross_entropy_forward(z, t, smoothing)
    loss_g, p_g = gpu.cross_entropy_forward(up(z), up(t), smoothing)
    assert isinstance(loss_g, float)
    assert abs(loss_g - loss_c) <= 1e-5 * max(1.0, abs(loss_c))
    assert_close(p_g, p_c, atol=1e-6)
    assert_close(gpu.cross_entropy_backward(p_g, up(t), smoothing), cpu.cross_entropy_backward(p_c, t, smoothing),
                 atol=1e-7)


def test_mse(gpu, cpu, rng):
    y, t = randn(rng, 3, 4), randn(rng, 3, 4)
    assert abs(gpu.mse_forward(up(y), up(t)) - cpu.mse_forward(y, t)) < 1e-5
    assert_close(gpu.mse_backward(up(y), up(t)), cpu.mse_backward(y, t), atol=1e-6)
    assert abs(gpu.mse_forward(up(y), t) - cpu.mse_forward(y, t)) < 1e-5  # host target is uploaded
