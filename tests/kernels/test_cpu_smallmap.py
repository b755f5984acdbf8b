"""Convolutions on maps where most taps fall on the padding (engine/kernels/cpu/smallmap.py):
forward (bias, ReLU) and both gradients equal the direct sum, in float32 and float64, for
maps of 1x1 to 3x3, strides, rectangular kernels and a batch of 0; the convolution entry
points take the path exactly where ``suitable`` says."""
import numpy as np
import pytest
from test_cpu_conv import ref_backward, ref_forward

from engine.kernels.cpu import conv, smallmap

# (N, C, H, W, O, kh, kw, stride, padding)
SHAPES = [(3, 4, 2, 2, 5, 3, 3, (1, 1), (1, 1)), (2, 3, 1, 1, 4, 3, 3, (1, 1), (1, 1)),
          (2, 5, 3, 3, 3, 3, 3, (1, 1), (1, 1)), (2, 2, 3, 4, 3, 5, 3, (2, 1), (2, 1)),
          (1, 3, 2, 3, 2, 3, 5, (1, 1), (1, 2)), (2, 2, 1, 2, 3, 5, 5, (1, 1), (2, 2))]


def _data(shape, dtype, seed=0):
    N, C, H, W, O, kh, kw, stride, padding = shape
    r = np.random.default_rng(seed)
    x = r.standard_normal((N, C, H, W)).astype(dtype)
    w = r.standard_normal((O, C, kh, kw)).astype(dtype)
    Ho = conv.conv_output_size(H, kh, stride[0], padding[0])
    Wo = conv.conv_output_size(W, kw, stride[1], padding[1])
    return x, w, r.standard_normal(O).astype(dtype), r.standard_normal((N, O, Ho, Wo)).astype(dtype), stride, padding


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_and_gradients_equal_the_direct_sum(shape, dtype):
    x, w, b, g, stride, padding = _data(shape, dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    ref = ref_forward(x, w, b, stride, padding)
    for relu in (False, True):
        y = smallmap.forward(x, w, b, stride, padding, np.empty(g.shape, dtype), relu=relu)
        np.testing.assert_allclose(y, np.maximum(ref, 0) if relu else ref, **tol)
    dx, dw, db = smallmap.backward(x, w, g, stride, padding)
    assert dx.dtype == dw.dtype == db.dtype == dtype and dx.shape == x.shape and dw.shape == w.shape
    for a, r in zip((dx, dw, db), ref_backward(x, w, g, stride, padding)):
        np.testing.assert_allclose(a, r, **tol)
    assert smallmap.backward(x, w, g, stride, padding, need_input_grad=False)[0] is None


def test_a_batch_of_0():
    x, w, b, g, stride, padding = _data(SHAPES[0], np.float32)
    assert smallmap.forward(x[:0], w, b, stride, padding, np.empty((0,) + g.shape[1:], np.float32)).shape[0] == 0
    dx, dw, db = smallmap.backward(x[:0], w, g[:0], stride, padding)
    assert dx.shape[0] == 0 and not dw.any() and not db.any()


def test_the_share_of_taps_used_decides():
    assert smallmap.used_share(2, 2, 3, 3, 1, 1, 1, 1, 2, 2) == pytest.approx(4 / 9)
    assert smallmap.used_share(4, 4, 3, 3, 1, 1, 1, 1, 4, 4) == pytest.approx((10 / 12) ** 2)
    assert smallmap.suitable(2, 2, 3, 3, 1, 1, 1, 1, 2, 2) and smallmap.suitable(3, 3, 3, 3, 1, 1, 1, 1, 3, 3)
    assert not smallmap.suitable(4, 4, 3, 3, 1, 1, 1, 1, 4, 4)
    assert not smallmap.suitable(2, 2, 3, 3, 1, 1, 0, 0, 1, 1)  # no padding: every tap is used


def test_the_convolution_entry_points_run_it_where_it_is_suitable(monkeypatch):
    calls = []
    for name in ("forward", "backward"):
        fn = getattr(smallmap, name)
        monkeypatch.setattr(smallmap, name, lambda *a, _fn=fn, _n=name, **k: calls.append(_n) or _fn(*a, **k))
    x, w, b, g, stride, padding = _data((2, 160, 2, 2, 6, 3, 3, (1, 1), (1, 1)), np.float32, seed=1)
    y = conv.conv2d_forward(x, w, b, stride, padding)   # 1440 taps: beyond the direct kernels
    dx, dw, db = conv.conv2d_backward(x, w, g, stride, padding)
    assert calls == ["forward", "backward"]
    np.testing.assert_allclose(y, ref_forward(x, w, b, stride, padding), rtol=1e-4, atol=1e-4)
    for a, r in zip((dx, dw, db), ref_backward(x, w, g, stride, padding)):
        np.testing.assert_allclose(a, r, rtol=1e-4, atol=1e-4)
    calls.clear()
    conv.conv2d_forward(x[:, :16], w[:, :16], b, stride, padding)   # the direct kernels take it
    assert calls == []
