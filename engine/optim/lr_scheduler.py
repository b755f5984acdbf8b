"""Learning-rate schedules, argued and stepped as torch.optim.lr_scheduler.

Each scheduler edits ``optimizer.param_groups[i]["lr"]``. Construction performs
step 0 (the groups get the schedule's first rate); every ``step()`` advances one
unit: one epoch, or one batch for the per-batch schedules (``OneCycleLR``, and any
scheduler you build in units of steps). ``interval`` says which unit a
:class:`engine.train.Trainer` steps it in ("epoch" or "step"; you may set it).

Every rate is computed in closed form from the step counter ``last_epoch`` and the
base rates, so a schedule restored from ``state_dict()`` continues exactly, and
``state_dict()`` is plain JSON-able data (no functions, no arrays). ``load_state_dict``
checks every entry (the ones this scheduler keeps, each in its range) before it changes
anything, and raises ValueError naming the first that does not fit.

A per-step schedule planned over another number of steps per epoch (a distributed run
resumed on another number of ranks) continues as the same function of the epoch fraction:
``mismatch(state, scale)`` compares the saved settings counted in steps (``_step_keys``)
after scaling them by ``scale`` (new steps per epoch / old), and ``seek(t)`` moves the
scheduler to step ``t`` of its own plan.
"""
from __future__ import annotations

import math
from bisect import bisect_right

from ._checks import check_range

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR",
           "SequentialLR", "OneCycleLR", "ReduceLROnPlateau", "linear_warmup"]


def _check_optimizer(optimizer, who):
    if not hasattr(optimizer, "param_groups"):
        raise TypeError(f"{who} needs an optimizer (engine.optim.SGD/Adam/AdamW), got {type(optimizer).__name__}")


def _is_whole(value) -> bool:
    """An int or a numpy integer, not a bool."""
    return not isinstance(value, bool) and hasattr(type(value), "__index__")


