"""Optimizer steps against hand-computed updates, and against torch where installed."""
import numpy as np
import pytest

from engine import optim
from engine.nn import Parameter

W0 = np.array([1.0, -2.0, 0.5], np.float32)
GRADS = [np.array([0.1, 0.2, -0.3], np.float32), np.array([-0.4, 0.1, 0.2], np.float32),
         np.array([0.3, -0.1, 0.0], np.float32)]


def steps(opt_factory):
    p = Parameter(W0.copy())
    o = opt_factory([p])
    out = []
    for g in GRADS:
        p.grad = g.copy()
        o.step()
        out.append(p.numpy().copy())
    return out


def test_sgd_plain():
    got = steps(lambda p: optim.SGD(p, lr=0.1))
    w = W0.astype(np.float64)
    for g, have in zip(GRADS, got):
        w = w - 0.1 * g
        np.testing.assert_allclose(have, w, rtol=1e-6)


def test_sgd_momentum_weight_decay_dampening():
    lr, mu, wd, damp = 0.1, 0.9, 0.01, 0.1
    got = steps(lambda p: optim.SGD(p, lr=lr, momentum=mu, weight_decay=wd, dampening=damp))
    w, buf = W0.astype(np.float64), None
    for g, have in zip(GRADS, got):
        d = g + wd * w
        buf = d.copy() if buf is None else mu * buf + (1 - damp) * d
        w = w - lr * buf
        np.testing.assert_allclose(have, w, rtol=1e-6)


def test_sgd_nesterov():
    lr, mu = 0.05, 0.9
    got = steps(lambda p: optim.SGD(p, lr=lr, momentum=mu, nesterov=True))
    w, buf = W0.astype(np.float64), None
    for g, have in zip(GRADS, got):
        buf = g.copy() if buf is None else mu * buf + g
        w = w - lr * (g + mu * buf)
        np.testing.assert_allclose(have, w, rtol=1e-6)


def adam_reference(lr, b1, b2, eps, wd, decoupled):
    w = W0.astype(np.float64)
    m = np.zeros(3)
    v = np.zeros(3)
    out = []
    for t, g in enumerate(GRADS, 1):
        g = g.astype(np.float64)
        if decoupled:
            w = w * (1 - lr * wd)
        else:
            g = g + wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat = m / (1 - b1 ** t)
        vhat = v / (1 - b2 ** t)
        w = w - lr * mhat / (np.sqrt(vhat) + eps)
        out.append(w.copy())
    return out


def test_adam():
    got = steps(lambda p: optim.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-8, weight_decay=0.1))
    for have, want in zip(got, adam_reference(0.01, 0.8, 0.99, 1e-8, 0.1, False)):
        np.testing.assert_allclose(have, want, rtol=1e-5)


def test_adamw():
    got = steps(lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.1))
    for have, want in zip(got, adam_reference(0.01, 0.9, 0.999, 1e-8, 0.1, True)):
        np.testing.assert_allclose(have, want, rtol=1e-5)


def test_first_adam_step_is_lr_times_sign():
    # with bias correction, the first step moves every weight by lr (for |g| >> eps)
    got = steps(lambda p: optim.Adam(p, lr=0.01))
    np.testing.assert_allclose(got[0], W0 - 0.01 * np.sign(GRADS[0]), rtol=1e-5)


TORCH = {
    "sgd": (lambda p: optim.SGD(p, lr=0.1), lambda t, p: t.optim.SGD(p, lr=0.1)),
    "sgd_mom_wd": (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-2, dampening=0.2),
                   lambda t, p: t.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-2, dampening=0.2)),
    "nesterov": (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
                 lambda t, p: t.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True)),
    "adam": (lambda p: optim.Adam(p, lr=0.01, weight_decay=0.05), lambda t, p: t.optim.Adam(p, lr=0.01, weight_decay=0.05)),
    "adamw": (lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.05), lambda t, p: t.optim.AdamW(p, lr=0.01, weight_decay=0.05)),
}


@pytest.mark.parametrize("name", sorted(TORCH))
def test_matches_torch(name):
    t = pytest.importorskip("torch")
    ours, theirs = TORCH[name]
    tp = t.nn.Parameter(t.tensor(W0))
    to = theirs(t, [tp])
    got = steps(ours)
    for g, have in zip(GRADS, got):
        tp.grad = t.tensor(g)
        to.step()
        np.testing.assert_allclose(have, tp.detach().numpy(), rtol=1e-5, atol=1e-7)


def test_state_dict_round_trip_continues_exactly():
    p1, p2 = Parameter(W0.copy()), Parameter(W0.copy())
    o1, o2 = optim.Adam([p1], lr=0.01), optim.Adam([p2], lr=0.01)
    p1.grad = GRADS[0].copy()
    o1.step()
    o2.load_state_dict(o1.state_dict())
    p2.data[...] = p1.data
    for g in GRADS[1:]:
        p1.grad = g.copy()
        p2.grad = g.copy()
        o1.step()
        o2.step()
    np.testing.assert_array_equal(p1.numpy(), p2.numpy())
