"""The weight gradient by Winograd F(2x2, 3x3) (engine/kernels/cpu/winograd_f2.py) equals
the direct sum (float64 to rounding, float32 to a few units in its sixth digit) on maps
that are not a multiple of the 2x2 tile or of the vector width; the convolution entry
points take it exactly where ``suitable_weight_gradient`` says; through a module it passes
a float64 gradient check."""
import numpy as np
import pytest
from test_cpu_conv import ref_backward
from test_cpu_winograd import _close, gradcheck_conv_relu, spy

from engine.kernels.cpu import conv, winograd_f2

# (N, C, H, W, O): odd sizes (half tiles), widths past one and two vectors of tiles, O not
# a multiple of the vector width, the smallest map taken
SHAPES = [(2, 16, 7, 9, 20), (2, 33, 6, 5, 17), (3, 16, 8, 8, 16), (2, 16, 9, 21, 24), (1, 24, 4, 4, 18),
          (2, 20, 12, 34, 16)]


def _data(shape, dtype, seed=0):
    N, C, H, W, O = shape
    r = np.random.default_rng(seed)
    x = r.standard_normal((N, C, H, W)).astype(dtype)
    w = (r.standard_normal((O, C, 3, 3)) / np.sqrt(9 * C)).astype(dtype)
    g = r.standard_normal((N, O, H, W)).astype(dtype)
    return x, w, g


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_the_weight_gradient_equals_the_direct_sum(shape, dtype):
    x, w, g = _data(shape, dtype)
    dw, db = winograd_f2.backward_weight(x, g)
    assert dw.dtype == db.dtype == dtype and dw.shape == w.shape
    _, rdw, rdb = ref_backward(x, w, g, (1, 1), (1, 1))
    _close(dw, rdw, dtype)
    _close(db, rdb, dtype)


@pytest.mark.parametrize("geometry,want", [
    ((16, 16, 3, 3, 1, 1, 1, 1, 32, 32), True), ((64, 64, 3, 3, 1, 1, 1, 1, 32, 32), True),
    ((96, 96, 3, 3, 1, 1, 1, 1, 4, 4), True), ((64, 128, 3, 3, 1, 1, 1, 1, 16, 16), True),
    ((128, 128, 3, 3, 1, 1, 1, 1, 8, 8), True), ((128, 128, 3, 3, 1, 1, 1, 1, 4, 4), False),
    ((128, 128, 3, 3, 1, 1, 1, 1, 32, 32), False), ((160, 160, 3, 3, 1, 1, 1, 1, 8, 8), False),
    ((8, 16, 3, 3, 1, 1, 1, 1, 8, 8), False), ((32, 32, 3, 3, 2, 2, 1, 1, 8, 8), False),
    ((64, 64, 3, 3, 1, 1, 2, 2, 10, 10), False), ((64, 64, 3, 3, 1, 1, 1, 1, 2, 2), False),
    ((32, 32, 3, 3, 1, 1, 0, 0, 14, 14), False), ((32, 32, 5, 5, 1, 1, 1, 1, 14, 14), False)])
def test_which_weight_gradients_take_it(geometry, want):
    assert winograd_f2.suitable_weight_gradient(*geometry) is want


def test_the_convolution_entry_points_run_it_where_it_is_suitable(monkeypatch):
    calls = spy(monkeypatch, winograd_f2, ("backward_weight",))
    x, w, g = _data((2, 32, 6, 5, 16), np.float32, seed=2)
    dx, dw, db = conv.conv2d_backward(x, w, g, (1, 1), (1, 1))
    assert calls == ["backward_weight"]
    for a, b in zip((dx, dw, db), ref_backward(x, w, g, (1, 1), (1, 1))):
        _close(a, b, np.float32)
    calls.clear()
    assert conv.conv2d_backward(x, w, g, (1, 1), (1, 1), need_input_grad=False)[0] is None
    assert calls == ["backward_weight"]
    calls.clear()
    conv.conv2d_backward(x[:, :8], w[:, :8], g, (1, 1), (1, 1))      # 8 channels: the direct kernels
    assert calls == []


def test_a_module_passes_a_float64_gradient_check():
    gradcheck_conv_relu(16, 5, 6)
