"""Linear and loss kernels of every kernel set (the ``ops`` fixture) against numpy: the
fully connected layer, softmax cross-entropy with label smoothing, mean squared error.
(Against central differences: test_backward_gradcheck.py.)"""
import numpy as np
import pytest
from helpers import kernel_reference as ref
from helpers.cuda import big



def _randn(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("N,I,O", big([(3, 7, 5), (1, 4, 2)], [(128, 512, 10), (256, 4096, 1000), (7, 33, 65)]))
@pytest.mark.parametrize("bias", [True, False])
def test_linear(ops, N, I, O, bias):
    x, w = _randn(0, N, I), _randn(1, O, I) * 0.2
    b = _randn(2, O) if bias else None
    y = ops.linear_forward(ops.asarray(x), ops.asarray(w), None if b is None else ops.asarray(b))
    np.testing.assert_allclose(ops.to_host(y), x.astype(np.float64) @ w.T + (0 if b is None else b), atol=1e-4)
    g = _randn(3, N, O).astype(np.float64)
    want = (g @ w, g.T @ x, g.sum(axis=0))
    for got, r, what in zip(ops.linear_backward(ops.asarray(x), ops.asarray(w), ops.asarray(g.astype(np.float32))),
                            want, ("dx", "dw", "db")):
        np.testing.assert_allclose(ops.to_host(got), r, rtol=1e-4, atol=1e-4 * max(1, np.sqrt(N)), err_msg=what)
    assert ops.linear_backward(ops.asarray(x), ops.asarray(w), ops.asarray(g.astype(np.float32)),
                               need_input_grad=False)[0] is None


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy(ops, smoothing):
    N, K = big((5, 4), (1000, 100))
    z = _randn(4, N, K) * 3
    t = np.random.default_rng(5).integers(0, K, N).astype(np.int64)
    loss, p = ops.cross_entropy_forward(ops.asarray(z), ops.asarray(t), smoothing)
    want, want_p, want_dz = ref.cross_entropy(z, t, smoothing)
    assert isinstance(loss, float) and abs(loss - want) <= 1e-5 * max(1.0, abs(want))
    np.testing.assert_allclose(ops.to_host(p), want_p, atol=1e-6)
    np.testing.assert_allclose(ops.to_host(ops.cross_entropy_backward(p, ops.asarray(t), smoothing)), want_dz,
                               atol=1e-7)


def test_mse(ops):
    y, t = _randn(6, 3, 4), _randn(7, 3, 4)
    diff = y.astype(np.float64) - t
    assert abs(ops.mse_forward(ops.asarray(y), ops.asarray(t)) - (diff ** 2).mean()) < 1e-6
    assert abs(ops.mse_forward(ops.asarray(y), t) - (diff ** 2).mean()) < 1e-6      # a host target is uploaded
    np.testing.assert_allclose(ops.to_host(ops.mse_backward(ops.asarray(y), ops.asarray(t))), 2 * diff / diff.size,
                               atol=1e-7)
