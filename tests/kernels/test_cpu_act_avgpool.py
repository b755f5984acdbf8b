"""Sigmoid and tanh on the CPU (vectorised float32 arithmetic, engine/kernels/cpu/vmath.py)
and the LeNet-5 fusion conv -> sigmoid/tanh -> avg_pool2d(2): the fused kernels equal the
operations they replace, in float32 and float64, on the direct and the GEMM path; inside a
module the fusion runs, passes a float64 gradient check and matches torch."""
import numpy as np
import pytest

from engine import nn
from engine.kernels import cpu
from engine.kernels.cpu import conv
from engine.nn.gradcheck import gradcheck

ACTS = {"sigmoid": (cpu.sigmoid_forward, cpu.sigmoid_backward), "tanh": (cpu.tanh_forward, cpu.tanh_backward)}


def _special():
    """float32 inputs over the whole range, both branches of tanh, and the edge values."""
    r = np.random.default_rng(0)
    return np.concatenate([r.standard_normal(5000) * 6, np.linspace(-100, 100, 4001), [0.0, -0.0, 1e-8, -1e-8, 1e-30,
                           0.6249, 0.625, 0.6251, 87.0, -87.0, 88.5, -88.5, 3e38, -3e38]]).astype(np.float32)


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
def test_float32_activations_are_within_a_few_units_of_the_last_place(act):
    x = _special()
    y = ACTS[act][0](x)
    with np.errstate(over="ignore"):
        ref = 1 / (1 + np.exp(-x.astype(np.float64))) if act == "sigmoid" else np.tanh(x.astype(np.float64))
    tiny = np.abs(ref) < 1e-36  # sigmoid below -87: documented absolute error < 6e-39
    assert np.all(np.abs(y - ref)[tiny] < 1e-38)
    rel = np.abs(y - ref)[~tiny] / np.abs(ref[~tiny])
    assert rel.max() < 3e-7, rel.max()
    assert np.all(y[x == 0] == ref[x == 0])


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
def test_float64_activations_are_exact_to_rounding(act):
    x = np.linspace(-40, 40, 2001)
    ref = 1 / (1 + np.exp(-x)) if act == "sigmoid" else np.tanh(x)
    np.testing.assert_allclose(ACTS[act][0](x), ref, rtol=1e-15, atol=1e-300)


# (N, C, H, W, O, kh, kw, stride, padding): LeNet-5's two layers, odd output sizes (the last
# row and column of the map are in no window), stride 2, a layer the direct kernels refuse
SHAPES = [
    (3, 1, 28, 28, 6, 5, 5, (1, 1), (2, 2)),
    (2, 6, 14, 14, 16, 5, 5, (1, 1), (0, 0)),
    (2, 3, 9, 8, 5, 3, 3, (1, 1), (1, 1)),
    (2, 2, 11, 10, 4, 3, 3, (2, 2), (1, 1)),
    (2, 150, 6, 7, 9, 3, 3, (1, 1), (1, 1)),
]


