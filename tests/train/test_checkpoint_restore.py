"""Restoring a checkpoint checks every part against the trainer before anything changes:
optimizer moments and counts (named by parameter), scheduler settings and counters, RNG
and loader states, callbacks; and the loss guard's endings (a non-finite or diverged loss)
say whether a checkpoint was kept."""
import copy

import numpy as np
import pytest

from engine import nn, optim
from engine.train import CheckpointError, ModelCheckpoint, load_checkpoint

from helpers.checkpoint_corruptions import read_parts, write_parts
from helpers.train import make_trainer


def _trained(**kw):
    t = make_trainer(**kw)
    t.fit(1)
    return t


# --- the optimizers -----------------------------------------------------------------------------
@pytest.mark.parametrize("edit,match", [
    (lambda s: s.update(exp_avg=s["exp_avg"][..., :2].copy()), "exp_avg has shape .*; the parameter has shape"),
    (lambda s: s.update(exp_avg=s["exp_avg"].astype(np.int32)), "exp_avg is an array .* not a float array"),
    (lambda s: s.update(exp_avg_sq=-s["exp_avg_sq"] - 1), "exp_avg_sq holds negative values"),
    (lambda s: s.update(exp_avg=s["exp_avg"] * np.nan), "exp_avg holds non-finite values"),
    (lambda s: s.update(step=0), "step is 0, not a whole number >= 1"),
    (lambda s: s.pop("exp_avg_sq"), r"holds \['exp_avg', 'step'\]; it must hold"),
], ids=["shape", "dtype", "negative", "nan", "step", "missing"])
def test_adam_refuses_a_state_that_does_not_fit_and_changes_nothing(edit, match):
    t = _trained(opt="adam", scheduler=None)
    opt = t.optimizer
    sd = copy.deepcopy(opt.state_dict())
    before = {i: {k: np.array(v) for k, v in s.items()} for i, s in opt.state.items()}
    edit(sd["state"][0])
    names = [n for n, _ in t.model.named_parameters()]
    with pytest.raises(ValueError, match="Adam state of parameter '0.weight':? " + match):
        opt.load_state_dict(sd, param_names=names)
    with pytest.raises(ValueError, match="parameter 0:? "):
        opt.check_state_dict(sd)
    for i, s in opt.state.items():                       # nothing changed
        for k, v in s.items():
            np.testing.assert_array_equal(np.asarray(v), before[i][k])


@pytest.mark.parametrize("edit,match", [
    (lambda sd: sd["param_groups"][0].update(lr=float("nan")), "lr must be a finite number >= 0"),
    (lambda sd: sd["param_groups"][0].update(momentum=-1), "momentum must be a finite number >= 0"),
    (lambda sd: sd["param_groups"][0].update(params=[i + 1 for i in sd["param_groups"][0]["params"]]),
     "lists parameters"),
    (lambda sd: sd["state"].update({99: {}}), "state for parameter 99"),
    (lambda sd: sd["state"][0].update(momentum_buffer=np.zeros(3, np.float32)), "momentum_buffer has shape"),
], ids=["nan-lr", "momentum", "params", "index", "buffer"])
def test_sgd_refuses_a_state_that_does_not_fit(edit, match):
    t = _trained(opt="sgd", scheduler=None)
    sd = copy.deepcopy(t.optimizer.state_dict())
    edit(sd)
    with pytest.raises(ValueError, match=match):
        t.optimizer.load_state_dict(sd)


# --- the schedulers --------------------------------------------------------------------------------
def _sched(kind, opt):
    return {"step": lambda: optim.StepLR(opt, 2, 0.5), "onecycle": lambda: optim.OneCycleLR(opt, 0.1, total_steps=10),
            "plateau": lambda: optim.ReduceLROnPlateau(opt, patience=2),
            "warm": lambda: optim.linear_warmup(opt, 3, optim.CosineAnnealingLR(opt, 5))}[kind]()


@pytest.mark.parametrize("kind,edit,match", [
    ("step", lambda s: s.update(gamma=float("inf")), "gamma must be a finite number"),
    ("step", lambda s: s.update(step_size=0), "step_size must be a whole number >= 1"),
    ("step", lambda s: s.update(base_lrs=[0.1, 0.2]), "base_lrs must be a list of 1 rate"),
    ("step", lambda s: s.update(nonsense=1), "unknown entry 'nonsense'"),
    ("onecycle", lambda s: s.update(last_epoch=11), "last_epoch 11 is past total_steps 10"),
    ("onecycle", lambda s: s.update(anneal_strategy="zigzag"), "anneal_strategy must be one of"),
    ("plateau", lambda s: s.update(patience=-3), "patience must be a whole number >= 0"),
    ("plateau", lambda s: s.update(best="high"), "best must be a number"),
    ("warm", lambda s: s["schedulers"][1].update(T_max=-1), "T_max must be a whole number >= 1"),
    ("warm", lambda s: s.update(schedulers=[]), "SequentialLR of a different length"),
], ids=["gamma", "step-size", "groups", "unknown", "past-end", "anneal", "patience", "best", "child", "children"])
def test_schedulers_refuse_a_state_that_does_not_fit_and_change_nothing(kind, edit, match):
    opt = optim.SGD([nn.Parameter(np.zeros(3, np.float32))], lr=0.1, momentum=0.9)
    s = _sched(kind, opt)
    saved = copy.deepcopy(s.state_dict())
    edit(saved)
    before = s.state_dict()
    with pytest.raises(ValueError, match=match):
        s.load_state_dict(saved)
    assert s.state_dict() == before


