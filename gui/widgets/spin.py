"""The studio's integer fields: a spin box made in one call."""
from __future__ import annotations

from PySide6 import QtWidgets


def spin_box(low: int, high: int, value: int, *, suffix: str = "", tip: str = "") -> QtWidgets.QSpinBox:
    """A QSpinBox over [low, high] showing ``value``, with an optional unit suffix and tooltip."""
    box = QtWidgets.QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    box.setSuffix(suffix)
    box.setToolTip(tip)
    return box