def _whole(who: str, key: str, value, minimum: int = 0) -> int:
    """A whole number >= minimum; ValueError otherwise."""
    if not _is_whole(value) or not minimum <= value < 2**53:
        raise ValueError(f"{who}: {key} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def _rates(who: str, key: str, value, n: int) -> list:
    """One finite rate >= 0 per parameter group."""
    if not isinstance(value, (list, tuple)) or len(value) != n:
        raise ValueError(f"{who}: {key} must be a list of {n} rate{'s' if n != 1 else ''}, got {value!r}")
    return [check_range(who, f"{key}[{i}]", v) for i, v in enumerate(value)]


def _choice(who: str, key: str, value, choices) -> str:
    if value not in choices:
        raise ValueError(f"{who}: {key} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def _flag(who: str, key: str, value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{who}: {key} must be True or False, got {value!r}")
    return value


def _plain(v):
    return [_plain(x) for x in v] if isinstance(v, (list, tuple)) else v


def _same_scaled(key_kind: str, saved, own, scale: float) -> bool:
    """Whether a saved setting counted in steps ("steps": a count or a list of counts) or a
    per-step factor ("factor") is ``own`` once a step is 1/``scale`` of the saved one: each
    count within the roundings of planning it in whole steps, twice, each factor to 1e-9."""
    if isinstance(saved, list) or isinstance(own, list):
        return (isinstance(saved, list) and isinstance(own, list) and len(saved) == len(own)
                and all(_same_scaled(key_kind, a, b, scale) for a, b in zip(saved, own)))
    if key_kind == "factor":
        return math.isclose(saved ** (1.0 / scale), own, rel_tol=1e-9)
    return abs(saved * scale - own) <= (scale + 1) / 2 + 1e-9


def _mismatch(sched, state, scale: float = 1.0) -> str | None:
    """The first setting (an entry that is not one of ``sched._counters``) in ``state`` that
    differs from ``sched``'s own, as "name saved (this run's: value)"; None if none does.
    With ``scale`` != 1 the settings counted in steps are compared as :func:`_same_scaled`."""
    own = sched.state_dict()
    for k, v in state.items():
        if k in sched._counters or k in ("type", "schedulers") or k not in own:
            continue
        kind = sched._step_keys.get(k) if scale != 1 else None
        if not (_same_scaled(kind, v, own[k], scale) if kind else _plain(v) == _plain(own[k])):
            shown = f" planned for {scale:.4g} times as many steps per epoch" if kind else ""
            return f"{k} {v!r} (this run's{shown}: {own[k]!r})"
    return None


def _checked_state(sched, state, rules: dict, who: str = "") -> dict:
    """``state`` less its "type", after checking the type and each entry with ``rules``
    (key -> check(who, key, value)); unknown entries are refused."""
    who = who or f"{type(sched).__name__} state"
    if not isinstance(state, dict):
        raise ValueError(f"{who} must be a dict, got {state!r}")
    kind = state.get("type", type(sched).__name__)
    if kind != type(sched).__name__:
        raise ValueError(f"scheduler state is from a {kind}, not a {type(sched).__name__}")
    out = {}
    for k, v in state.items():
        if k == "type":
            continue
        if k not in rules:
            raise ValueError(f"{who}: unknown entry {k!r}")
        rules[k](who, k, v)
        out[k] = v
    return out


class LRScheduler:
    """Base class: subclasses give ``lr_at(t)``, the rates (one per group) at step ``t``."""

    interval = "epoch"
    _state_keys: tuple = ()
    _counters = ("last_epoch", "_last_lr")     # state that advances; the rest are the schedule's settings
    _step_keys: dict = {}    # settings counted in steps ("steps") or applied per step ("factor")

    def __init__(self, optimizer, last_epoch: int = -1):
        _check_optimizer(optimizer, type(self).__name__)
        self.optimizer = optimizer
        if last_epoch == -1:
            for g in optimizer.param_groups:
                g.setdefault("initial_lr", g["lr"])
        else:
            for i, g in enumerate(optimizer.param_groups):
                if "initial_lr" not in g:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] "
                                   "when resuming an optimizer")
        self.base_lrs = [float(g["initial_lr"]) for g in optimizer.param_groups]
        self.last_epoch = int(last_epoch)
        self._last_lr = [float(g["lr"]) for g in optimizer.param_groups]
        self.step()

    def lr_at(self, t: int) -> list[float]:
        raise NotImplementedError

    def step(self) -> None:
        self.seek(self.last_epoch + 1)

    def seek(self, t: int) -> None:
        """Moves to step ``t``: the counter and the optimizer's rates become those of ``t``."""
        self.last_epoch = int(t)
        self._apply(self.lr_at(self.last_epoch))

    def _apply(self, lrs):
        for g, lr in zip(self.optimizer.param_groups, lrs):
            g["lr"] = float(lr)
        self._last_lr = [float(lr) for lr in lrs]

    def get_last_lr(self) -> list[float]:
        """The rates the last step set, one per parameter group."""
        return list(self._last_lr)

    # --- state ------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """JSON-able state; the optimizer is not part of it (as torch)."""
        sd = {"type": type(self).__name__, "last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs),
              "_last_lr": list(self._last_lr), "interval": self.interval}
        for k in self._state_keys:
            v = getattr(self, k)
            sd[k] = list(v) if isinstance(v, tuple) else v
        return sd

    def _rules(self) -> dict:
        """Checks of the state entries: key -> check(who, key, value)."""
        n = len(self.optimizer.param_groups)
        return {"last_epoch": _whole, "interval": lambda w, k, v: _choice(w, k, v, ("epoch", "step")),
                "base_lrs": lambda w, k, v: _rates(w, k, v, n), "_last_lr": lambda w, k, v: _rates(w, k, v, n)}

    def _checked(self, state: dict) -> dict:
        """The entries of ``state`` to set, all checked (ValueError otherwise)."""
        return _checked_state(self, state, self._rules())

    def check_state_dict(self, state: dict) -> None:
        """Raises the ValueError :meth:`load_state_dict` would raise; changes nothing."""
        self._checked(state)

    def mismatch(self, state: dict, scale: float = 1.0) -> str | None:
        """What setting of a saved ``state`` differs from this scheduler's (its counters
        aside), or None: a run continues only under the schedule it was planned with.
        ``scale``: this plan's steps per epoch / the saved plan's (its step counts and
        per-step factors are compared after scaling)."""
        return _mismatch(self, state, scale)

    def load_state_dict(self, state: dict) -> None:
        """Restores ``state_dict()``'s output; nothing changes unless every entry fits."""
        self._set(self._checked(state))

    def _set(self, entries: dict) -> None:
        for k, v in entries.items():
            setattr(self, k, list(v) if isinstance(v, tuple) else v)
        self._apply(self._last_lr)

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._state_keys)
        return f"{type(self).__name__}({args})"