def test_scheduler_mismatch_names_the_setting():
    opt = optim.SGD([nn.Parameter(np.zeros(3, np.float32))], lr=0.1, momentum=0.9)
    a, b = optim.OneCycleLR(opt, 0.1, total_steps=10), optim.OneCycleLR(opt, 0.1, total_steps=20)
    a.step()
    assert a.mismatch(b.state_dict()) == "total_steps 20 (this run's: 10)"
    assert b.mismatch(a.state_dict()) == "total_steps 10 (this run's: 20)"
    assert optim.OneCycleLR(opt, 0.1, total_steps=10).mismatch(a.state_dict()) is None    # counters aside


# --- Trainer.restore -------------------------------------------------------------------------------
def _edited(tmp_path, t, edit):
    path = t.save_checkpoint(tmp_path / "c.npz")
    packed, arrays = read_parts(path)
    edit(packed, arrays)
    write_parts(path, packed, arrays)
    return load_checkpoint(path)


@pytest.mark.parametrize("edit,match", [
    (lambda p, a: p["scheduler"]["state"].update(max_lrs=[-1.0]), "is damaged: scheduler state: OneCycleLR"),
    (lambda p, a: p["rng"]["init"]["state"].update(state=-1), "is damaged: rng.init: "),
    (lambda p, a: p["callbacks"]["ModelCheckpoint"].update(best="x"), "is damaged: callbacks.ModelCheckpoint: "),
    (lambda p, a: p["history"].append({"epoch": 1}), "history has 2 epoch rows for 1 trained epochs"),
    (lambda p, a: p["trainer"].update(batch_in_epoch=999), "is 999 batches into an epoch of 12"),
    (lambda p, a: p["scheduler"]["state"].update(total_steps=13), "schedule with total_steps 13"),
    (lambda p, a: a.update({k: v[..., :1].copy() for k, v in a.items() if k.endswith("exp_avg_sq")}),
     "exp_avg_sq has shape"),
], ids=["scheduler", "rng", "callback", "history", "position", "other-schedule", "moments"])
def test_restore_checks_every_part_and_changes_nothing(tmp_path, edit, match):
    t = _trained(callbacks=[ModelCheckpoint(tmp_path / "run")])
    c = _edited(tmp_path, t, edit)
    fresh = make_trainer(callbacks=[ModelCheckpoint(tmp_path / "run")])
    weights = {k: v.copy() for k, v in fresh.model.state_dict().items()}
    lr, state = fresh.lr(), fresh.scheduler.state_dict()
    with pytest.raises(CheckpointError, match=match) as e:
        fresh.restore(c)
    assert str(e.value).startswith(f"checkpoint {c.path} ") and "\n" not in str(e.value)
    assert fresh.epoch == fresh.step == 0 and fresh.history == [] and fresh.optimizer.state == {}
    assert fresh.lr() == lr and fresh.scheduler.state_dict() == state
    for k, v in fresh.model.state_dict().items():
        np.testing.assert_array_equal(v, weights[k])


# --- the loss guard --------------------------------------------------------------------------------
class ScaledAtCall(nn.CrossEntropyLoss):
    """Cross-entropy multiplied by ``factor`` at its ``at``-th training call (1-based)."""

    def __init__(self, at, factor, model):
        super().__init__()
        self.at, self.factor, self.calls, self.model = at, factor, 0, model

    def forward(self, logits, targets):
        loss = super().forward(logits, targets)
        if self.model.training:
            self.calls += 1
            if self.calls == self.at:
                return loss * self.factor
        return loss


def test_a_diverged_loss_stops_the_run_and_says_no_checkpoint_was_kept():
    t = make_trainer(scheduler=None)
    t.loss = ScaledAtCall(3, 1e6, t.model)
    done = t.fit(2)
    assert done.reason == "nan" and t.step == 2
    assert "at step 3" in done.message and "more than 10,000 times the run's reference loss" in done.message
    assert "no checkpoint had been saved" in done.message


def test_a_spike_within_the_limit_trains_on():
    t = make_trainer(scheduler=None)
    t.loss = ScaledAtCall(3, 100.0, t.model)
    assert t.fit(1).reason == "completed"


def test_the_guard_names_the_checkpoint_it_keeps(tmp_path):
    t = make_trainer(scheduler=None, callbacks=[ModelCheckpoint(tmp_path)])
    t.loss = ScaledAtCall(len(t.train_loader) + 2, float("nan"), t.model)
    done = t.fit(2)
    assert done.reason == "nan" and "the loss became nan" in done.message
    assert f"the last good checkpoint {tmp_path / 'last.npz'} is kept" in done.message


def test_the_reference_loss_is_saved_and_restored(tmp_path):
    t = _trained(scheduler=None)
    ref = t._loss_reference
    assert ref >= max(np.log(4), 1.0)
    fresh = make_trainer(scheduler=None)
    fresh.restore(t.save_checkpoint(tmp_path / "c.npz"))
    assert fresh._loss_reference == ref
