"""Central-difference gradient checks (float64) of every layer, block and loss, through
engine.nn.gradcheck: gradients w.r.t. the input and every parameter; odd and non-square
sizes, stride > 1, padding, batch of 1; inputs with distinct values (no pooling ties,
no ReLU kinks within a step)."""
import numpy as np
import pytest

import engine
from engine import nn
from engine.autograd import ArrayFunction, Tensor
from engine.kernels import cpu as cpu_kernels
from engine.nn import functional as F
from engine.nn.gradcheck import gradcheck


def check(module, x, **kw):
    """Gradchecks ``module`` in float64 and returns the report; fails with the report."""
    module.double()
    report = gradcheck(module, np.asarray(x, np.float64), **kw)
    assert report.ok, str(report)
    names = {"input"} | {n for n, _ in module.named_parameters()}
    assert {t.name for t in report.tensors} == names
    return report


def randomize_bn(bn, rng):
    """Non-trivial affine parameters and running statistics for a BatchNorm."""
    bn.double()
    bn.weight.data[...] = rng.uniform(0.5, 1.5, bn.num_features)
    bn.bias.data[...] = rng.standard_normal(bn.num_features)
    bn.running_mean[...] = rng.standard_normal(bn.num_features) * 0.1
    bn.running_var[...] = rng.uniform(0.5, 2.0, bn.num_features)
    return bn


@pytest.fixture(autouse=True)
def _seed():
    engine.manual_seed(0)


# --- leaf layers --------------------------------------------------------------------
@pytest.mark.parametrize("args, shape", [
    (dict(in_channels=2, out_channels=3, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)), (2, 2, 7, 5)),
    (dict(in_channels=3, out_channels=2, kernel_size=3, stride=2, padding=1, bias=False), (1, 3, 6, 7)),
    (dict(in_channels=2, out_channels=3, kernel_size=1, stride=1, padding=0), (2, 2, 3, 5)),
    (dict(in_channels=1, out_channels=2, kernel_size=(2, 3), stride=(1, 3), padding=(2, 1)), (1, 1, 4, 5)),
], ids=["k3x2-s2x1-p1x0", "k3-s2-p1-nobias-batch1", "1x1", "k2x3-s1x3-p2x1"])
def test_conv2d(args, shape, distinct):
    check(nn.Conv2d(**args), distinct(shape))


@pytest.mark.parametrize("args, shape", [
    (dict(kernel_size=3, stride=2, padding=1), (2, 2, 7, 6)),
    (dict(kernel_size=2), (1, 3, 5, 7)),
    (dict(kernel_size=(2, 3), stride=(1, 2)), (2, 1, 4, 7)),
])
def test_maxpool2d(args, shape, distinct):
    check(nn.MaxPool2d(**args), distinct(shape))


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("args, shape", [
    (dict(kernel_size=3, stride=2, padding=1), (2, 2, 7, 6)),
    (dict(kernel_size=(2, 3), stride=(2, 1), padding=(1, 1)), (1, 2, 5, 4)),
])
def test_avgpool2d(args, shape, count_include_pad, distinct):
    check(nn.AvgPool2d(**args, count_include_pad=count_include_pad), distinct(shape))


@pytest.mark.parametrize("size, shape", [(1, (2, 3, 5, 7)), ((2, 3), (2, 2, 5, 7)), ((3, 2), (1, 2, 7, 5)),
                                         ((5, 7), (1, 1, 5, 7))])
def test_adaptive_avgpool2d(size, shape, distinct):
    check(nn.AdaptiveAvgPool2d(size), distinct(shape))


@pytest.mark.parametrize("bias, batch", [(True, 3), (False, 1)])
def test_linear(bias, batch, distinct):
    check(nn.Linear(7, 4, bias=bias), distinct((batch, 7)))


def test_flatten(distinct):
    check(nn.Flatten(), distinct((2, 3, 2, 5)))


@pytest.mark.parametrize("layer", [nn.ReLU, lambda: nn.LeakyReLU(0.2), nn.Sigmoid, nn.Tanh],
                         ids=["ReLU", "LeakyReLU", "Sigmoid", "Tanh"])
def test_activations(layer, distinct):
    check(layer(), distinct((2, 3, 4, 5), spacing=0.02))


