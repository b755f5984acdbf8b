"""A plot's empty state: a plain message in place of its axes until it has data (an
empty plot would show meaningless axes: a range of -0.5..0.5 with an SI prefix, a
category axis labelled "1")."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

NO_DATA = "no data yet"
AXES = ("left", "bottom")


class EmptyNote(QtWidgets.QLabel):
    """A label that covers ``plot`` (a pg.PlotWidget), axes and all, while the plot is
    empty; ``set_empty(True)`` also hides the plot's axes, ``set_empty(False)`` shows
    the plot as it is. The note follows the plot's size."""

    def __init__(self, plot: pg.PlotWidget, message: str = NO_DATA):
        super().__init__(message, plot)
        self.plot = plot
        self.setAlignment(QtCore.Qt.AlignCenter)
        self.setWordWrap(True)
        self.setStyleSheet("QLabel { background: white; color: #777; font-size: 11pt; }")
        self.setAttribute(QtCore.Qt.WA_TransparentForMouseEvents)
        plot.installEventFilter(self)
        self.setGeometry(plot.rect())
        self.empty = False
        self.set_empty(True)

    def eventFilter(self, watched, event):
        if watched is self.plot and event.type() == QtCore.QEvent.Resize:
            self.setGeometry(self.plot.rect())
        return False

    def set_empty(self, empty: bool) -> None:
        empty = bool(empty)
        if empty == self.empty:
            return
        self.empty = empty
        item = self.plot.getPlotItem()
        for axis in AXES:
            item.showAxis(axis, not empty)
        self.setVisible(empty)
        if empty:
            self.raise_()
