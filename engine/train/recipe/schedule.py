"""A learning-rate schedule from its text (``--schedule``), with optional linear warm-up.

Every schedule but plateau is built in units of batches and steps once per batch, so a
cosine decays smoothly through each epoch and a warm-up composes with any of them; a
plateau schedule follows the validation loss at each epoch end.
"""
from __future__ import annotations

import math

from ... import optim
from .settings import RecipeError

SCHEDULES = ("none, step:EPOCHS[:GAMMA], multistep:E1,E2,...[:GAMMA], exp:GAMMA, cosine[:ETA_MIN], "
             "onecycle[:PCT_START], plateau[:PATIENCE[:FACTOR]]")

# the ':' parts each kind takes at most
_PARTS = {"none": 0, "step": 2, "multistep": 2, "exp": 1, "cosine": 1, "onecycle": 1, "plateau": 2}


def parse_schedule(text: str) -> tuple[str, list]:
    """(kind, values) of a schedule text: every value a finite number (EPOCHS and PATIENCE
    whole numbers, multistep's milestones a list of whole epochs >= 1); the ranges are
    checked when the scheduler is built (:func:`make_scheduler`)."""
    parts = str(text).strip().lower().split(":")
    kind, rest = parts[0], parts[1:]

    def num(s, what, whole=False):
        try:
            v = float(s)
        except ValueError:
            raise RecipeError(f"--schedule {text}: {what} must be a number, got {s!r}") from None
        if not math.isfinite(v) or (whole and (v != int(v) or v < 0)):
            raise RecipeError(f"--schedule {text}: {what} must be a "
                              f"{'whole number >= 0' if whole else 'finite number'}, got {s!r}")
        return int(v) if whole else v
    if kind not in _PARTS:
        raise RecipeError(f"unknown --schedule {text!r}; use one of: {SCHEDULES}")
    if len(rest) > _PARTS[kind]:
        raise RecipeError(f"--schedule {text}: too many ':' parts; use one of: {SCHEDULES}")
    if kind in ("step", "exp") and not rest:
        raise RecipeError(f"--schedule {kind} needs a value: {SCHEDULES}")
    if kind == "multistep":
        if not rest or not rest[0]:
            raise RecipeError("--schedule multistep needs milestones, e.g. multistep:10,15")
        try:
            miles = [int(m) for m in rest[0].split(",")]
        except ValueError:
            raise RecipeError(f"--schedule {text}: milestones must be whole epochs") from None
        if min(miles) < 1:
            raise RecipeError(f"--schedule {text}: milestones must be epochs >= 1")
        return kind, [miles] + [num(r, "gamma") for r in rest[1:]]
    if kind in ("step", "plateau") and rest:
        first = num(rest[0], "EPOCHS" if kind == "step" else "PATIENCE", whole=True)
        return kind, [first] + [num(r, "value") for r in rest[1:]]
    return kind, [num(r, "value") for r in rest]


def make_scheduler(text: str, optimizer, epochs: int, steps_per_epoch: int, warmup: float = 0, lr: float = 0.0):
    """The scheduler of schedule ``text`` for ``optimizer`` over ``epochs`` epochs of
    ``steps_per_epoch`` batches, after ``warmup`` epochs of linear warm-up from ``lr``/100
    (None for a constant rate); ``lr`` is also OneCycleLR's peak. Its ``interval`` says
    what one ``step()`` is: "step" (a batch) for all but plateau ("epoch")."""
    kind, values = parse_schedule(text)
    try:
        return _build(kind, values, optimizer, epochs, steps_per_epoch, warmup, lr)
    except RecipeError:
        raise
    except ValueError as e:       # a value out of the scheduler's own range
        lines = str(e).strip().splitlines()
        raise RecipeError(f"--schedule {text}: {lines[0] if lines else type(e).__name__}") from None


def _build(kind, values, opt, epochs, spe, warmup, lr):
    total = epochs * spe
    w = int(round(warmup * spe))
    if kind == "plateau":
        if warmup:
            raise RecipeError("--warmup cannot be combined with --schedule plateau")
        patience = values[0] if values else 3
        factor = values[1] if len(values) > 1 else 0.1
        if not 0 < factor < 1:
            raise RecipeError(f"--schedule plateau: factor must be in (0, 1), got {factor}")
        return optim.ReduceLROnPlateau(opt, mode="min", factor=factor, patience=patience)
    if kind == "onecycle":
        if warmup:
            raise RecipeError("--warmup cannot be combined with --schedule onecycle (it warms up by itself)")
        pct = values[0] if values else 0.3
        if not 0 < pct < 1:
            raise RecipeError(f"--schedule onecycle: pct_start must be in (0, 1), got {pct}")
        return optim.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=pct)
    if w >= total and kind != "none":
        raise RecipeError(f"--warmup {warmup:g} leaves no epochs for the schedule (--epochs {epochs})")
    after = None
    if kind == "step":
        if values[0] < 1:
            raise RecipeError("--schedule step: EPOCHS must be a whole number >= 1")
        after = optim.StepLR(opt, step_size=values[0] * spe, gamma=values[1] if len(values) > 1 else 0.1)
    elif kind == "multistep":
        miles = [max(0, m * spe - w) for m in values[0]]
        after = optim.MultiStepLR(opt, milestones=miles, gamma=values[1] if len(values) > 1 else 0.1)
    elif kind == "exp":
        if not 0 < values[0] <= 1:
            raise RecipeError(f"--schedule exp: GAMMA (per epoch) must be in (0, 1], got {values[0]}")
        after = optim.ExponentialLR(opt, gamma=values[0] ** (1.0 / spe))
    elif kind == "cosine":
        after = optim.CosineAnnealingLR(opt, T_max=max(1, total - w), eta_min=values[0] if values else 0.0)
    if after is not None:
        after.interval = "step"
    if w:
        s = optim.linear_warmup(opt, w, after)
        s.interval = "step"
        return s
    return after