def _data(shape, dtype, seed=0):
    N, C, H, W, O, kh, kw, stride, padding = shape
    r = np.random.default_rng(seed)
    x = r.standard_normal((N, C, H, W)).astype(dtype)
    w = (r.standard_normal((O, C, kh, kw)) / np.sqrt(C * kh * kw)).astype(dtype)
    return x, w, r.standard_normal(O).astype(dtype), stride, padding


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_fused_kernels_equal_the_operations_they_replace(shape, dtype, act):
    x, w, b, stride, padding = _data(shape, dtype)
    forward, backward = ACTS[act]
    y, a = cpu.conv2d_act_avgpool2x2(x, w, b, stride, padding, act)
    ref_a = forward(cpu.conv2d_forward(x, w, b, stride, padding))
    ref_y = cpu.avgpool2d_forward(ref_a, (2, 2), (2, 2), (0, 0))
    assert y.dtype == a.dtype == dtype and y.shape == ref_y.shape and a.shape == ref_a.shape
    tol = dict(rtol=1e-6, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(a, ref_a, **tol)
    np.testing.assert_allclose(y, ref_y, **tol)
    g = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    gc = cpu.act_avgpool2x2_backward(g, ref_a, act)
    np.testing.assert_allclose(gc, backward(ref_a, cpu.avgpool2d_backward(g, ref_a.shape, (2, 2), (2, 2), (0, 0))),
                               **tol)


def test_the_gemm_path_gives_what_the_direct_kernels_give(monkeypatch):
    x, w, b, stride, padding = _data(SHAPES[1], np.float64)
    direct = cpu.conv2d_act_avgpool2x2(x, w, b, stride, padding, "tanh")
    monkeypatch.setattr(conv, "_use_direct", lambda *a: False)
    gemm = cpu.conv2d_act_avgpool2x2(x, w, b, stride, padding, "tanh")
    for d, g in zip(direct, gemm):
        np.testing.assert_allclose(d, g, rtol=1e-13, atol=1e-14)


def test_a_batch_of_0_and_no_bias():
    x, w, _, stride, padding = _data(SHAPES[0], np.float32)
    y, a = cpu.conv2d_act_avgpool2x2(x[:0], w, None, stride, padding, "sigmoid")
    assert y.shape == (0, 6, 14, 14) and a.shape == (0, 6, 28, 28)
    assert cpu.act_avgpool2x2_backward(y, a, "sigmoid").shape == a.shape
    y, a = cpu.conv2d_act_avgpool2x2(x, w, None, stride, padding, "sigmoid")
    np.testing.assert_allclose(a, cpu.sigmoid_forward(cpu.conv2d_forward(x, w, None, stride, padding)), rtol=1e-6)


def _block(act, C=2, O=3, k=3, padding=1):
    layer = nn.Sigmoid() if act == "sigmoid" else nn.Tanh()
    return nn.Sequential(nn.Conv2d(C, O, k, padding=padding), layer, nn.AvgPool2d(2))


def _count_fused(monkeypatch):
    calls = []
    for name in ("conv2d_act_avgpool2x2", "act_avgpool2x2_backward"):
        fn = getattr(cpu, name)
        monkeypatch.setattr(cpu, name, lambda *a, _fn=fn, _name=name: calls.append(_name) or _fn(*a))
    return calls


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
def test_modules_fuse_and_pass_a_float64_gradient_check(act, monkeypatch):
    calls = _count_fused(monkeypatch)
    model = _block(act).double()
    x = np.random.default_rng(2).standard_normal((2, 2, 7, 6))
    report = gradcheck(model, x)
    assert report.ok, str(report)
    assert "conv2d_act_avgpool2x2" in calls and "act_avgpool2x2_backward" in calls


def test_anything_else_reading_the_pending_output_gets_the_unfused_result():
    class Branch(nn.Module):  # keeps the activation and pools it: nothing may go missing
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)

        def forward(self, x):
            a = nn.functional.tanh(self.conv(x))
            return nn.functional.avg_pool2d(a, 2).sum() + a.sum()

    m = Branch().double()
    x = np.random.default_rng(3).standard_normal((2, 1, 8, 8))
    assert gradcheck(m, x).ok


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
def test_lenet_block_matches_torch(act):
    torch = pytest.importorskip("torch")
    from engine import from_numpy
    r = np.random.default_rng(4)
    ours = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.Sigmoid() if act == "sigmoid" else nn.Tanh(),
                         nn.AvgPool2d(2), nn.Conv2d(6, 16, 5), nn.Sigmoid() if act == "sigmoid" else nn.Tanh(),
                         nn.AvgPool2d(2))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 6, 5, padding=2),
                                 torch.nn.Sigmoid() if act == "sigmoid" else torch.nn.Tanh(), torch.nn.AvgPool2d(2),
                                 torch.nn.Conv2d(6, 16, 5), torch.nn.Sigmoid() if act == "sigmoid" else torch.nn.Tanh(),
                                 torch.nn.AvgPool2d(2))
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})
    x = r.standard_normal((4, 1, 28, 28)).astype(np.float32)
    g = r.standard_normal((4, 16, 5, 5)).astype(np.float32)
    xo, xt = from_numpy(x.copy()).requires_grad_(), torch.from_numpy(x.copy()).requires_grad_()
    yo, yt = ours(xo), theirs(xt)
    np.testing.assert_allclose(yo.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    (yo * from_numpy(g)).sum().backward()
    (yt * torch.from_numpy(g)).sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-6)
    for (name, p), tp in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)
