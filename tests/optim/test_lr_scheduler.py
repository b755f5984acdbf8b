"""Learning-rate schedules against their formulas, against torch where installed, and
through a state_dict round trip (a restored schedule continues exactly)."""
import json
import math

import numpy as np
import pytest

from engine import optim
from engine.nn import Parameter


def make_opt(kind="sgd", lr=0.1, groups=1):
    params = [Parameter(np.zeros(3, np.float32)) for _ in range(groups)]
    if groups > 1:
        params = [{"params": [p], "lr": lr * (i + 1)} for i, p in enumerate(params)]
    if kind == "sgd":
        return optim.SGD(params, lr=lr, momentum=0.9)
    return optim.Adam(params, lr=lr)


def run(sched, n, metrics=None):
    out = [sched.get_last_lr()[0]]
    for i in range(n):
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[i])
        out.append(sched.optimizer.param_groups[0]["lr"])
    return out


def test_step_lr_formula():
    o = make_opt(lr=0.1)
    lrs = run(optim.StepLR(o, step_size=3, gamma=0.5), 10)
    assert lrs == pytest.approx([0.1 * 0.5 ** (t // 3) for t in range(11)], rel=1e-12)


def test_multistep_lr_formula():
    o = make_opt(lr=1.0)
    lrs = run(optim.MultiStepLR(o, milestones=[5, 2], gamma=0.1), 8)
    want = [1.0 * 0.1 ** sum(t >= m for m in (2, 5)) for t in range(9)]
    assert lrs == pytest.approx(want, rel=1e-12)


def test_exponential_formula():
    o = make_opt(lr=0.2)
    assert run(optim.ExponentialLR(o, gamma=0.9), 5) == pytest.approx([0.2 * 0.9 ** t for t in range(6)])


def test_cosine_formula():
    o = make_opt(lr=0.1)
    lrs = run(optim.CosineAnnealingLR(o, T_max=10, eta_min=0.001), 10)
    want = [0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * t / 10)) / 2 for t in range(11)]
    assert lrs == pytest.approx(want, rel=1e-12)
    assert lrs[-1] == pytest.approx(0.001)


def test_linear_warmup_formula():
    o = make_opt(lr=0.1)
    lrs = run(optim.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=4), 6)
    want = [0.1 * (0.25 + 0.75 * min(t, 4) / 4) for t in range(7)]
    assert lrs == pytest.approx(want, rel=1e-12)


def test_warmup_then_cosine():
    o = make_opt(lr=0.1)
    s = optim.linear_warmup(o, 3, optim.CosineAnnealingLR(o, T_max=5), start_factor=0.1)
    lrs = run(s, 8)
    warm = [0.1 * (0.1 + 0.9 * t / 3) for t in range(3)]
    cos = [0.1 * (1 + math.cos(math.pi * t / 5)) / 2 for t in range(6)]
    assert lrs == pytest.approx(warm + cos, rel=1e-12)


def onecycle_reference(t, total, max_lr, pct=0.3, div=25.0, final_div=1e4):
    """Smith's 1cycle with cosine annealing, written out."""
    lo = max_lr / div
    end_up = pct * total - 1
    if t <= end_up:
        p = t / end_up
        return lo + (max_lr - lo) * (1 - math.cos(math.pi * p)) / 2
    p = (t - end_up) / (total - 1 - end_up)
    return lo / final_div + (max_lr - lo / final_div) * (1 + math.cos(math.pi * p)) / 2


def test_onecycle_formula_and_momentum():
    o = make_opt("sgd", lr=0.5)
    s = optim.OneCycleLR(o, max_lr=1.0, total_steps=20)
    lrs = run(s, 19)
    assert lrs == pytest.approx([onecycle_reference(t, 20, 1.0) for t in range(20)], rel=1e-9)
    assert max(lrs) == pytest.approx(1.0, rel=0.05)
    assert o.param_groups[0]["momentum"] == pytest.approx(0.95)   # back at max momentum at the end
    with pytest.raises(ValueError, match="total_steps"):
        s.step()
        s.step()


def test_onecycle_cycles_adam_beta1():
    o = make_opt("adam", lr=0.01)
    s = optim.OneCycleLR(o, max_lr=0.01, total_steps=10)
    assert o.param_groups[0]["betas"][0] == pytest.approx(0.95)
    s.step()
    b1 = o.param_groups[0]["betas"][0]
    assert 0.85 < b1 < 0.95
    s.step()
    assert o.param_groups[0]["betas"][0] == pytest.approx(0.85)   # the peak of the rate
    assert o.param_groups[0]["betas"][1] == 0.999


def test_plateau_reduces_after_patience():
    o = make_opt(lr=1.0)
    s = optim.ReduceLROnPlateau(o, factor=0.5, patience=2)
    # improves, then stalls: reduce happens when more than 2 bad epochs in a row
    lrs = run(s, 7, metrics=[1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9])
    assert lrs == [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5]


def test_plateau_max_mode_cooldown_min_lr():
    o = make_opt(lr=1.0)
    s = optim.ReduceLROnPlateau(o, mode="max", factor=0.1, patience=0, cooldown=1, min_lr=0.05)
    lrs = run(s, 5, metrics=[0.5, 0.4, 0.4, 0.4, 0.4])
    assert lrs == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.05, 0.05])