def test_dropout_training_mask_fixed(distinct):
    drop = nn.Dropout(0.4)
    x = distinct((2, 3, 4, 5))
    calls = drop.calls
    check(drop, x)
    assert drop.calls == calls, "gradcheck must leave Dropout's random state as it found it"
    y = drop(x).numpy()  # the mask the checker used: some dropped, the rest scaled by 1/(1-p)
    assert 0 < np.count_nonzero(y == 0) < y.size
    np.testing.assert_allclose(y[y != 0], x[y != 0] / 0.6)


def test_dropout_eval_is_identity(distinct):
    drop = nn.Dropout(0.5).eval()
    x = distinct((2, 6))
    check(drop, x)
    assert np.array_equal(drop(x).numpy(), x)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", [(2, 3, 3, 5), (1, 3, 4, 3)], ids=["batch2", "batch1"])
def test_batchnorm2d(shape, training, distinct, rng):
    bn = randomize_bn(nn.BatchNorm2d(3), rng).train(training)
    before = {k: v.copy() for k, v in bn.state_dict().items()}
    check(bn, distinct(shape))
    for k, v in bn.state_dict().items():  # the checker restores the running statistics
        np.testing.assert_array_equal(v, before[k], err_msg=k)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 3)], ids=["NC", "NCL"])
def test_batchnorm1d(shape, training, distinct, rng):
    check(randomize_bn(nn.BatchNorm1d(4), rng).train(training), distinct(shape))


@pytest.mark.parametrize("size", [3, 4, 1])
def test_local_response_norm(size, rng):
    # alpha large enough that the normaliser matters; values away from 0 on the order of 1
    x = rng.standard_normal((2, 5, 3, 2))
    check(nn.LocalResponseNorm(size, alpha=0.5, beta=0.75, k=2.0), x)


# --- blocks -----------------------------------------------------------------------------
def test_sequential(distinct, rng):
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(3 * 2 * 3, 4), nn.Tanh(), nn.Linear(4, 3))
    randomize_bn(model[1], rng)
    check(model, distinct((2, 2, 5, 7)))


def test_residual_identity(distinct, rng):
    body = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                         nn.Conv2d(3, 3, 3, padding=1, bias=False))
    randomize_bn(body[1], rng)
    check(nn.Residual(body), distinct((2, 3, 5, 4)))


def test_residual_joined_in_the_last_norm(distinct, rng):
    # the body's last batch norm takes the sum into its pass (no ReLU after it here)
    body = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1, bias=False), nn.BatchNorm2d(3))
    randomize_bn(body[1], rng)
    check(nn.Residual(body), distinct((2, 3, 4, 5)))


def test_residual_projection(distinct, rng):
    body = nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4))
    short = nn.Sequential(nn.Conv2d(2, 4, 1, stride=2, bias=False), nn.BatchNorm2d(4))
    for bn in (body[1], body[4], short[1]):
        randomize_bn(bn, rng)
    block = nn.Sequential(nn.Residual(body, short), nn.ReLU())
    report = check(block, distinct((2, 2, 5, 6)))
    assert "0.shortcut.0.weight" in {t.name for t in report.tensors}


def test_concat(distinct):
    block = nn.Concat(nn.Conv2d(3, 2, 1),
                      nn.Sequential(nn.Conv2d(3, 2, 1), nn.ReLU(), nn.Conv2d(2, 3, 3, padding=1)),
                      nn.Sequential(nn.MaxPool2d(3, 1, padding=1), nn.Conv2d(3, 1, 1)))
    check(block, distinct((2, 3, 4, 5)))


def test_zoo_style_nesting(distinct):
    """Concat inside Residual inside Sequential, batch of 1."""
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1),
                          nn.Residual(nn.Concat(nn.Conv2d(3, 1, 1),
                                                nn.Sequential(nn.Tanh(), nn.Conv2d(3, 2, 3, padding=1)))),
                          nn.AdaptiveAvgPool2d((2, 1)), nn.Flatten(), nn.Linear(6, 2))
    check(model, distinct((1, 1, 5, 3)))


# --- losses -----------------------------------------------------------------------------
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("batch", [1, 4])
def test_cross_entropy(smoothing, batch, rng):
    z = rng.standard_normal((batch, 5)) * 2
    t = rng.integers(0, 5, batch)
    check(nn.CrossEntropyLoss(label_smoothing=smoothing), z, target=t)


