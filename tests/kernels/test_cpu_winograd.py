"""The Winograd F(4x4, 3x3) convolution (engine/kernels/cpu/winograd.py): forward and both
gradients equal the direct sum (float64 to rounding, float32 to a few units in its
sixth digit) for paddings 0-2, maps that are not a multiple of the 4x4 tile, channels
and widths below, at and past whole vectors, one sample or none, with the products per
thread's samples or shared out (the weight gradient's by register tiles or by BLAS, in
one group of samples or many); a NaN stays NaN through the fused ReLU; the convolution
entry points take it exactly where ``suitable`` says; through a module it passes a
float64 gradient check."""
import numpy as np
import pytest
from test_cpu_conv import ref_backward, ref_forward

from engine import nn
from engine.kernels.cpu import conv, winograd
from engine.nn.gradcheck import gradcheck

# (N, C, H, W, O, padding): channels and widths under a vector, whole vectors (8 float32,
# 4 float64) and some past them; outputs as wide as their tiles (16: one row of pixels
# runs on into the next in the output's transposes) or not
SHAPES = [(2, 3, 8, 8, 5, 1), (3, 4, 9, 7, 6, 1), (2, 5, 6, 11, 3, 0), (2, 3, 5, 5, 4, 2), (1, 2, 3, 3, 2, 1),
          (2, 9, 13, 10, 7, 1), (2, 19, 11, 18, 26, 1), (2, 16, 16, 16, 24, 1), (1, 8, 10, 12, 9, 2)]


def _data(shape, dtype, seed=0):
    N, C, H, W, O, p = shape
    r = np.random.default_rng(seed)
    x = r.standard_normal((N, C, H, W)).astype(dtype)
    w = (r.standard_normal((O, C, 3, 3)) / np.sqrt(9 * C)).astype(dtype)
    g = r.standard_normal((N, O, H + 2 * p - 2, W + 2 * p - 2)).astype(dtype)
    return x, w, r.standard_normal(O).astype(dtype), g, p


def _close(a, ref, dtype):
    """Within rounding of the largest value: float64 to 1e-12, float32 to 2e-5."""
    scale = np.abs(ref).max()
    assert np.abs(a - ref).max() <= (1e-12 if dtype == np.float64 else 2e-5) * scale, np.abs(a - ref).max() / scale


