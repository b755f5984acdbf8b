"""Small CPU kernels on one thread or on all, the first layer's skipped input gradient, and
the flat-buffer SGD step: each agrees with the plain path."""
import numpy as np
import pytest
from helpers import kernel_reference as ref

import engine
from engine import manual_seed, models, nn, optim
from engine.kernels import cpu
from engine.kernels.cpu import dropout, parallel


@pytest.mark.parametrize("min_size", [0, 1 << 30])   # everything parallel / everything serial
def test_serial_and_parallel_kernels_agree(monkeypatch, min_size):
    monkeypatch.setattr(parallel, "PARALLEL_MIN", min_size)
    monkeypatch.setattr(parallel, "_threads", 2)        # blocks on the pool even on one core
    r = np.random.default_rng(0)
    x = r.standard_normal((2, 3, 6, 6)).astype(np.float32)
    g = r.standard_normal(x.shape).astype(np.float32)
    y = cpu.relu_forward(x)
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    np.testing.assert_array_equal(cpu.relu_backward(y, g), g * (y > 0))
    p, idx = cpu.maxpool2d_forward(x, (2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(p, x.reshape(2, 3, 3, 2, 3, 2).max(axis=(3, 5)))
    np.testing.assert_array_equal(cpu.add(x, g), x + g)
    w = r.standard_normal((4, 6 * 6 * 3)).astype(np.float32)
    xf = x.reshape(2, -1)
    np.testing.assert_allclose(cpu.linear_forward(xf, w, np.ones(4, np.float32)), xf @ w.T + 1, rtol=1e-5)
    # each block indexes from its own start: the dropout hash must still see global indices
    yd, mask = cpu.dropout_forward(x, 0.5, 7)
    keep = np.array([dropout._uniform(7, i) >= 0.5 for i in range(x.size)]).reshape(x.shape)
    np.testing.assert_array_equal(mask, np.where(keep, np.float32(2), np.float32(0)))
    np.testing.assert_array_equal(yd, x * mask)
    p_, buf = x.copy(), np.zeros_like(x)
    cpu.sgd_step(p_, g, buf, 0.1, 0.9, 0.0, False, 0.0, True)
    np.testing.assert_allclose(p_, x - np.float32(0.1) * g, rtol=1e-6)
    np.testing.assert_allclose(cpu.sigmoid_forward(x), 1 / (1 + np.exp(-x)), rtol=1e-6)


def _grads(model, x, y, input_grad):
    """(d loss / d x or None, {name: parameter gradient}) of one cross-entropy loss."""
    xt = engine.tensor(x, requires_grad=input_grad)
    nn.CrossEntropyLoss()(model(xt), engine.tensor(y)).backward()
    out = {k: p.grad_array.copy() for k, p in model.named_parameters()}
    model.zero_grad()
    return (xt.grad.numpy() if input_grad else xt.grad), out


@pytest.mark.parametrize("name,shape", [("mnist_cnn", (1, 28, 28)), ("resnet20", (3, 32, 32))])
def test_skipping_the_first_input_gradient_keeps_parameter_gradients(monkeypatch, name, shape):
    asked = []
    real = cpu.conv2d_backward

    def spy(*args, need_input_grad=True, **kwargs):
        asked.append(need_input_grad)
        return real(*args, need_input_grad=need_input_grad, **kwargs)
    monkeypatch.setattr(cpu, "conv2d_backward", spy)
    manual_seed(0)
    model = models.get(name)
    r = np.random.default_rng(1)
    x = r.standard_normal((4,) + shape).astype(np.float32)
    y = np.arange(4) % 10
    gx, full = _grads(model, x, y, True)
    assert gx.shape == x.shape and all(asked)
    asked.clear()
    gx2, skipped = _grads(model, x, y, False)   # the first convolution skips its input gradient
    assert gx2 is None and asked[-1] is False and all(asked[:-1])
    for k in full:
        np.testing.assert_allclose(skipped[k], full[k], rtol=1e-5, atol=1e-6)


def _reference_sgd(params, grads, bufs, lr, momentum, wd, nesterov, first):
    for p, g, b in zip(params, grads, bufs):
        d = g + wd * p
        b[...] = d if first else momentum * b + d
        p -= lr * (d + momentum * b if nesterov else b)


def test_flat_sgd_matches_per_parameter_update_and_survives_replaced_arrays():
    manual_seed(0)
    model = models.get("mnist_cnn")
    params = list(model.parameters())
    opt = optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
    ref = [p.array.copy() for p in params]
    bufs = [np.zeros_like(p.array) for p in params]
    r = np.random.default_rng(2)
    for step in range(3):
        grads = [r.standard_normal(p.shape).astype(np.float32) for p in params]
        for p, g in zip(params, grads):
            if p.grad_array is None:
                p.grad = engine.tensor(g)
            else:
                p.grad_array[...] = g
        opt.step()
        _reference_sgd(ref, grads, bufs, 0.1, 0.9, 1e-3, True, step == 0)
        for p, q in zip(params, ref):
            np.testing.assert_allclose(p.array, q, rtol=1e-5, atol=1e-6)
        opt.zero_grad(set_to_none=False)
        assert all((p.grad_array == 0).all() for p in params)
        if step == 1:
            model.to("cpu", dtype=np.float32)   # replaces every parameter's array and gradient
            ref = [p.array.copy() for p in params]
    sd = opt.state_dict()
    assert set(sd["state"]) == set(range(len(params)))
    for i, p in enumerate(params):
        np.testing.assert_allclose(sd["state"][i]["momentum_buffer"], bufs[i], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("beta", [0.75, 0.5, 1.0, 0.6])   # the square-root forms, and pow
@pytest.mark.parametrize("size", [5, 4, 1])
def test_lrn_matches_its_definition(dtype, beta, size):
    r = np.random.default_rng(3)
    x = (r.standard_normal((2, 6, 3, 5)) * 2).astype(dtype)
    g = r.standard_normal(x.shape).astype(dtype)
    y, s = cpu.lrn_forward(x, size, 0.5, beta, 1.5)
    dx = cpu.lrn_backward(x, y, s, g, size, 0.5, beta)
    ry, rdx = ref.lrn(x, size, 0.5, beta, 1.5, g)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    assert y.dtype == dx.dtype == dtype
    np.testing.assert_allclose(y, ry, **tol)
    np.testing.assert_allclose(dx, rdx, **tol)