def scheds(o):
    yield optim.StepLR(o, 2, 0.5)
    yield optim.MultiStepLR(o, [1, 4], 0.3)
    yield optim.CosineAnnealingLR(o, 7, 0.01)
    yield optim.LinearLR(o, 0.2, 1.0, 3)
    yield optim.OneCycleLR(o, max_lr=0.3, total_steps=12)
    yield optim.linear_warmup(o, 2, optim.CosineAnnealingLR(o, 6))


@pytest.mark.parametrize("i", range(6))
def test_state_dict_round_trip_continues_exactly(i):
    o1, o2 = make_opt(), make_opt()
    s1 = list(scheds(o1))[i]
    for _ in range(4):
        s1.step()
    state = json.loads(json.dumps(s1.state_dict()))       # JSON-able
    groups = json.loads(json.dumps(o1.state_dict()["param_groups"]))
    s2 = list(scheds(o2))[i]
    for g, saved in zip(o2.param_groups, groups):
        g.update({k: (tuple(v) if isinstance(v, list) else v) for k, v in saved.items() if k != "params"})
    s2.load_state_dict(state)
    for _ in range(6):
        s1.step()
        s2.step()
        assert o1.param_groups[0]["lr"] == o2.param_groups[0]["lr"]


def test_plateau_state_round_trip():
    o1, o2 = make_opt(), make_opt()
    s1 = optim.ReduceLROnPlateau(o1, patience=1)
    s1.step(1.0)
    s1.step(2.0)
    s2 = optim.ReduceLROnPlateau(o2, patience=1)
    s2.load_state_dict(json.loads(json.dumps(s1.state_dict())))
    s1.step(2.0)
    s2.step(2.0)
    assert o1.param_groups[0]["lr"] == o2.param_groups[0]["lr"] == pytest.approx(0.01)


def test_multiple_groups_have_their_own_base_lr():
    o = make_opt(lr=0.1, groups=2)
    s = optim.StepLR(o, 1, 0.5)
    s.step()
    assert [g["lr"] for g in o.param_groups] == pytest.approx([0.05, 0.1])


# --- torch, where installed ----------------------------------------------------------------------


def _torch():
    return pytest.importorskip("torch")


def torch_pair(kind="sgd", lr=0.1):
    t = _torch()
    p = [t.nn.Parameter(t.zeros(3))]
    return (t.optim.SGD(p, lr=lr, momentum=0.9) if kind == "sgd" else t.optim.Adam(p, lr=lr)), t


CASES = {
    "step": (lambda o: optim.StepLR(o, 3, 0.5), lambda o, t: t.optim.lr_scheduler.StepLR(o, 3, 0.5)),
    "multistep": (lambda o: optim.MultiStepLR(o, [2, 5, 9], 0.3),
                  lambda o, t: t.optim.lr_scheduler.MultiStepLR(o, [2, 5, 9], 0.3)),
    "exp": (lambda o: optim.ExponentialLR(o, 0.8), lambda o, t: t.optim.lr_scheduler.ExponentialLR(o, 0.8)),
    "cosine": (lambda o: optim.CosineAnnealingLR(o, 12, 0.001),
               lambda o, t: t.optim.lr_scheduler.CosineAnnealingLR(o, 12, 0.001)),
    "linear": (lambda o: optim.LinearLR(o, 0.1, 1.0, 5), lambda o, t: t.optim.lr_scheduler.LinearLR(o, 0.1, 1.0, 5)),
    "onecycle": (lambda o: optim.OneCycleLR(o, 0.5, total_steps=13),
                 lambda o, t: t.optim.lr_scheduler.OneCycleLR(o, 0.5, total_steps=13)),
    "onecycle3": (lambda o: optim.OneCycleLR(o, 0.5, total_steps=20, three_phase=True, anneal_strategy="linear"),
                  lambda o, t: t.optim.lr_scheduler.OneCycleLR(o, 0.5, total_steps=20, three_phase=True,
                                                               anneal_strategy="linear")),
    "warmup_cosine": (lambda o: optim.SequentialLR(o, [optim.LinearLR(o, 0.1, 1.0, 3), optim.CosineAnnealingLR(o, 8)],
                                                   [3]),
                      lambda o, t: t.optim.lr_scheduler.SequentialLR(
                          o, [t.optim.lr_scheduler.LinearLR(o, 0.1, 1.0, 3),
                              t.optim.lr_scheduler.CosineAnnealingLR(o, 8)], [3])),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch(name):
    import warnings
    ours_f, theirs_f = CASES[name]
    o = make_opt("sgd")
    to, t = torch_pair("sgd")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, theirs = ours_f(o), theirs_f(to, t)
        n = 12
        for i in range(n):
            assert o.param_groups[0]["lr"] == pytest.approx(to.param_groups[0]["lr"], rel=1e-9, abs=1e-12), i
            assert o.param_groups[0]["momentum"] == pytest.approx(to.param_groups[0]["momentum"], rel=1e-9), i
            to.step()
            ours.step()
            theirs.step()


def test_plateau_matches_torch():
    o = make_opt("sgd")
    to, t = torch_pair("sgd")
    ours = optim.ReduceLROnPlateau(o, factor=0.5, patience=1, threshold=0.01, cooldown=1)
    theirs = t.optim.lr_scheduler.ReduceLROnPlateau(to, factor=0.5, patience=1, threshold=0.01, cooldown=1)
    for m in [1.0, 0.999, 0.8, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]:
        ours.step(m)
        theirs.step(m)
        assert o.param_groups[0]["lr"] == pytest.approx(to.param_groups[0]["lr"], rel=1e-12)
