"""SGD (momentum, dampening, nesterov, weight decay), Adam and AdamW: several steps against
updates computed by hand in float64 (always) and against torch.optim (where installed)."""
import copy

import numpy as np
import pytest

from engine import nn
from engine.nn import Parameter
from engine.optim import SGD, Adam, AdamW

SGD_CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.1, weight_decay=0.05),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.5),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01),
    dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
]
ADAM_CONFIGS = [
    (Adam, dict(lr=0.01)),
    (Adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    (AdamW, dict(lr=0.01)),
    (AdamW, dict(lr=0.02, betas=(0.85, 0.95), weight_decay=0.3)),
]
ALL = [(SGD, c) for c in SGD_CONFIGS] + ADAM_CONFIGS
ALL_IDS = [f"{cls.__name__}-{'-'.join(f'{k}={v}' for k, v in c.items())}" for cls, c in ALL]
STEPS = 5


def sgd_reference(p, grads, lr, momentum=0, dampening=0, nesterov=False, weight_decay=0):
    """torch.optim.SGD's documented algorithm, in float64."""
    p, buf = p.astype(np.float64), None
    for t, g in enumerate(grads):
        d = g + weight_decay * p
        if momentum:
            buf = d if t == 0 else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        p = p - lr * d
    return p


def adam_reference(p, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled=False):
    """torch.optim.Adam / AdamW's documented algorithm, in float64."""
    p = p.astype(np.float64)
    m = v = np.zeros_like(p)
    b1, b2 = betas
    for t, g in enumerate(grads, start=1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat, vhat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        p = p - lr * mhat / (np.sqrt(vhat) + eps)
    return p


def reference(cls, p, grads, cfg):
    if cls is SGD:
        return sgd_reference(p, grads, **cfg)
    hyper = dict(cfg)
    if cls is AdamW:
        hyper.setdefault("weight_decay", 1e-2)
    return adam_reference(p, grads, decoupled=cls is AdamW, **hyper)


def problem(rng, shapes=((4, 3), (5,))):
    """Initial parameters and STEPS gradients per parameter (float32)."""
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for _ in range(STEPS)] for s in shapes]
    return init, grads


def run_ours(cls, cfg, init, grads, dtype=np.float32):
    params = [Parameter(a.astype(dtype)) for a in init]
    opt = cls(params, **cfg)
    for t in range(STEPS):
        for p, g in zip(params, grads):
            p.grad = g[t].astype(dtype)
        opt.step()
    return params, opt


@pytest.mark.parametrize("cls, cfg", ALL, ids=ALL_IDS)
def test_against_hand_computed_updates(cls, cfg, rng):
    init, grads = problem(rng)
    for dtype, rtol in ((np.float64, 1e-12), (np.float32, 2e-6)):
        params, _ = run_ours(cls, cfg, init, grads, dtype)
        for p, a, g in zip(params, init, grads):
            assert p.dtype == dtype
            ref = reference(cls, a, [gi.astype(np.float64) for gi in g], cfg)
            np.testing.assert_allclose(p.numpy(), ref, rtol=rtol, atol=rtol, err_msg=str(dtype))


@pytest.mark.parametrize("cls, cfg", ALL, ids=ALL_IDS)
def test_against_torch_optim(cls, cfg, rng):
    torch = pytest.importorskip("torch")
    init, grads = problem(rng)
    params, _ = run_ours(cls, cfg, init, grads)
    tparams = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
    topt = getattr(torch.optim, cls.__name__)(tparams, **cfg)
    for t in range(STEPS):
        for p, g in zip(tparams, grads):
            p.grad = torch.from_numpy(g[t].copy())
        topt.step()
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=2e-6, atol=2e-6)


def test_first_sgd_step_by_hand():
    p = Parameter(np.array([1.0, -2.0], np.float32))
    opt = SGD([p], lr=0.5, momentum=0.9, weight_decay=0.1)
    p.grad = np.array([0.2, 0.4], np.float32)
    opt.step()  # d = g + 0.1 p = [0.3, 0.2]; the first buffer is d itself
    np.testing.assert_allclose(p.numpy(), [1 - 0.15, -2 - 0.1], rtol=1e-6)
    opt.step()  # same grad: d = [0.2 + 0.085, 0.4 - 0.21]; buf = 0.9 buf + d
    d = np.array([0.2 + 0.1 * 0.85, 0.4 + 0.1 * -2.1])
    np.testing.assert_allclose(p.numpy(), np.array([0.85, -2.1]) - 0.5 * (0.9 * np.array([0.3, 0.2]) + d),
                               rtol=1e-6)


