"""Modules with any forward, against torch: a custom nn.Module that calls submodules,
F.*, tensor methods and Python control flow; Sequential (also from an OrderedDict),
ModuleList, ModuleDict, Identity, LogSoftmax, Softmax, NLLLoss, Dropout2d; DataParallel
as a pass-through; .cpu()/.to(device)/.cuda(); torch's harmless constructor arguments
accepted and the values we don't implement refused by name.

Every model class below is written once against a namespace (``ns.nn``, ``ns.F``,
``ns.torch``) and built by both libraries; the torch twin gets our weights by
state_dict name (see helpers/autograd_parity.py, module_parity)."""
from collections import OrderedDict

import numpy as np
import pytest
from helpers.autograd_parity import OURS, assert_close, copy_weights, distinct, module_parity, torch_ns

import engine
from engine import nn
from engine.nn import functional as F


def make_custom(ns):
    """Submodules, a ModuleList and a ModuleDict, F.*, tensor methods and control flow."""

    class Net(ns.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = ns.nn.Conv2d(3, 4, 3, padding=1)
            self.bn1 = ns.nn.BatchNorm2d(4)
            self.blocks = ns.nn.ModuleList([ns.nn.Conv2d(4, 4, 3, padding=1, bias=False) for _ in range(3)])
            self.heads = ns.nn.ModuleDict({"main": ns.nn.Linear(16, 5), "aux": ns.nn.Linear(16, 5)})
            self.drop = ns.nn.Dropout(0.5)

        def forward(self, x):
            x = ns.F.max_pool2d(ns.F.relu(self.bn1(self.conv1(x))), 2)
            for i, block in enumerate(self.blocks):
                y = block(x)
                x = x + ns.F.relu(y) if i % 2 == 0 else ns.F.leaky_relu(y, 0.1) * 0.5
            x = ns.F.avg_pool2d(x, 2)
            x = x.view(x.size(0), -1)
            if not self.training:
                x = self.drop(x)                 # identity in eval: control flow on the mode
            out = self.heads["main"](x)
            if x.shape[0] > 1:                   # control flow on a shape
                out = out - self.heads["aux"](x).sigmoid() * x.mean(1, keepdim=True)
            return ns.F.log_softmax(out, dim=1)

    return Net()


def make_sequential(ns):
    return ns.nn.Sequential(
        ns.nn.Conv2d(3, 4, 3, padding=1), ns.nn.BatchNorm2d(4), ns.nn.ReLU(inplace=True), ns.nn.MaxPool2d(2),
        ns.nn.Conv2d(4, 6, 3), ns.nn.ReLU(), ns.nn.AdaptiveAvgPool2d((1, 1)), ns.nn.Flatten(),
        ns.nn.Dropout(0.5), ns.nn.Linear(6, 4), ns.nn.Tanh(), ns.nn.Linear(4, 3), ns.nn.LogSoftmax(dim=1))


def make_ordered(ns):
    return ns.nn.Sequential(OrderedDict([
        ("conv", ns.nn.Conv2d(3, 2, 3, stride=2, padding=1)), ("norm", ns.nn.BatchNorm2d(2)),
        ("act", ns.nn.LeakyReLU(0.2)), ("drop", ns.nn.Dropout2d(0.3)), ("id", ns.nn.Identity()),
        ("lrn", ns.nn.LocalResponseNorm(2)), ("pool", ns.nn.AvgPool2d(2)), ("flat", ns.nn.Flatten()),
        ("fc", ns.nn.Linear(8, 3)), ("soft", ns.nn.Softmax(dim=1))]))


def make_wrapped(ns):
    class Wrapped(ns.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = ns.nn.Sequential(ns.nn.Conv2d(3, 2, 3), ns.nn.Sigmoid())
            self.skip = ns.nn.Identity()

        def forward(self, x):
            return self.body(x).sum(dim=(2, 3)) + self.skip(x).mean((1, 2, 3)).unsqueeze(1)

    return ns.nn.DataParallel(Wrapped())


X = (2, 3, 8, 8)


def _deterministic(model, ns):
    """``model`` with its dropout layers at p = 0 (identities that still run in training)."""
    for m in model.modules():
        if isinstance(m, (ns.nn.Dropout, ns.nn.Dropout2d)):
            m.p = 0.0
    return model


@pytest.mark.parametrize("make", [make_custom, make_sequential, make_ordered, make_wrapped],
                         ids=["custom", "sequential", "ordered_dict", "data_parallel"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_module_matches_torch(make, train, rng):
    """Forward, input and parameter gradients, state_dict keys and buffers (in training,
    dropout at p = 0 in both, as random masks cannot be compared)."""
    pytest.importorskip("torch")
    module_parity(lambda ns: _deterministic(make(ns), ns) if train else make(ns),
                  distinct(rng, X, spacing=0.01), train=train)


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_training_mode_forward_without_a_graph_updates_running_stats_as_torch(mode, rng):
    """BatchNorm in training mode under no_grad / inference_mode: batch statistics used,
    running statistics updated, nothing recorded; as torch."""
    pytest.importorskip("torch")
    tns = torch_ns()
    ours = make_custom(OURS)
    twin = copy_weights(ours, make_custom(tns))
    x = distinct(rng, X, spacing=0.01).astype(np.float32)
    with getattr(engine, mode)():
        y = ours(engine.tensor(x))
    with getattr(tns.torch, mode)():
        ty = twin(tns.torch.tensor(x))
    assert not y.requires_grad
    assert_close(y, ty, rtol=1e-4, what="output")
    tstate = twin.state_dict()
    for name, value in ours.state_dict().items():
        assert_close(np.asarray(value), tstate[name], rtol=1e-4, what=name)


def test_state_dict_keys_match_torch():
    pytest.importorskip("torch")
    tns = torch_ns()
    for make in (make_custom, make_sequential, make_ordered, make_wrapped):
        assert list(make(OURS).state_dict()) == list(make(tns).state_dict()), make.__name__


def test_data_parallel_is_a_pass_through_with_module_prefix(rng):
    inner = make_sequential(OURS).eval()
    dp = nn.DataParallel(inner, device_ids=None)
    assert dp.module is inner
    assert list(dp.state_dict()) == ["module." + k for k in inner.state_dict()]
    x = engine.tensor(distinct(rng, X).astype(np.float32))
    np.testing.assert_array_equal(dp(x).numpy(), inner(x).numpy())
    dp.load_state_dict(dp.state_dict())
    assert {n for n, _ in dp.named_parameters()} == {"module." + n for n, _ in inner.named_parameters()}


def test_nll_loss_module_after_log_softmax_matches_cross_entropy(rng):
    z = engine.tensor(distinct(rng, (4, 5)).astype(np.float32), requires_grad=True)
    t = engine.tensor([0, 4, 2, 2])
    nll = nn.NLLLoss()(nn.LogSoftmax(dim=1)(z), t)
    nll.backward()
    g = z.grad.numpy().copy()
    z.grad = None
    ce = nn.CrossEntropyLoss()(z, t)
    ce.backward()
    np.testing.assert_allclose(nll.item(), ce.item(), rtol=1e-6)
    np.testing.assert_allclose(g, z.grad.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_loss_modules_take_reduction(reduction, rng):
    pytest.importorskip("torch")
    z = distinct(rng, (4, 5)).astype(np.float32)
    t = np.array([1, 0, 4, 4])
    vals = []
    for ns in (OURS, torch_ns()):
        zt = ns.torch.tensor(z)
        tt = ns.torch.tensor(t)
        vals.append([ns.nn.CrossEntropyLoss(reduction=reduction, label_smoothing=0.1)(zt, tt).numpy(),
                     ns.nn.NLLLoss(reduction=reduction)(zt, tt).numpy(),
                     ns.nn.MSELoss(reduction=reduction)(zt, zt * 0.5).numpy()])
    for ours, ref in zip(*vals):
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)


def test_dropout2d_module_trains_and_evaluates(rng):
    drop = nn.Dropout2d(0.5)
    x = engine.tensor(distinct(rng, (4, 8, 3, 3)).astype(np.float32))
    y = drop(x).numpy().reshape(4, 8, 9)
    zeroed = ~y.any(axis=2)
    assert zeroed.any() and not zeroed.all()
    np.testing.assert_allclose(y[~zeroed], 2 * x.numpy().reshape(4, 8, 9)[~zeroed], rtol=1e-6)
    drop.eval()
    assert drop(x) is x or np.array_equal(drop(x).numpy(), x.numpy())


def test_softmax_modules_and_identity():
    x = engine.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(nn.Softmax(dim=1)(x).sum(1).numpy(), [1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(nn.LogSoftmax(dim=1)(x).exp().numpy(), nn.Softmax(dim=1)(x).numpy(), rtol=1e-6)
    assert nn.Identity(3, unused="yes")(x) is x


def test_replacing_a_layer_by_index_keeps_the_keys_and_trains_only_what_is_unfrozen(rng):
    """Transfer learning as the course writes it: freeze, replace the last layer by index,
    optimise the parameters that still require grad."""
    pytest.importorskip("torch")
    tns = torch_ns()
    ours, head = make_sequential(OURS), nn.Linear(6, 4)
    twin, t_head = copy_weights(ours, make_sequential(tns)), copy_weights(head, tns.nn.Linear(6, 4))
    x = distinct(rng, X).astype(np.float32)
    results = []
    for ns, model, new in ((OURS, ours, head), (tns, twin, t_head)):
        for p in model.parameters():
            p.requires_grad = False
        model[9] = new
        frozen = model[0].weight.detach().clone()
        opt = ns.torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.1, momentum=0.9)
        model.eval()
        loss = ns.F.nll_loss(model(ns.torch.tensor(x)), ns.torch.tensor([0, 2]))
        loss.backward()
        opt.step()
        assert model[0].weight.grad is None and np.array_equal(model[0].weight.detach().numpy(), frozen.numpy())
        results.append((list(model.state_dict()), loss.item(), model[9].weight.detach().numpy().copy()))
    (keys, loss, w), (t_keys, t_loss, t_w) = results
    assert keys == t_keys
    np.testing.assert_allclose(loss, t_loss, rtol=1e-5)
    np.testing.assert_allclose(w, t_w, rtol=1e-5, atol=1e-7)
    blocks = nn.ModuleList([nn.Identity(), nn.Tanh()])
    blocks[-1] = nn.Sigmoid()
    assert isinstance(blocks[1], nn.Sigmoid) and list(blocks._modules) == ["0", "1"]


def test_setitem_refuses_what_is_not_a_module_or_out_of_range():
    seq = nn.Sequential(nn.ReLU(), nn.Tanh())
    with pytest.raises(TypeError, match="needs a Module"):
        seq[0] = "relu"
    with pytest.raises(IndexError, match="out of range for its 2 modules"):
        seq[2] = nn.ReLU()


# --- devices ------------------------------------------------------------------------------------------
def test_cpu_and_to_device_keep_the_module(rng):
    model = make_custom(OURS)
    assert model.cpu() is model and model.to("cpu") is model and model.to(engine.device("cpu")) is model
    dev = engine.device("cuda" if engine.cuda.is_available() else "cpu")
    x = engine.tensor(distinct(rng, X).astype(np.float32)).to(dev)
    assert model.to(dev)(x).shape == (2, 5)


def test_cuda_module_matches_cpu(rng):
    """Under Numba's CUDA simulator (or a GPU): .cuda() moves parameters and buffers; the
    forward and every gradient match the CPU's."""
    if not engine.cuda.is_available():
        pytest.skip(f"CUDA: {engine.cuda.unavailable_reason()}")
    def make():
        return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                             nn.Linear(2 * 4 * 4, 3))

    state = make().state_dict()
    x = distinct(rng, (2, 1, 4, 4)).astype(np.float32)
    results = []
    for device in ("cpu", "cuda"):
        m = make()
        m.load_state_dict(state)
        m = m.cpu() if device == "cpu" else m.cuda()
        xt = engine.tensor(x).to(device).requires_grad_()
        loss = F.cross_entropy(m(xt), engine.tensor([0, 2]).to(device))
        loss.backward()
        assert xt.device.type == device and next(m.parameters()).device.type == device
        results.append([loss.item(), xt.grad.cpu().numpy()] + [p.grad.cpu().numpy() for p in m.parameters()]
                       + [np.array(b) for b in m.to("cpu").buffers()])
    for ours, ref in zip(*results):
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-6)


def test_cuda_without_a_gpu_says_so(no_gpu):
    with pytest.raises(RuntimeError, match="CUDA"):
        nn.Linear(2, 2).cuda()


# --- constructor arguments ------------------------------------------------------------------------------
def test_torchs_harmless_arguments_are_accepted():
    nn.ReLU(inplace=True)
    nn.LeakyReLU(0.1, inplace=True)
    nn.Dropout(0.2, inplace=False)
    nn.CrossEntropyLoss(reduction="sum")
    nn.CrossEntropyLoss(weight=None, ignore_index=-100, reduction="none", label_smoothing=0.1)
    nn.NLLLoss(reduction="sum")
    nn.MSELoss(reduction="none")
    nn.Conv2d(3, 4, 3, stride=1, padding=1, dilation=1, groups=1, bias=True, padding_mode="zeros")
    nn.Conv2d(3, 4, (3, 3), dilation=(1, 1), device="cpu")
    nn.MaxPool2d(2, stride=2, padding=0, dilation=1, return_indices=False, ceil_mode=False)
    nn.AvgPool2d(2, ceil_mode=False, count_include_pad=True, divisor_override=None)
    nn.BatchNorm2d(3, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True)
    nn.Linear(3, 2, bias=True, device="cpu")


UNSUPPORTED = [
    ("dilation", lambda: nn.Conv2d(3, 4, 3, dilation=2)),
    ("groups", lambda: nn.Conv2d(4, 4, 3, groups=2)),
    ("padding_mode", lambda: nn.Conv2d(3, 4, 3, padding_mode="reflect")),
    ("ceil_mode", lambda: nn.MaxPool2d(2, ceil_mode=True)),
    ("return_indices", lambda: nn.MaxPool2d(2, return_indices=True)),
    ("dilation", lambda: nn.MaxPool2d(2, dilation=2)),
    ("ceil_mode", lambda: nn.AvgPool2d(2, ceil_mode=True)),
    ("divisor_override", lambda: nn.AvgPool2d(2, divisor_override=3)),
    ("affine", lambda: nn.BatchNorm2d(3, affine=False)),
    ("track_running_stats", lambda: nn.BatchNorm2d(3, track_running_stats=False)),
    ("momentum", lambda: nn.BatchNorm2d(3, momentum=None)),
    ("weight", lambda: nn.CrossEntropyLoss(weight=engine.ones(3))),
    ("ignore_index", lambda: nn.CrossEntropyLoss(ignore_index=0)),
    ("weight", lambda: nn.NLLLoss(weight=engine.ones(3))),
    ("ignore_index", lambda: nn.NLLLoss(ignore_index=1)),
    ("reduction", lambda: nn.CrossEntropyLoss(reduction="avg")),
    ("dilation", lambda: F.conv2d(engine.ones(1, 1, 5, 5), engine.ones(1, 1, 3, 3), dilation=2)),
    ("groups", lambda: F.conv2d(engine.ones(1, 2, 5, 5), engine.ones(2, 1, 3, 3), groups=2)),
    ("ceil_mode", lambda: F.max_pool2d(engine.ones(1, 1, 5, 5), 2, ceil_mode=True)),
    ("weight", lambda: F.cross_entropy(engine.ones(2, 3), engine.tensor([0, 1]), weight=engine.ones(3))),
    ("ignore_index", lambda: F.nll_loss(engine.ones(2, 3), engine.tensor([0, 1]), ignore_index=0)),
    ("mode", lambda: F.pad(engine.ones(1, 1, 3, 3), (1, 1), mode="reflect")),
]


@pytest.mark.parametrize("argument, make", UNSUPPORTED, ids=[f"{a}-{i}" for i, (a, _) in enumerate(UNSUPPORTED)])
def test_unsupported_values_name_the_argument(argument, make):
    with pytest.raises((NotImplementedError, ValueError)) as info:
        make()
    assert argument in str(info.value) and "\n" not in str(info.value)
