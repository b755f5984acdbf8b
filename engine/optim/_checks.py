"""Range checks shared by the optimizers and the learning-rate schedules: one clear
ValueError naming who and which setting, for a value out of its range."""
from __future__ import annotations

import math

import numpy as np


def check_range(who: str, key: str, value, low: float = 0.0, high: float = math.inf, *, low_open: bool = False,
             high_open: bool = False) -> float:
    """A hyperparameter: a finite number in the range [low, high] (ends open if asked);
    ValueError otherwise."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)) \
        and math.isfinite(value) and (value > low if low_open else value >= low) \
        and (value < high if high_open else value <= high)
    if not ok:
        if math.isinf(high):
            span = f"{'>' if low_open else '>='} {low:g}"
        else:
            span = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{who}: {key} must be a finite number {span}, got {value!r}")
    return float(value)