def test_mse(rng):
    check(nn.MSELoss(), rng.standard_normal((3, 2, 5)), target=rng.standard_normal((3, 2, 5)))


def test_loss_after_model(distinct, rng):
    """A model followed by the loss, checked end to end via a wrapper module."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 5))
    crit = nn.CrossEntropyLoss(label_smoothing=0.1)
    t = rng.integers(0, 5, 3)

    class WithLoss(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x, target):
            return crit(self.model(x), target)

    check(WithLoss(), distinct((3, 3, 2, 2)), target=t)


# --- the checker itself ----------------------------------------------------------------------
class _GradTimes101(ArrayFunction):
    """Identity forward whose backward hands on 1.01 times the gradient."""

    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, g):
        return g * 1.01


class _WrongLinear(nn.Linear):
    """A Linear whose weight gradient is 1% too large: the checker must catch it."""

    def forward(self, x):
        return F.linear(x, _GradTimes101.apply(self.weight), self.bias)


class _ReLUPassingAll(ArrayFunction):
    """relu forward whose backward lets the gradient through where it should not."""

    @staticmethod
    def forward(ctx, x):
        return np.maximum(x, 0)

    @staticmethod
    def backward(ctx, g):
        return g


class _WrongReLU(nn.ReLU):
    def forward(self, x):
        return _ReLUPassingAll.apply(x)


def test_checker_catches_wrong_gradients(distinct):
    lin = _WrongLinear(5, 3).double()
    report = gradcheck(lin, distinct((2, 5)))
    assert not report.ok
    assert not report["weight"].ok and report["input"].ok and report["bias"].ok
    assert "FAIL weight" in str(report)
    assert not gradcheck(_WrongReLU(), distinct((2, 7))).ok


def test_checker_needs_float64(distinct):
    with pytest.raises(TypeError, match="float64"):
        gradcheck(nn.Linear(3, 2), distinct((2, 3)))
    with pytest.raises(TypeError, match="double"):
        gradcheck(nn.Linear(3, 2).double(), distinct((2, 3), dtype=np.float32))


def test_checker_subsamples_and_selects(distinct):
    conv = nn.Conv2d(2, 3, 3).double()
    report = gradcheck(conv, distinct((1, 2, 6, 5)), max_elements=10, wrt={"input", "weight"})
    assert report.ok, str(report)
    assert [t.name for t in report.tensors] == ["input", "weight"]
    assert all(t.checked == 10 for t in report.tensors)
    # the parameters are restored, and grad holds the analytic gradient
    w = conv.weight.numpy().copy()
    gradcheck(conv, distinct((1, 2, 6, 5)))
    np.testing.assert_array_equal(conv.weight.numpy(), w)
    assert np.abs(conv.weight.grad_array).sum() > 0


def test_checker_without_input_gradient(distinct):
    lin = nn.Linear(4, 2).double()
    report = gradcheck(lin, distinct((2, 4)), wrt={"weight", "bias"})
    assert report.ok and [t.name for t in report.tensors] == ["weight", "bias"]


def test_input_gradient_skipped_when_input_needs_none(distinct, monkeypatch):
    """A plain input (no requires_grad) asks the first layer's kernel for no input
    gradient, and the parameter gradients are those of an input that requires grad."""
    lin = nn.Linear(4, 2).double()
    x = distinct((2, 4))
    wanted = []
    real = cpu_kernels.linear_backward

    def spy(*args, need_input_grad=True, **kwargs):
        wanted.append(need_input_grad)
        return real(*args, need_input_grad=need_input_grad, **kwargs)

    monkeypatch.setattr(cpu_kernels, "linear_backward", spy)
    xt = Tensor(x, requires_grad=True)
    lin(xt).sum().backward()
    with_input = [p.grad_array.copy() for p in lin.parameters()]
    assert xt.grad is not None
    lin.zero_grad()
    plain = Tensor(x)
    lin(plain).sum().backward()
    assert wanted == [True, False]
    assert plain.grad is None
    for p, g in zip(lin.parameters(), with_input):
        np.testing.assert_array_equal(p.grad_array, g)
