"""Plot axes that print the data's own values: no SI-prefix scaling ("loss (x0.001)"),
and in log mode the values themselves (0.05, 0.1, 0.2, 1) instead of powers of ten
scaled by a prefix (3*10^2 for 0.3)."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

LABELLED_MANTISSAS = (1, 2, 5)     # the minor ticks labelled when a log axis spans more than a decade


def value_text(v: float) -> str:
    """A tick value as a reader writes it: 0.05, 0.3, 1, 20, 1e-05, 2e+06."""
    return f"{v:.4g}"


class ValueAxis(pg.AxisItem):
    """An AxisItem without SI-prefix scaling whose log mode labels ticks with the
    values they stand for (the view holds log10 of the data there)."""

    def __init__(self, orientation: str, **kwargs):
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)

    def logTickValues(self, minVal, maxVal, size, stdTicks):
        """pyqtgraph's log ticks (powers of ten and their multiples), or, where fewer than
        two of those lie in a view of under a decade, round values in linear steps."""
        ticks = super().logTickValues(minVal, maxVal, size, stdTicks)
        if sum(len(values) for _, values in ticks) >= 2 or not maxVal > minVal:
            return ticks
        lo, hi = 10.0 ** minVal, 10.0 ** maxVal
        raw = (hi - lo) / 4
        magnitude = 10.0 ** math.floor(math.log10(raw))
        step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
        values = np.arange(math.ceil(lo / step) * step, hi, step)
        return [(None, list(np.log10(values[values > 0])))]

    def logTickStrings(self, values, scale, spacing):
        """Every tick's value; over more than a decade only 1, 2 and 5 times a power
        of ten are written (the other ticks stay as unlabelled grid lines)."""
        lo, hi = sorted(self.range)
        every = hi - lo <= 1.0
        out = []
        for v in values:
            x = 10.0 ** float(v) * scale
            mantissa = round(x / 10.0 ** math.floor(math.log10(x) + 1e-9), 6) if x > 0 else 0
            out.append(value_text(x) if every or mantissa in LABELLED_MANTISSAS else "")
        return out