def _milestones(who, key, value):
    """Whole numbers >= 0, in order."""
    if not isinstance(value, list) or any(not _is_whole(m) or m < 0 for m in value):
        raise ValueError(f"{who}: {key} must be a list of whole numbers >= 0, got {value!r}")
    return value


class StepLR(LRScheduler):
    """lr = base * gamma ** (t // step_size)."""

    _state_keys = ("step_size", "gamma")
    _step_keys = {"step_size": "steps"}

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size = _whole("StepLR", "step_size", step_size, 1)
        self.gamma = check_range("StepLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def _rules(self):
        return {**super()._rules(), "step_size": lambda w, k, v: _whole(w, k, v, 1), "gamma": check_range}

    def lr_at(self, t):
        return [b * self.gamma ** (t // self.step_size) for b in self.base_lrs]


class MultiStepLR(LRScheduler):
    """lr = base * gamma ** (number of milestones <= t)."""

    _state_keys = ("milestones", "gamma")
    _step_keys = {"milestones": "steps"}

    def __init__(self, optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        self.milestones = sorted(int(m) for m in _milestones("MultiStepLR", "milestones", list(milestones)))
        self.gamma = check_range("MultiStepLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def _rules(self):
        return {**super()._rules(), "milestones": _milestones, "gamma": check_range}

    def lr_at(self, t):
        return [b * self.gamma ** bisect_right(self.milestones, t) for b in self.base_lrs]


class ExponentialLR(LRScheduler):
    """lr = base * gamma ** t."""

    _state_keys = ("gamma",)
    _step_keys = {"gamma": "factor"}

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = check_range("ExponentialLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def _rules(self):
        return {**super()._rules(), "gamma": check_range}

    def lr_at(self, t):
        return [b * self.gamma ** t for b in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base - eta_min) * (1 + cos(pi * t / T_max)) / 2."""

    _state_keys = ("T_max", "eta_min")
    _step_keys = {"T_max": "steps"}

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_max = _whole("CosineAnnealingLR", "T_max", T_max, 1)
        self.eta_min = check_range("CosineAnnealingLR", "eta_min", eta_min)
        super().__init__(optimizer, last_epoch)

    def _rules(self):
        return {**super()._rules(), "T_max": lambda w, k, v: _whole(w, k, v, 1), "eta_min": check_range}

    def lr_at(self, t):
        c = (1 + math.cos(math.pi * t / self.T_max)) / 2
        return [self.eta_min + (b - self.eta_min) * c for b in self.base_lrs]


class LinearLR(LRScheduler):
    """Linear warm-up (or decay): lr = base * f(t), f going linearly from start_factor at
    t = 0 to end_factor at t = total_iters, and staying there."""

    _state_keys = ("start_factor", "end_factor", "total_iters")
    _step_keys = {"total_iters": "steps"}

    def __init__(self, optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1):
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise ValueError("LinearLR: start_factor must be in (0, 1] and end_factor in [0, 1], "
                             f"got {start_factor!r} and {end_factor!r}")
        if int(total_iters) < 1:
            raise ValueError(f"LinearLR: total_iters must be >= 1, got {total_iters!r}")
        self.start_factor, self.end_factor = float(start_factor), float(end_factor)
        self.total_iters = int(total_iters)
        super().__init__(optimizer, last_epoch)

    def _rules(self):
        return {**super()._rules(), "start_factor": lambda w, k, v: check_range(w, k, v, 0, 1, low_open=True),
                "end_factor": lambda w, k, v: check_range(w, k, v, 0, 1),
                "total_iters": lambda w, k, v: _whole(w, k, v, 1)}

    def lr_at(self, t):
        f = self.start_factor + (self.end_factor - self.start_factor) * min(t, self.total_iters) / self.total_iters
        return [b * f for b in self.base_lrs]


class SequentialLR(LRScheduler):
    """Runs ``schedulers[0]`` until ``milestones[0]``, then ``schedulers[1]`` counting from 0,
    and so on (torch's SequentialLR); e.g. linear warm-up then cosine decay."""

    def __init__(self, optimizer, schedulers, milestones, last_epoch: int = -1):
        schedulers = list(schedulers)
        if len(schedulers) < 1 or len(milestones) != len(schedulers) - 1:
            raise ValueError("SequentialLR: needs n schedulers and n - 1 milestones, "
                             f"got {len(schedulers)} and {len(milestones)}")
        for s in schedulers:
            if s.optimizer is not optimizer:
                raise ValueError("SequentialLR: every scheduler must drive the same optimizer")
            if isinstance(s, (ReduceLROnPlateau, SequentialLR)):
                raise ValueError(f"SequentialLR cannot contain a {type(s).__name__}")
        self.schedulers = schedulers
        self.milestones = [int(m) for m in milestones]
        # each child stepped once at construction; their rates are recomputed from counters
        for g in optimizer.param_groups:
            if "initial_lr" in g:
                g["lr"] = g["initial_lr"]
        super().__init__(optimizer, last_epoch)

    @property
    def interval(self):
        return self.schedulers[0].interval

    @interval.setter
    def interval(self, value):
        for s in self.schedulers:
            s.interval = value

    def lr_at(self, t):
        i = bisect_right(self.milestones, t)
        start = self.milestones[i - 1] if i > 0 else 0
        child = self.schedulers[i]
        child.last_epoch = t - start
        return child.lr_at(t - start)

    def state_dict(self):
        sd = super().state_dict()
        sd["milestones"] = list(self.milestones)
        sd["schedulers"] = [s.state_dict() for s in self.schedulers]
        return sd

    def _rules(self):
        n = len(self.schedulers) - 1
        rules = {**super()._rules(), "schedulers": lambda w, k, v: None}

        def milestones(who, key, value):
            if len(_milestones(who, key, value)) != n:
                raise ValueError(f"{who}: {key} must hold {n} milestone{'s' if n != 1 else ''}, got {value!r}")
        rules["milestones"] = milestones
        return rules

    def _checked(self, state):
        entries = super()._checked(state)
        children = entries.pop("schedulers", None)
        entries.pop("interval", None)
        if children is not None:
            if not isinstance(children, list) or len(children) != len(self.schedulers):
                raise ValueError("scheduler state holds a SequentialLR of a different length")
            entries["schedulers"] = [s._checked(cs) for s, cs in zip(self.schedulers, children)]
        return entries

    def _set(self, entries):
        for s, cs in zip(self.schedulers, entries.pop("schedulers", ())):
            s._set(cs)
        super()._set(entries)

    _step_keys = {"milestones": "steps"}

    def mismatch(self, state, scale: float = 1.0):
        children = state.get("schedulers") if isinstance(state, dict) else None
        if isinstance(children, list) and len(children) == len(self.schedulers):
            for s, cs in zip(self.schedulers, children):
                if isinstance(cs, dict) and s.mismatch(cs, scale):
                    return f"{type(s).__name__} {s.mismatch(cs, scale)}"
        return _mismatch(self, state, scale)

    def __repr__(self):
        return f"SequentialLR({self.schedulers!r}, milestones={self.milestones})"


def linear_warmup(optimizer, warmup_steps: int, after: LRScheduler | None = None, start_factor: float = 0.01):
    """Linear warm-up over ``warmup_steps`` from ``start_factor * lr`` to ``lr``, then
    ``after`` (built on the same optimizer, counting from 0) if given."""
    warm = LinearLR(optimizer, start_factor=start_factor, end_factor=1.0, total_iters=max(1, int(warmup_steps)))
    if after is None:
        return warm
    return SequentialLR(optimizer, [warm, after], milestones=[int(warmup_steps)])


class OneCycleLR(LRScheduler):
    """Smith's 1cycle policy, as torch: lr rises from max_lr/div_factor to max_lr over
    pct_start of total_steps, then anneals to max_lr/(div_factor*final_div_factor);
    momentum (SGD's momentum or Adam's beta1) cycles inversely. Stepped per batch."""

    interval = "step"
    _step_keys = {"total_steps": "steps"}
    _state_keys = ("total_steps", "pct_start", "anneal_strategy", "div_factor", "final_div_factor",
                   "three_phase", "cycle_momentum", "base_momentum", "max_momentum", "max_lrs")

    def __init__(self, optimizer, max_lr, total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum: float = 0.85, max_momentum: float = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1):
        _check_optimizer(optimizer, "OneCycleLR")
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR: give total_steps, or epochs and steps_per_epoch")
            total_steps = int(epochs) * int(steps_per_epoch)
        if int(total_steps) < 1:
            raise ValueError(f"OneCycleLR: total_steps must be >= 1, got {total_steps!r}")
        if not 0 <= pct_start <= 1:
            raise ValueError(f"OneCycleLR: pct_start must be in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.total_steps = int(total_steps)
        self.pct_start, self.anneal_strategy = float(pct_start), anneal_strategy
        self.div_factor, self.final_div_factor = float(div_factor), float(final_div_factor)
        self.three_phase, self.cycle_momentum = bool(three_phase), bool(cycle_momentum)
        self.base_momentum, self.max_momentum = float(base_momentum), float(max_momentum)
        groups = optimizer.param_groups
        max_lrs = list(max_lr) if isinstance(max_lr, (list, tuple)) else [max_lr] * len(groups)
        if len(max_lrs) != len(groups):
            raise ValueError(f"OneCycleLR: expected {len(groups)} max_lr values, got {len(max_lrs)}")
        self.max_lrs = [float(m) for m in max_lrs]
        if last_epoch == -1:
            for g, m in zip(groups, self.max_lrs):
                g["initial_lr"] = m / self.div_factor
                g["max_lr"] = m
                g["min_lr"] = g["initial_lr"] / self.final_div_factor
        if self.cycle_momentum:
            if not all("momentum" in g or "betas" in g for g in groups):
                raise ValueError("OneCycleLR: optimizer must support momentum (SGD) or betas (Adam) "
                                 "with cycle_momentum enabled")
            if last_epoch == -1:
                for g in groups:
                    self._set_momentum(g, self.max_momentum)
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _set_momentum(g, m):
        if "betas" in g:
            g["betas"] = (float(m), *tuple(g["betas"])[1:])
        else:
            g["momentum"] = float(m)

    def _phases(self):
        T = self.total_steps
        if self.three_phase:
            return [(float(self.pct_start * T) - 1, "initial_lr", "max_lr", self.max_momentum, self.base_momentum),
                    (float(2 * self.pct_start * T) - 2, "max_lr", "initial_lr", self.base_momentum, self.max_momentum),
                    (T - 1, "initial_lr", "min_lr", self.max_momentum, self.max_momentum)]
        return [(float(self.pct_start * T) - 1, "initial_lr", "max_lr", self.max_momentum, self.base_momentum),
                (T - 1, "max_lr", "min_lr", self.base_momentum, self.max_momentum)]

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _at(self, t):
        if t > self.total_steps:
            raise ValueError(f"OneCycleLR stepped {t} times, more than its total_steps = {self.total_steps} "
                             "(give it the run's full number of batches)")
        lrs, moms = [], []
        phases = self._phases()
        for g in self.optimizer.param_groups:
            start_step = 0.0
            for i, (end_step, lr_from, lr_to, m_from, m_to) in enumerate(phases):
                if t <= end_step or i == len(phases) - 1:
                    pct = (t - start_step) / (end_step - start_step) if end_step != start_step else 1.0
                    lrs.append(self._anneal(g[lr_from], g[lr_to], pct))
                    moms.append(self._anneal(m_from, m_to, pct))
                    break
                start_step = end_step
        return lrs, moms

    def lr_at(self, t):
        return self._at(t)[0]

    def _rules(self):
        n = len(self.optimizer.param_groups)
        return {**super()._rules(), "total_steps": lambda w, k, v: _whole(w, k, v, 1),
                "pct_start": lambda w, k, v: check_range(w, k, v, 0, 1),
                "anneal_strategy": lambda w, k, v: _choice(w, k, v, ("cos", "linear")),
                "div_factor": lambda w, k, v: check_range(w, k, v, low_open=True),
                "final_div_factor": lambda w, k, v: check_range(w, k, v, low_open=True),
                "three_phase": _flag, "cycle_momentum": _flag, "base_momentum": check_range,
                "max_momentum": check_range,
                "max_lrs": lambda w, k, v: _rates(w, k, v, n)}

    def _checked(self, state):
        entries = super()._checked(state)
        t, total = entries.get("last_epoch", self.last_epoch), entries.get("total_steps", self.total_steps)
        if t > total:
            raise ValueError(f"OneCycleLR state: last_epoch {t} is past total_steps {total}")
        return entries

    def seek(self, t):
        """Moves to step ``t``: the counter, the rates and the cycled momentum of ``t``."""
        self.last_epoch = int(t)
        lrs, moms = self._at(self.last_epoch)
        self._apply(lrs)
        if self.cycle_momentum:
            for g, m in zip(self.optimizer.param_groups, moms):
                self._set_momentum(g, m)


class ReduceLROnPlateau:
    """Multiplies the rate by ``factor`` when ``step(metric)`` has not improved for more than
    ``patience`` epochs (torch semantics: mode, threshold, threshold_mode, cooldown, min_lr, eps)."""

    interval = "epoch"
    _state_keys = ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lrs", "eps",
                   "best", "num_bad_epochs", "cooldown_counter", "last_epoch", "_last_lr")
    _counters = ("best", "num_bad_epochs", "cooldown_counter", "last_epoch", "_last_lr")

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0, min_lr=0.0,
                 eps: float = 1e-8):
        _check_optimizer(optimizer, "ReduceLROnPlateau")
        self.optimizer = optimizer
        n = len(optimizer.param_groups)
        min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * n
        _checked_state(self, dict(mode=mode, factor=factor, patience=patience, threshold=threshold,
                                  threshold_mode=threshold_mode, cooldown=cooldown, min_lrs=min_lrs, eps=eps),
                       self._rules(), who="ReduceLROnPlateau")
        self.min_lrs = [float(m) for m in min_lrs]
        self.mode, self.factor, self.patience = mode, float(factor), int(patience)
        self.threshold, self.threshold_mode = float(threshold), threshold_mode
        self.cooldown, self.eps = int(cooldown), float(eps)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [float(g["lr"]) for g in optimizer.param_groups]

    def is_better(self, a, best):
        if self.mode == "min":
            return a < (best * (1 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return a > (best * (1 + self.threshold) if self.threshold_mode == "rel" else best + self.threshold)

    def step(self, metrics) -> None:
        current = float(metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for g, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                old = float(g["lr"])
                new = max(old * self.factor, min_lr)
                if old - new > self.eps:
                    g["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [float(g["lr"]) for g in self.optimizer.param_groups]

    def get_last_lr(self):
        return list(self._last_lr)

    def state_dict(self):
        sd = {"type": "ReduceLROnPlateau", "interval": self.interval}
        for k in self._state_keys:
            v = getattr(self, k)
            # JSON has no infinity: keep it as a string
            sd[k] = ("inf" if v > 0 else "-inf") if isinstance(v, float) and math.isinf(v) else v
        return sd

    def _rules(self):
        n = len(self.optimizer.param_groups)

        def best(who, key, value):
            if value not in ("inf", "-inf") and (isinstance(value, bool) or not isinstance(value, (int, float))
                                                 or math.isnan(value)):
                raise ValueError(f"{who}: {key} must be a number, got {value!r}")
        return {"mode": lambda w, k, v: _choice(w, k, v, ("min", "max")),
                "factor": lambda w, k, v: check_range(w, k, v, 0, 1, low_open=True, high_open=True), "patience": _whole,
                "threshold": check_range, "threshold_mode": lambda w, k, v: _choice(w, k, v, ("rel", "abs")),
                "cooldown": _whole, "min_lrs": lambda w, k, v: _rates(w, k, v, n), "eps": check_range, "best": best,
                "num_bad_epochs": _whole, "cooldown_counter": _whole, "last_epoch": _whole,
                "_last_lr": lambda w, k, v: _rates(w, k, v, n),
                "interval": lambda w, k, v: _choice(w, k, v, ("epoch", "step"))}

    def check_state_dict(self, state: dict) -> None:
        """Raises the ValueError :meth:`load_state_dict` would raise; changes nothing."""
        _checked_state(self, state, self._rules())

    def mismatch(self, state: dict) -> str | None:
        """What setting of a saved ``state`` differs from this scheduler's (its counters
        aside), or None."""
        return _mismatch(self, state)

    def load_state_dict(self, state):
        """Restores ``state_dict()``'s output; nothing changes unless every entry fits."""
        for k, v in _checked_state(self, state, self._rules()).items():
            setattr(self, k, float(v) if k == "best" else list(v) if isinstance(v, tuple) else v)

    def __repr__(self):
        return (f"ReduceLROnPlateau(mode={self.mode!r}, factor={self.factor}, patience={self.patience}, "
                f"threshold={self.threshold})")
