"""Layer fusion inside module calls (deferred outputs, engine.nn.functional). Without a
graph: Conv2d[-BatchNorm2d eval][-ReLU[-MaxPool2d(2)]] runs as one convolution and gives the
unfused eval output; nothing is kept for backward. Training: Conv2d/BatchNorm2d/residual
sum -> ReLU and Conv2d -> ReLU -> MaxPool2d(2) fuse, and loss.backward() gives the unfused
gradients. Nothing fuses across a forward hook; custom modules fuse like Sequentials."""
import threading

import numpy as np
import pytest

from engine import autograd, nn
from engine.autograd import Tensor
from engine.autograd import ops as tops
from engine.nn import functional as F


def _net(bias):
    body = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=bias), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1, bias=bias), nn.BatchNorm2d(8))
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Residual(body), nn.ReLU(),
                         nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),  # conv -> ReLU, no BN
                         nn.Conv2d(16, 16, 1), nn.BatchNorm2d(16), nn.ReLU(),  # ReLU -> max pool
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 4 * 4, 10))


def _trained_stats(model, x):
    # a few train-mode forwards give the batch norms non-trivial running statistics
    model.train()
    for k in range(3):
        model(x * (k + 1) + k)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data[:] = np.linspace(0.5, 1.5, m.num_features)
            m.bias.data[:] = np.linspace(-0.2, 0.2, m.num_features)
    model.eval()


def _count_fused(monkeypatch):
    """The kernels the forwards run, in order: "conv", "conv+relu", "conv+relu+pool", "bn",
    "bn+relu", "bn+add", "bn+add+relu", "relu", "pool", "add", "add+relu" (linear layers are
    left out)."""
    calls = []

    def log(cls, name_of):
        orig = cls.forward

        def counting(ctx, *args, **kwargs):
            calls.append(name_of(*args, **kwargs))
            return orig(ctx, *args, **kwargs)
        monkeypatch.setattr(cls, "forward", staticmethod(counting))

    log(F._Conv2d, lambda x, w, b, stride, padding, relu: "conv+relu" if relu else "conv")
    log(F._Conv2dReLUMaxPool2x2, lambda *a: "conv+relu+pool")
    log(F._BatchNorm, lambda *a: "bn" + ("+add" if a[9:] and a[9] is not None else "") + ("+relu" if a[8] else ""))
    log(F._ReLU, lambda x: "relu")
    log(F._MaxPool2d, lambda *a: "pool")
    log(tops.AddSameShape, lambda a, b, relu=False: "add+relu" if relu else "add")
    return calls


