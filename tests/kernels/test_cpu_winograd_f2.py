"""The Winograd F(2x2, 3x3) convolution (engine/kernels/cpu/winograd_f2.py): forward, input
and weight gradients equal the direct sum (float64 to rounding, float32 to a few units in its sixth
digit) on maps that are not a multiple of the 2x2 tile or of the vector width, with or
without the ReLU (a NaN stays NaN); the convolution entry points take it exactly where
``suitable`` says; through a module it passes a float64 gradient check."""
import numpy as np
import pytest
from test_cpu_conv import ref_backward, ref_forward
from test_cpu_winograd import _close, gradcheck_conv_relu, spy

from engine.kernels.cpu import conv, winograd_f2

# (N, C, H, W, O): odd sizes (half tiles), widths past one and two vectors of tiles, O not
# a multiple of 4 (6-row register tiles), the smallest map taken
SHAPES = [(2, 16, 7, 9, 20), (2, 33, 6, 5, 17), (3, 16, 8, 8, 16), (2, 16, 9, 21, 24), (1, 24, 4, 4, 18),
          (2, 20, 12, 34, 16)]


def _data(shape, dtype, seed=0):
    N, C, H, W, O = shape
    r = np.random.default_rng(seed)
    x = r.standard_normal((N, C, H, W)).astype(dtype)
    w = (r.standard_normal((O, C, 3, 3)) / np.sqrt(9 * C)).astype(dtype)
    g = r.standard_normal((N, O, H, W)).astype(dtype)
    return x, w, r.standard_normal(O).astype(dtype), g


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_and_gradients_equal_the_direct_sum(shape, dtype):
    x, w, b, g = _data(shape, dtype)
    for relu in (False, True):
        y = winograd_f2.forward(x, w, b, np.empty(g.shape, dtype), relu=relu)
        ref = ref_forward(x, w, b, (1, 1), (1, 1))
        _close(y, np.maximum(ref, 0) if relu else ref, dtype)
    dx = winograd_f2.backward_input(g, w, np.empty(x.shape, dtype))
    dw, db = winograd_f2.backward_weight(x, g)
    assert dx.dtype == dw.dtype == db.dtype == dtype
    for got, want in zip((dx, dw, db), ref_backward(x, w, g, (1, 1), (1, 1))):
        _close(got, want, dtype)


def test_a_nan_stays_nan_through_the_relu():
    x, w, b, g = _data(SHAPES[3], np.float32, seed=1)
    x[0, 0, 4, 10] = np.nan
    plain = winograd_f2.forward(x, w, b, np.empty(g.shape, np.float32))
    fused = winograd_f2.forward(x, w, b, np.empty(g.shape, np.float32), relu=True)
    assert np.isnan(plain).any()
    np.testing.assert_array_equal(np.isnan(fused), np.isnan(plain))


def test_a_batch_of_0_gives_an_empty_output():
    x, w, b, g = _data(SHAPES[0], np.float32)
    assert winograd_f2.forward(x[:0], w, b, np.empty((0,) + g.shape[1:], np.float32)).shape[0] == 0


@pytest.mark.parametrize("geometry,want", [
    ((16, 16, 3, 3, 1, 1, 1, 1, 32, 32), True), ((32, 32, 3, 3, 1, 1, 1, 1, 16, 16), True),
    ((16, 63, 3, 3, 1, 1, 1, 1, 4, 4), True), ((64, 64, 3, 3, 1, 1, 1, 1, 8, 8), False),   # F(4x4, 3x3)'s
    ((15, 32, 3, 3, 1, 1, 1, 1, 16, 16), False), ((32, 32, 3, 3, 2, 2, 1, 1, 8, 8), False),
    ((32, 32, 3, 3, 1, 1, 0, 0, 14, 14), False), ((32, 32, 3, 3, 1, 1, 1, 1, 3, 3), False),
    ((32, 32, 5, 5, 1, 1, 1, 1, 14, 14), False)])
def test_which_layers_take_it(geometry, want):
    assert winograd_f2.suitable(*geometry) is want


@pytest.mark.parametrize("geometry,want", [
    ((16, 16, 3, 3, 1, 1, 1, 1, 32, 32), True), ((64, 64, 3, 3, 1, 1, 1, 1, 32, 32), True),
    ((96, 96, 3, 3, 1, 1, 1, 1, 4, 4), True), ((64, 128, 3, 3, 1, 1, 1, 1, 16, 16), True),
    ((128, 128, 3, 3, 1, 1, 1, 1, 8, 8), True), ((128, 128, 3, 3, 1, 1, 1, 1, 4, 4), False),
    ((128, 128, 3, 3, 1, 1, 1, 1, 32, 32), False), ((160, 160, 3, 3, 1, 1, 1, 1, 8, 8), False),
    ((8, 16, 3, 3, 1, 1, 1, 1, 8, 8), False), ((32, 32, 3, 3, 2, 2, 1, 1, 8, 8), False),
    ((64, 64, 3, 3, 1, 1, 2, 2, 10, 10), False), ((64, 64, 3, 3, 1, 1, 1, 1, 2, 2), False)])
def test_which_weight_gradients_take_it(geometry, want):
    assert winograd_f2.suitable_weight_gradient(*geometry) is want


def test_a_layer_between_the_forward_paths_takes_its_weight_gradient(monkeypatch):
    # 32 -> 80 channels: neither Winograd forward (F(2x2, 3x3) up to 63 channels, F(4x4,
    # 3x3) from 64 in and out); the direct kernels run the forward and the input gradient
    calls = spy(monkeypatch, winograd_f2, ("forward", "backward_input", "backward_weight"))
    x, w, _, _ = _data((2, 32, 8, 7, 80), np.float32, seed=4)
    g = np.random.default_rng(4).standard_normal((2, 80, 8, 7)).astype(np.float32)
    dx, dw, db = conv.conv2d_backward(x, w, g, (1, 1), (1, 1))
    assert calls == ["backward_weight"]
    for a, b in zip((dx, dw, db), ref_backward(x, w, g, (1, 1), (1, 1))):
        _close(a, b, np.float32)


def test_the_convolution_entry_points_run_it_where_it_is_suitable(monkeypatch):
    calls = spy(monkeypatch, winograd_f2, ("forward", "backward_input", "backward_weight"))
    x, w, _, _ = _data((2, 32, 6, 5, 16), np.float32, seed=2)
    y = conv.conv2d_forward(x, w, None, (1, 1), (1, 1), relu=True)
    dx, dw, db = conv.conv2d_backward(x, w, y, (1, 1), (1, 1))
    assert calls == ["forward", "backward_input", "forward", "backward_weight"]  # the input gradient is a forward
    _close(y, np.maximum(ref_forward(x, w, None, (1, 1), (1, 1)), 0), np.float32)
    for a, b in zip((dx, dw, db), ref_backward(x, w, y, (1, 1), (1, 1))):
        _close(a, b, np.float32)
    calls.clear()
    assert conv.conv2d_backward(x, w, y, (1, 1), (1, 1), need_input_grad=False)[0] is None
    assert calls == ["backward_weight"]
    calls.clear()
    conv.conv2d_forward(x[:, :8], w[:, :8], None, (1, 1), (1, 1))      # 8 channels: the direct kernels
    conv.conv2d_backward(x[:, :8], w[:, :8], y, (1, 1), (1, 1))
    assert calls == []


def test_a_module_passes_a_float64_gradient_check():
    gradcheck_conv_relu(16, 5, 6)
