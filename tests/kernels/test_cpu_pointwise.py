"""1x1 stride-1 convolutions as GEMMs on the NCHW planes (engine/kernels/cpu/pointwise.py):
forward (bias, ReLU) and both gradients equal the direct sum in float32 and float64, for
one sample or none; the convolution entry points take them exactly where ``suitable`` says."""
import numpy as np
import pytest
from test_cpu_conv import ref_backward, ref_forward

from engine.kernels.cpu import conv, pointwise


def _data(N, C, H, W, O, dtype, seed=0):
    r = np.random.default_rng(seed)
    x = r.standard_normal((N, C, H, W)).astype(dtype)
    w = (r.standard_normal((O, C, 1, 1)) / np.sqrt(C)).astype(dtype)
    return x, w, r.standard_normal(O).astype(dtype), r.standard_normal((N, O, H, W)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 5, 4, 7, 6), (1, 2, 1, 1, 3), (4, 9, 6, 6, 2)])
def test_forward_and_gradients_equal_the_direct_sum(shape, dtype):
    x, w, b, g = _data(*shape, dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for relu in (False, True):
        y = pointwise.forward(x, w, b, np.empty(g.shape, dtype), relu=relu)
        ref = ref_forward(x, w, b, (1, 1), (0, 0))
        np.testing.assert_allclose(y, np.maximum(ref, 0) if relu else ref, **tol)
    dx, dw, db = pointwise.backward(x, w, g)
    assert dx.dtype == dw.dtype == db.dtype == dtype and dw.shape == w.shape
    for a, r in zip((dx, dw, db), ref_backward(x, w, g, (1, 1), (0, 0))):
        np.testing.assert_allclose(a, r, **tol)
    assert pointwise.backward(x, w, g, need_input_grad=False)[0] is None


def test_a_batch_of_0():
    x, w, b, g = _data(2, 3, 4, 4, 5, np.float32)
    assert pointwise.forward(x[:0], w, b, np.empty((0, 5, 4, 4), np.float32)).shape == (0, 5, 4, 4)
    dx, dw, db = pointwise.backward(x[:0], w, g[:0])
    assert dx.shape == (0, 3, 4, 4) and not dw.any() and not db.any()


def test_the_convolution_entry_points_run_it_where_it_is_suitable(monkeypatch):
    calls = []
    for name in ("forward", "backward"):
        fn = getattr(pointwise, name)
        monkeypatch.setattr(pointwise, name, lambda *a, _fn=fn, _n=name, **k: calls.append(_n) or _fn(*a, **k))
    x, w, b, g = _data(2, 96, 3, 5, 128, np.float32, seed=1)
    y = conv.conv2d_forward(x, w, b, (1, 1), (0, 0))
    dx, dw, db = conv.conv2d_backward(x, w, g, (1, 1), (0, 0))
    assert calls == ["forward", "backward"]
    np.testing.assert_allclose(y, ref_forward(x, w, b, (1, 1), (0, 0)), rtol=1e-4, atol=1e-4)
    for a, r in zip((dx, dw, db), ref_backward(x, w, g, (1, 1), (0, 0))):
        np.testing.assert_allclose(a, r, rtol=1e-4, atol=1e-4)
    calls.clear()
    conv.conv2d_forward(x[:, :64], w[:64, :64], None, (1, 1), (0, 0))   # 64 channels: the direct kernels
    conv.conv2d_forward(x, w, None, (2, 2), (0, 0))                     # stride 2: not a plain product
    assert calls == []