@pytest.fixture(params=["own samples", "shared products"])
def products(request, monkeypatch):
    """Both ways of running the 36 products: each thread on its own samples' tiles (the
    weight gradient's by register tiles), or the whole batch's tiles with the products
    shared out (BLAS) (forced; _shared_products and REGISTER_CHANNELS decide)."""
    shared = request.param == "shared products"
    monkeypatch.setattr(winograd, "_shared_products", lambda *a: shared)
    monkeypatch.setattr(winograd, "REGISTER_CHANNELS", 0 if shared else 10**6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_and_gradients_equal_the_direct_sum(shape, dtype, products):
    x, w, b, g, p = _data(shape, dtype)
    y = winograd.forward(x, w, b, p, np.empty(g.shape, dtype))
    _close(y, ref_forward(x, w, b, (1, 1), (p, p)), dtype)
    dx = winograd.backward_input(g, w, p, np.empty(x.shape, dtype))
    dw, db = winograd.backward_weight(x, g, p)
    rdx, rdw, rdb = ref_backward(x, w, g, (1, 1), (p, p))
    assert dx.dtype == dw.dtype == db.dtype == dtype and dw.shape == w.shape and dx.shape == x.shape
    _close(dx, rdx, dtype)
    _close(dw, rdw, dtype)
    _close(db, rdb, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_weight_gradient_sums_groups_of_one_sample(monkeypatch, dtype, products):
    # stacks budgeted for less than one sample: a group (chunk) per sample, each thread's
    # share of 5 samples summed group by group
    monkeypatch.setattr(winograd, "REGISTER_BYTES", 1)
    monkeypatch.setattr(winograd, "SHARED_BYTES", 1)
    x, w, b, g, p = _data((5,) + SHAPES[6][1:], dtype)
    dw, db = winograd.backward_weight(x, g, p)
    _, rdw, rdb = ref_backward(x, w, g, (1, 1), (p, p))
    _close(dw, rdw, dtype)
    _close(db, rdb, dtype)


@pytest.mark.parametrize("channels,path", [(16, "_register_gradient"), (128, "_register_gradient"),
                                           (129, "_shared_gradient"), (512, "_shared_gradient")])
def test_the_weight_gradient_takes_register_tiles_up_to_REGISTER_CHANNELS(monkeypatch, channels, path):
    calls = spy(monkeypatch, winograd, ("_register_gradient", "_shared_gradient"))
    x = np.zeros((1, 16, 4, 4), np.float32)
    winograd.backward_weight(x, np.zeros((1, channels, 4, 4), np.float32), 1)
    winograd.backward_weight(np.zeros((1, channels, 4, 4), np.float32), x, 1)
    assert calls == [path, path]


def test_relu_in_the_output_pass():
    x, w, b, g, p = _data(SHAPES[1], np.float64, seed=1)
    y = winograd.forward(x, w, b, p, np.empty(g.shape), relu=True)
    np.testing.assert_allclose(y, np.maximum(ref_forward(x, w, b, (1, 1), (p, p)), 0), rtol=1e-12, atol=1e-12)


def test_a_nan_stays_nan_through_the_relu():
    x, w, b, g, p = _data(SHAPES[6], np.float32, seed=1)
    x[0, 0, 4, 10] = np.nan
    plain = winograd.forward(x, w, b, p, np.empty(g.shape, np.float32))
    fused = winograd.forward(x, w, b, p, np.empty(g.shape, np.float32), relu=True)
    assert np.isnan(plain).any()
    np.testing.assert_array_equal(np.isnan(fused), np.isnan(plain))


def test_a_batch_of_0_gives_empty_outputs_and_zero_parameter_gradients(products):
    x, w, b, g, p = _data(SHAPES[0], np.float32)
    assert winograd.forward(x[:0], w, b, p, np.empty((0,) + g.shape[1:], np.float32)).shape[0] == 0
    dx = winograd.backward_input(g[:0], w, p, np.empty((0,) + x.shape[1:], np.float32))
    dw, db = winograd.backward_weight(x[:0], g[:0], p)
    assert dx.shape == (0,) + x.shape[1:] and not dw.any() and not db.any()


def test_stack_rows_never_share_a_cache_set():
    a = winograd._stack(36, 1024 * 64, np.float32)
    offsets = {(a[k].ctypes.data - a.ctypes.data) % 4096 for k in range(36)}
    assert len(offsets) == 36 and all(o % 64 == 0 for o in offsets)


@pytest.mark.parametrize("geometry,want", [
    ((64, 64, 3, 3, 1, 1, 1, 1, 32, 32), True), ((512, 512, 3, 3, 1, 1, 1, 1, 4, 4), True),
    ((96, 128, 3, 3, 1, 1, 0, 0, 30, 30), True), ((32, 32, 3, 3, 1, 1, 1, 1, 16, 16), True),
    ((16, 16, 3, 3, 1, 1, 1, 1, 4, 4), True), ((15, 32, 3, 3, 1, 1, 1, 1, 16, 16), False),
    ((512, 512, 3, 3, 1, 1, 1, 1, 2, 2), False), ((64, 128, 3, 3, 2, 2, 1, 1, 16, 16), False),
    ((64, 64, 5, 5, 1, 1, 2, 2, 32, 32), False), ((64, 64, 3, 3, 1, 1, 1, 0, 32, 30), False)])
def test_which_layers_take_it(geometry, want):
    assert winograd.suitable(*geometry) is want


def spy(monkeypatch, module, names) -> list:
    """The names of ``module``'s functions ``names`` as they are called, in order."""
    calls = []
    for name in names:
        fn = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _fn=fn, _n=name, **k: calls.append(_n) or _fn(*a, **k))
    return calls


@pytest.mark.parametrize("channels", [64, 160])
def test_the_convolution_entry_points_run_it_where_it_is_suitable(monkeypatch, channels):
    calls = spy(monkeypatch, winograd, ("forward", "backward_input", "backward_weight"))
    r = np.random.default_rng(2)
    x = r.standard_normal((2, channels, 6, 5)).astype(np.float32)
    w = (r.standard_normal((channels, channels, 3, 3)) / np.sqrt(9 * channels)).astype(np.float32)
    y = conv.conv2d_forward(x, w, None, (1, 1), (1, 1), relu=True)
    dx, dw, db = conv.conv2d_backward(x, w, y, (1, 1), (1, 1))
    assert calls == ["forward", "backward_input", "forward", "backward_weight"]  # the input gradient is a forward
    ref = np.maximum(ref_forward(x, w, None, (1, 1), (1, 1)), 0)
    _close(y, ref, np.float32)
    for a, b in zip((dx, dw, db), ref_backward(x, w, y, (1, 1), (1, 1))):
        _close(a, b, np.float32)
    calls.clear()
    conv.conv2d_backward(x, w, y, (1, 1), (1, 1), need_input_grad=False)
    assert calls == ["backward_weight"]
    calls.clear()
    conv.conv2d_forward(x[:, :8], w[:, :8], None, (1, 1), (1, 1))  # 8 channels in: the direct kernels
    assert calls == []


@pytest.mark.parametrize("channels,height,width", [(16, 5, 6), (64, 5, 4)])
def test_a_module_passes_a_float64_gradient_check(channels, height, width):
    model = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU()).double()
    x = np.random.default_rng(3).standard_normal((2, channels, height, width))
    report = gradcheck(model, x, max_elements=40)
    assert report.ok, str(report)