def _graph(t):
    """Every node of the graph recorded behind tensor ``t``."""
    nodes, stack = [], [t.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or any(node is n for n in nodes):
            continue
        nodes.append(node)
        stack.extend(e[0] for e in node.next_edges if e is not None and hasattr(e[0], "next_edges"))
    return nodes


@pytest.mark.parametrize("bias", [True, False])
def test_fused_eval_matches_unfused(bias, monkeypatch):
    rng = np.random.default_rng(0)
    model = _net(bias)
    x = rng.standard_normal((4, 3, 16, 16)).astype(np.float32)
    _trained_stats(model, x)
    plain = model(x)
    calls = _count_fused(monkeypatch)
    with nn.inference_mode():
        fused = model(x)
    assert calls == ["conv+relu", "conv+relu", "conv", "add+relu", "conv+relu", "conv+relu+pool"]
    assert fused.grad_fn is None and not fused.requires_grad  # nothing kept for backward
    np.testing.assert_allclose(fused.numpy(), plain.numpy(), rtol=1e-4, atol=1e-5)


def test_backward_after_inference_mode_raises_clearly():
    model = _net(True)
    x = np.random.default_rng(1).standard_normal((2, 3, 16, 16)).astype(np.float32)
    model.eval()
    with nn.inference_mode():
        y = model(x)
    with pytest.raises(RuntimeError, match="inference_mode"):
        y.sum().backward()
    model.train()  # a forward outside inference_mode makes backward work again
    y = model(x)
    y.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_no_fusion_in_train_mode_or_for_hooked_layers(monkeypatch):
    model = _net(True)
    x = np.random.default_rng(2).standard_normal((2, 3, 16, 16)).astype(np.float32)
    calls = _count_fused(monkeypatch)
    with nn.inference_mode():
        model.train()
        model(x)  # train-mode batch norms use the batch: never folded, but take the ReLU
        assert calls == ["conv+relu", "conv", "bn+relu", "conv", "bn+add+relu", "conv+relu", "conv", "bn+relu",
                         "pool"]
        calls.clear()
        model.eval()
        seen = []
        bn = model[2].body[1]
        handle = bn.register_forward_hook(lambda m, inputs, out: seen.append(out.shape))
        model(x)  # the hooked batch norm (folded into its conv) hands its hook a computed output
        assert seen == [(2, 8, 16, 16)]
        assert calls == ["conv+relu", "conv", "relu", "conv", "add+relu", "conv+relu", "conv+relu+pool"]
        calls.clear()
        handle.remove()  # without its hook the ReLU joins the convolution again
        model(x)
        assert seen == [(2, 8, 16, 16)]
        assert calls[1] == "conv+relu"


def test_inference_mode_is_per_thread_and_restores():
    assert not autograd.is_inference_mode() and autograd.is_grad_enabled()
    other = []
    with nn.inference_mode():
        assert autograd.is_inference_mode() and not autograd.is_grad_enabled()
        t = threading.Thread(target=lambda: other.append((autograd.is_inference_mode(),
                                                          autograd.is_grad_enabled())))
        t.start()
        t.join()
        with nn.inference_mode():
            pass
        assert autograd.is_inference_mode() and not autograd.is_grad_enabled()
    assert other == [(False, True)]
    assert not autograd.is_inference_mode() and autograd.is_grad_enabled()


def _unfused_copy(model):
    # the same model with a forward hook on every module: nothing fuses
    twin = nn.from_spec(model.spec())
    twin.load_state_dict(model.state_dict())
    for m in twin.modules():
        m.register_forward_hook(lambda m, inputs, out: None)
    return twin


def _same_gradients(model, twin, x, rng):
    """Runs both models on x, checks they give the same output, then backward of one
    random projection of it through each: same input and parameter gradients. Returns
    the model's output."""
    xt, xt_ref = Tensor(x, requires_grad=True), Tensor(x.copy(), requires_grad=True)
    y, y_ref = model(xt), twin(xt_ref)
    np.testing.assert_allclose(y.numpy(), y_ref.numpy(), rtol=1e-5, atol=1e-6)
    g = rng.standard_normal(y.shape).astype(np.float32)
    model.zero_grad()
    twin.zero_grad()
    (y * g).sum().backward()
    (y_ref * g).sum().backward()
    np.testing.assert_allclose(xt.grad_array, xt_ref.grad_array, rtol=1e-4, atol=1e-5)
    for (name, p), (_, q) in zip(model.named_parameters(), twin.named_parameters()):
        np.testing.assert_allclose(p.grad_array, q.grad_array, rtol=1e-4, atol=1e-5, err_msg=name)
    return y


def test_training_fusion_leaves_outputs_and_gradients_unchanged(monkeypatch):
    rng = np.random.default_rng(3)
    model = _net(True)
    twin = _unfused_copy(model)
    x = rng.standard_normal((3, 3, 16, 16)).astype(np.float32)
    calls = _count_fused(monkeypatch)
    names = [n.name() for n in _graph(_same_gradients(model, twin, x, rng))]
    fused = ["conv+relu", "conv", "bn+relu", "conv", "bn+add+relu", "conv+relu", "conv", "bn+relu", "pool"]
    assert calls[:len(fused)] == fused and "relu" in calls[len(fused):]  # the twin (hooked) fuses nothing
    # every ReLU's mask runs inside the backward of the layer it fused into
    assert "_ReLUBackward" not in names and "AddSameShapeBackward" not in names
    y_ref = twin(Tensor(x, requires_grad=True))
    assert [n.name() for n in _graph(y_ref)].count("_ReLUBackward") == 5


@pytest.mark.parametrize("size, wide", [(32, 6), (15, 6), (12, 160)])
def test_conv_relu_maxpool_training_fusion(size, wide, monkeypatch):
    # Conv2d -> ReLU -> MaxPool2d(2) as one kernel (the conv output never stored), on an odd
    # conv output (15 -> 11: the last row and column fall outside every window) and on a
    # layer too wide for the direct kernels (160 channels: conv, then the pool); the mask
    # of the pooled output replaces the ReLU's backward
    rng = np.random.default_rng(4)
    model = nn.Sequential(nn.Conv2d(3, wide, 5), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(wide, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(16 * ((size - 4) // 8) ** 2, 10))
    twin = _unfused_copy(model)
    calls = _count_fused(monkeypatch)
    x = rng.standard_normal((3, 3, size, size)).astype(np.float32)
    y = _same_gradients(model, twin, x, rng)
    assert calls[:3] == ["conv+relu+pool", "conv+relu+pool", "pool"]  # the second pool runs alone
    nodes = _graph(y)
    fused = [n for n in nodes if n.name() == "_Conv2dReLUMaxPool2x2Backward"]
    assert len(fused) == 2 and "_ReLUBackward" not in [n.name() for n in nodes]
    # what the first fused step keeps: the pooled maps, never the conv's full output
    pooled, full = (3, wide, (size - 4) // 2, (size - 4) // 2), (3, wide, size - 4, size - 4)
    y_ref = twin(Tensor(x, requires_grad=True))
    saved = [tuple(a.shape) for n in _graph(y_ref) for a in n.saved if a is not None]
    assert full in saved  # the unfused twin keeps it
    y = model(Tensor(x, requires_grad=True))
    saved = [tuple(a.shape) for n in _graph(y) for a in n.saved if a is not None]
    assert pooled in saved and full not in saved


class _CourseNet(nn.Module):
    """The CIFAR-10 tutorial's network, as a user writes it."""

    def __init__(self):
        super().__init__()
        self.conv1, self.pool, self.conv2 = nn.Conv2d(3, 6, 5), nn.MaxPool2d(2, 2), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2 = nn.Linear(16 * 5 * 5, 120), nn.Linear(120, 10)
        self.kept = None

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class _ResidualBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.conv2, self.bn2 = nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x
        return F.relu(out)


def test_custom_modules_fuse_like_sequentials(monkeypatch):
    rng = np.random.default_rng(5)
    calls = _count_fused(monkeypatch)
    net = _CourseNet()
    y = net(rng.standard_normal((2, 3, 32, 32)).astype(np.float32))
    assert calls == ["conv+relu+pool", "conv+relu+pool", "relu"]
    assert "_ReLUBackward" in [n.name() for n in _graph(y)]  # fc1's ReLU: linear does not fuse
    calls.clear()
    block = _ResidualBlock()
    y = block(rng.standard_normal((2, 4, 8, 8)).astype(np.float32))
    assert calls == ["conv", "bn+relu", "conv", "bn+add+relu"]
    assert "_ReLUBackward" not in [n.name() for n in _graph(y)]


class _Join(nn.Module):
    """A residual join with no ReLU after it, over a projection whose norm is pending too;
    the body's norm output is kept (read after the sum took it in)."""

    def __init__(self, body_first):
        super().__init__()
        self.body_first = body_first
        self.conv, self.bn = nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.proj, self.pbn = nn.Conv2d(4, 4, 1, bias=False), nn.BatchNorm2d(4)
        self.kept = None

    def forward(self, x):
        self.kept = self.bn(self.conv(x))
        s = self.pbn(self.proj(x))
        return self.kept + s if self.body_first else s + self.kept


@pytest.mark.parametrize("body_first", [True, False])
def test_a_norm_takes_in_the_sum_after_it(body_first, monkeypatch):
    # the first pending norm of the sum takes the other summand into its pass; the other
    # norm and a kept output are computed as usual, every running statistic moves once
    rng = np.random.default_rng(8)
    model, twin = _Join(body_first), _Join(body_first)
    twin.load_state_dict(model.state_dict())
    for m in twin.modules():
        m.register_forward_hook(lambda m, inputs, out: None)
    calls = _count_fused(monkeypatch)
    x = rng.standard_normal((3, 4, 6, 6)).astype(np.float32)
    y = _same_gradients(model, twin, x, rng)
    assert calls[:4] == ["conv", "conv", "bn", "bn+add"]
    assert "AddSameShapeBackward" not in [n.name() for n in _graph(y)]
    np.testing.assert_allclose(model.kept.numpy(), twin.kept.numpy(), rtol=1e-5, atol=1e-6)
    for (name, a), (_, b) in zip(model.state_dict().items(), twin.state_dict().items()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, err_msg=name)


def test_a_kept_intermediate_is_computed_before_the_call_returns(monkeypatch):
    # a user's forward that keeps the conv's output (to look at it later) gets its value as
    # computed when the forward ran, even after the weights change
    class Keeps(_CourseNet):
        def forward(self, x):
            self.kept = self.conv1(x)
            return self.pool(F.relu(self.kept))

    rng = np.random.default_rng(6)
    net = Keeps()
    x = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    y = net(x)
    want = F.conv2d(Tensor(x), net.conv1.weight, net.conv1.bias).numpy()
    net.conv1.weight.data.fill_(0)
    np.testing.assert_allclose(net.kept.numpy(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y.numpy(), F.max_pool2d(F.relu(Tensor(want)), 2).numpy(), rtol=1e-5, atol=1e-6)


def test_an_unused_training_batch_norm_still_updates_its_statistics():
    bn = nn.BatchNorm2d(3)

    class Discards(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = bn

        def forward(self, x):
            self.bn(x)  # as torch: the running statistics move even if the output is unused
            return x

    x = np.random.default_rng(7).standard_normal((4, 3, 5, 5)).astype(np.float32)
    Discards()(x)
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-7)
