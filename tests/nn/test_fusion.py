"""Layer fusion in Sequential. inference_mode(): Conv2d[-BatchNorm2d][-ReLU] runs fused into
one convolution and gives the unfused eval output; nothing is kept for backward. Training:
Conv2d/BatchNorm2d/Residual -> ReLU and Conv2d -> ReLU -> MaxPool2d(2) fuse, and
loss.backward() gives the unfused gradients. Modules with forward hooks never fuse."""
import threading

import numpy as np
import pytest

from engine import autograd, nn
from engine.autograd import Tensor
from engine.nn import fusion


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
    calls = []
    orig = fusion.fused_forward

    def counting(modules, x):
        calls.append([type(m).__name__ for m in modules])
        return orig(modules, x)
    monkeypatch.setattr(fusion, "fused_forward", counting)
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
    assert calls == [["Conv2d", "ReLU"], ["Residual", "ReLU"], ["Conv2d", "BatchNorm2d", "ReLU"],
                     ["Conv2d", "BatchNorm2d"], ["Conv2d", "ReLU"], ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]]
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
        assert calls == [["Conv2d", "ReLU"], ["Residual", "ReLU"], ["BatchNorm2d", "ReLU"], ["Conv2d", "ReLU"],
                         ["BatchNorm2d", "ReLU"]]
        calls.clear()
        model.eval()
        seen = []
        bn = model[2].body[1]
        handle = bn.register_forward_hook(lambda m, inputs, out: seen.append(out.shape))
        model(x)  # the hooked batch norm and its conv run on their own
        assert seen == [(2, 8, 16, 16)]
        assert calls == [["Conv2d", "ReLU"], ["Residual", "ReLU"], ["Conv2d", "BatchNorm2d"], ["Conv2d", "ReLU"],
                         ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]]
        calls.clear()
        handle.remove()  # without its hook it folds into its conv again
        model(x)
        assert seen == [(2, 8, 16, 16)]
        assert calls[2] == ["Conv2d", "BatchNorm2d", "ReLU"]


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
    # the same model with a forward hook on every leaf: nothing fuses
    twin = nn.from_spec(model.spec())
    twin.load_state_dict(model.state_dict())
    for m in twin.modules():
        if not m._modules:
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
    assert calls == [["Conv2d", "ReLU"], ["Residual", "ReLU"], ["BatchNorm2d", "ReLU"], ["Conv2d", "ReLU"],
                     ["BatchNorm2d", "ReLU"]]  # twin (hooked): none
    # every ReLU's mask runs inside the backward of the layer it fused into
    assert "_ReLUBackward" not in names and names.count("_AddReLUBackward") == 1
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
    assert calls == [["Conv2d", "ReLU", "MaxPool2d"]] * 2  # the second pool runs alone
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