def test_first_adam_step_moves_by_lr():
    """After one step Adam moves each weight by lr * sign(g) (bias correction), AdamW also decays."""
    p = Parameter(np.array([1.0, -1.0, 3.0], np.float32))
    p.grad = np.array([0.001, -50.0, 2.0], np.float32)
    Adam([p], lr=0.1).step()
    np.testing.assert_allclose(p.numpy(), [0.9, -0.9, 2.9], rtol=1e-5)
    q = Parameter(np.array([1.0, -1.0], np.float32))
    q.grad = np.ones(2, np.float32)
    AdamW([q], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(q.numpy(), [1 * 0.95 - 0.1, -1 * 0.95 - 0.1], rtol=1e-5)


def test_param_groups_and_zero_grad(rng):
    a, b = Parameter(np.ones(3, np.float32)), Parameter(np.ones(2, np.float32))
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    a.grad = np.ones(3, np.float32)
    b.grad = np.ones(2, np.float32)
    opt.step()
    np.testing.assert_allclose(a.numpy(), 0.9)
    np.testing.assert_allclose(b.numpy(), 0.0)
    opt.param_groups[0]["lr"] = 0.5  # what a scheduler does
    opt.step()
    np.testing.assert_allclose(a.numpy(), 0.4)
    np.testing.assert_allclose(b.numpy(), -1.0)
    opt.zero_grad(set_to_none=False)
    assert not a.grad_array.any() and not b.grad_array.any()
    opt.zero_grad()  # torch 2's default: no gradient at all, and step() leaves such parameters be
    assert a.grad is None and b.grad is None
    opt.step()
    np.testing.assert_allclose(a.numpy(), 0.4)
    np.testing.assert_allclose(b.numpy(), -1.0)


@pytest.mark.parametrize("cls, cfg", [(SGD, dict(lr=0.05, momentum=0.9, nesterov=True)), (Adam, dict(lr=0.01)),
                                      (AdamW, dict(lr=0.01, weight_decay=0.1))], ids=["SGD", "Adam", "AdamW"])
def test_state_dict_resumes_exactly(cls, cfg, rng):
    init, grads = problem(rng)
    full, _ = run_ours(cls, cfg, init, grads)

    params = [Parameter(a) for a in init]
    opt = cls(params, **cfg)
    for t in range(STEPS):
        if t == 2:  # save, rebuild from scratch, load, continue
            saved = copy.deepcopy(opt.state_dict())
            params = [Parameter(p.numpy().copy()) for p in params]
            opt = cls(params, lr=123.0)
            opt.load_state_dict(saved)
            assert opt.param_groups[0]["lr"] == cfg["lr"]
        for p, g in zip(params, grads):
            p.grad = g[t]
        opt.step()
    for p, q in zip(params, full):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_optimizer_argument_errors():
    p = [Parameter(np.zeros(2, np.float32))]
    with pytest.raises(ValueError, match="nesterov"):
        SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="nesterov"):
        SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match="lr"):
        Adam(p, lr=-1)
    with pytest.raises(ValueError, match="weight_decay"):
        SGD(p, lr=0.1, weight_decay=-0.1)
    with pytest.raises(ValueError, match="empty"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match="Parameters"):
        SGD([np.zeros(2)], lr=0.1)
    with pytest.raises(ValueError, match="assigned grad is float64 on cpu, the tensor float32"):
        p[0].grad = np.zeros(2)  # the update kernels take the parameter's dtype only
    opt = SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="parameter groups"):
        opt.load_state_dict(SGD(p + p, lr=0.1).state_dict())


def test_optimizer_trains_a_model_parameters(rng):
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    opt = AdamW(model.parameters(), lr=0.01)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    before = [p.numpy().copy() for p in model.parameters()]
    opt.zero_grad()
    model(x).sum().backward()
    opt.step()
    assert all(not np.array_equal(p.numpy(), b) for p, b in zip(model.parameters(), before))
