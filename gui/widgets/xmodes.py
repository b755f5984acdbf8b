"""What the curves' x axis counts, as TensorBoard offers it: optimizer steps, epochs
(fractional within an epoch) or wall time (seconds since the run started). Qt-free.

``run_x(run, mode)`` maps a run's per-batch and per-epoch records (gui.state.Run) to x
values of one mode; a record that cannot be placed gets NaN (the plot leaves it out)."""
from __future__ import annotations

import numpy as np

MODES = {"step": "step", "epoch": "epoch", "time": "wall time (s)"}   # mode -> axis label


def run_x(run, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(x of each batch record, x of each epoch record) of ``run`` in ``mode``.

    step: the optimizer step. epoch: epochs done, so epoch k (0-based) ends at k + 1 and
    a batch lies between its epoch's ends by its step. time: a live run's batches carry
    the seconds at which the studio received them; a run read from files has only its
    epochs' durations, so its batches are placed by step between the epochs' ends."""
    if mode not in MODES:
        raise ValueError(f"the x axis counts one of {', '.join(MODES)}, not {mode!r}")
    b, e = run.batch_arrays(), run.epoch_arrays()
    steps, epoch_steps = b["step"], e["step"]
    if mode == "step":
        return steps, epoch_steps
    if mode == "epoch":
        ends = e["epoch"] + 1
        per_step = 1.0 / run.steps_per_epoch if run.steps_per_epoch > 0 else None
        return _between(steps, epoch_steps, ends, per_step), ends
    stamps = b.get("seconds")
    if stamps is not None and len(stamps) == len(steps) and len(steps) and np.isfinite(stamps).all():
        return stamps, np.interp(epoch_steps, steps, stamps, left=np.nan, right=np.nan)
    ends = np.cumsum(np.nan_to_num(e["seconds"], nan=0.0))
    return _between(steps, epoch_steps, ends, None), np.where(np.isfinite(e["seconds"]), ends, np.nan)


def _between(steps: np.ndarray, knot_steps: np.ndarray, knot_values: np.ndarray,
             per_step: float | None) -> np.ndarray:
    """x of each step by linear interpolation between the knots (step, value), starting
    from (0, 0); past the last knot at ``per_step`` a step (default: the last knot
    interval's rate). NaN where there is nothing to go on."""
    good = np.isfinite(knot_steps) & np.isfinite(knot_values)
    ks = np.concatenate([[0.0], knot_steps[good]])
    kv = np.concatenate([[0.0], knot_values[good]])
    keep = ks > np.concatenate([[-np.inf], np.maximum.accumulate(ks)[:-1]])   # np.interp needs increasing steps
    ks, kv = ks[keep], kv[keep]
    if per_step is None and len(ks) > 1:
        per_step = (kv[-1] - kv[-2]) / (ks[-1] - ks[-2])
    x = np.interp(steps, ks, kv)
    past = steps > ks[-1]
    x[past] = kv[-1] + (steps[past] - ks[-1]) * per_step if per_step is not None else np.nan
    return x
