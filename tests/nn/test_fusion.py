"""inference_mode(): Conv2d[-BatchNorm2d][-ReLU] runs fused into one convolution and gives
the unfused eval output; nothing is kept for backward; hooks and training are untouched."""
import threading

import numpy as np
import pytest

from engine import nn
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
        model.forward(x * (k + 1) + k)
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


@pytest.mark.parametrize("bias", [True, False])
def test_fused_eval_matches_unfused(bias, monkeypatch):
    rng = np.random.default_rng(0)
    model = _net(bias)
    x = rng.standard_normal((4, 3, 16, 16)).astype(np.float32)
    _trained_stats(model, x)
    plain = model.forward(x)
    calls = _count_fused(monkeypatch)
    with nn.inference_mode():
        fused = model.forward(x)
    assert calls == [["Conv2d", "ReLU"], ["Residual", "ReLU"], ["Conv2d", "BatchNorm2d", "ReLU"],
                     ["Conv2d", "BatchNorm2d"], ["Conv2d", "ReLU"], ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]]
    np.testing.assert_allclose(fused, plain, rtol=1e-4, atol=1e-5)


def test_backward_after_inference_mode_raises_clearly():
    model = _net(True)
    x = np.random.default_rng(1).standard_normal((2, 3, 16, 16)).astype(np.float32)
    model.eval()
    with nn.inference_mode():
        y = model.forward(x)
    with pytest.raises(RuntimeError, match="inference_mode"):
        model.backward(np.ones_like(y))
    model.train()  # a forward outside inference_mode makes backward work again
    y = model.forward(x)
    model.backward(np.ones_like(y))


def test_no_fusion_in_train_mode_or_for_hooked_layers(monkeypatch):
    model = _net(True)
    x = np.random.default_rng(2).standard_normal((2, 3, 16, 16)).astype(np.float32)
    calls = _count_fused(monkeypatch)
    with nn.inference_mode():
        model.train()
        model.forward(x)  # train-mode batch norms use the batch: never folded, but take the ReLU
        assert calls == [["Conv2d", "ReLU"], ["Residual", "ReLU"], ["BatchNorm2d", "ReLU"], ["Conv2d", "ReLU"],
                         ["BatchNorm2d", "ReLU"]]
        calls.clear()
        model.eval()
        seen = []
        bn = model[2].body[1]
        inner = bn.forward
        object.__setattr__(bn, "forward", lambda t: seen.append(1) or inner(t))
        model.forward(x)  # the hooked batch norm and its conv run on their own
        assert seen == [1]
        assert calls == [["Conv2d", "ReLU"], ["Residual", "ReLU"], ["Conv2d", "BatchNorm2d"], ["Conv2d", "ReLU"],
                         ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]]


def test_inference_mode_is_per_thread_and_restores():
    assert not fusion.is_inference_mode()
    other = []
    with nn.inference_mode():
        assert fusion.is_inference_mode()
        t = threading.Thread(target=lambda: other.append(fusion.is_inference_mode()))
        t.start()
        t.join()
        with nn.inference_mode():
            pass
        assert fusion.is_inference_mode()
    assert other == [False] and not fusion.is_inference_mode()


def _unfused_copy(model):
    # the same model with every leaf's forward wrapped on the instance: nothing fuses
    twin = nn.from_spec(model.spec())
    twin.load_state_dict(model.state_dict())
    for m in twin.modules():
        if not m._modules:
            object.__setattr__(m, "forward", m.forward)
    return twin


def test_training_fusion_leaves_outputs_and_gradients_unchanged(monkeypatch):
    rng = np.random.default_rng(3)
    model = _net(True)
    twin = _unfused_copy(model)
    x = rng.standard_normal((3, 3, 16, 16)).astype(np.float32)
    calls = _count_fused(monkeypatch)
    back = []
    orig = fusion.fused_backward
    monkeypatch.setattr(fusion, "fused_backward",
                        lambda prev, m, g: back.append((type(prev).__name__, type(m).__name__)) or orig(prev, m, g))
    y = model.forward(x)
    y_ref = twin.forward(x)
    assert calls == [["Conv2d", "ReLU"], ["Residual", "ReLU"], ["BatchNorm2d", "ReLU"], ["Conv2d", "ReLU"],
                     ["BatchNorm2d", "ReLU"]]
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-6)
    g = rng.standard_normal(y.shape).astype(np.float32)
    model.zero_grad()
    twin.zero_grad()
    np.testing.assert_allclose(model.backward(g), twin.backward(g), rtol=1e-4, atol=1e-5)
    assert back == [("ReLU", "MaxPool2d"), ("BatchNorm2d", "ReLU")]  # twin (hooked): none
    for (name, p), (_, q) in zip(model.named_parameters(), twin.named_parameters()):
        np.testing.assert_allclose(p.grad, q.grad, rtol=1e-4, atol=1e-5, err_msg=name)


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
    y = model.forward(x)
    assert calls == [["Conv2d", "ReLU", "MaxPool2d"]] * 2  # the second pool runs alone
    np.testing.assert_allclose(y, twin.forward(x), rtol=1e-5, atol=1e-6)
    assert model[1]._y is None and model[2]._y.shape == (3, wide, (size - 4) // 2, (size - 4) // 2)
    g = rng.standard_normal(y.shape).astype(np.float32)
    model.zero_grad()
    twin.zero_grad()
    np.testing.assert_allclose(model.backward(g), twin.backward(g), rtol=1e-4, atol=1e-5)
    for (name, p), (_, q) in zip(model.named_parameters(), twin.named_parameters()):
        np.testing.assert_allclose(p.grad, q.grad, rtol=1e-4, atol=1e-5, err_msg=name)
