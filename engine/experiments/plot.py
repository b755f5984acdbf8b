"""Overlaid line plots written as PNG files: a pyqtgraph PlotWidget rendered headless
(``grab``, as the studio exports its curves) on an offscreen QApplication.

pyqtgraph and PySide6 are the optional ``gui`` extra; without them, or off the thread
of an application that already runs Qt, ``line_plot`` raises PlotUnavailable saying why.
"""
from __future__ import annotations

import threading

import numpy as np

WIDTH, HEIGHT = 800, 500
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")


class PlotUnavailable(RuntimeError):
    """Why no PNG could be rendered (one sentence)."""


def line_plot(path, title: str, xlabel: str, ylabel: str, series: dict) -> None:
    """Writes a WIDTH x HEIGHT PNG at ``path``: one curve per ``series`` item
    (label -> (x, y) sequences of equal length), with a legend."""
    try:
        import pyqtgraph as pg
        from PySide6.QtWidgets import QApplication
    except ImportError as e:
        raise PlotUnavailable(f"pyqtgraph/PySide6 are not installed (the gui extra): {e}") from None
    app = QApplication.instance()
    if app is None:
        app = QApplication(["numbacnn", "-platform", "offscreen"])     # no window, no display needed
    elif threading.current_thread() is not threading.main_thread():
        raise PlotUnavailable("Qt draws only on the application's main thread; the CSVs hold the curves")
    widget = pg.PlotWidget(background="w")
    try:
        widget.resize(WIDTH, HEIGHT)
        item = widget.getPlotItem()
        item.setTitle(title, color="k")
        item.setLabel("bottom", xlabel)
        item.setLabel("left", ylabel)
        item.showGrid(x=True, y=True, alpha=0.3)
        item.addLegend(labelTextColor="k")
        for k, (label, (x, y)) in enumerate(series.items()):
            item.plot(np.asarray(x, float), np.asarray(y, float), name=str(label),
                      pen=pg.mkPen(COLOURS[k % len(COLOURS)], width=2))
        if not widget.grab().save(str(path), "PNG"):
            raise OSError(f"could not write the plot {path}")
    finally:
        widget.deleteLater()
