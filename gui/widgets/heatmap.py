"""A confusion-matrix heat map (rows: true class, columns: predicted), and a bar chart;
each shows a plain "no data yet" note instead of empty axes until it has data."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtGui

from .empty import NO_DATA, EmptyNote


class HeatMap(pg.PlotWidget):
    def __init__(self, title: str = "Confusion matrix", parent=None):
        super().__init__(parent=parent, background="w")
        self.setTitle(title, color="#222", size="11pt")
        self.setLabel("left", "true class")
        self.setLabel("bottom", "predicted class")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLookupTable(pg.colormap.get("CET-L4").getLookupTable(0.0, 1.0, 256)
                                  if "CET-L4" in pg.colormap.listMaps() else None)
        self.addItem(self.image)
        self.getViewBox().invertY(True)
        self.getViewBox().setAspectLocked(True)
        self.texts: list = []
        self.matrix = None
        for ax in ("left", "bottom"):
            self.getAxis(ax).setTextPen("#333")
        self.note = EmptyNote(self, f"{title}: {NO_DATA}")

    def set_matrix(self, m: np.ndarray, names=None) -> None:
        """``m``: a (k, k) count matrix, rows the true class; a 0 x 0 one empties the map."""
        m = np.asarray(m, np.float64)
        if m.ndim != 2 or m.shape[0] != m.shape[1]:
            raise ValueError(f"a confusion matrix is square (k, k); got shape {m.shape}")
        self.matrix = m
        self.note.set_empty(m.size == 0)
        k = m.shape[0]
        rows = m.sum(1, keepdims=True)
        frac = m / np.maximum(rows, 1)          # colour by the share of each true class
        cmap = pg.colormap.get("viridis")
        self.image.setLookupTable(cmap.getLookupTable(0.0, 1.0, 256))
        self.image.setImage(frac, levels=(0.0, 1.0), autoLevels=False)
        for t in self.texts:
            self.removeItem(t)
        self.texts = []
        if k <= 20:
            for i in range(k):
                for j in range(k):
                    if m[i, j] == 0:
                        continue
                    color = "#000" if frac[i, j] > 0.6 else "#fff"
                    t = pg.TextItem(str(int(m[i, j])), color=color, anchor=(0.5, 0.5))
                    f = QtGui.QFont()
                    f.setPointSize(7 if k > 10 else 8)
                    t.setFont(f)
                    t.setPos(j + 0.5, i + 0.5)
                    self.addItem(t)
                    self.texts.append(t)
        names = [str(n) for n in (names or range(k))]
        short = [n[:6] for n in names]
        ticks = [[(i + 0.5, short[i]) for i in range(k)]]
        self.getAxis("bottom").setTicks(ticks)
        self.getAxis("left").setTicks(ticks)
        self.getViewBox().setRange(xRange=(0, k), yRange=(0, k), padding=0.02)


class BarChart(pg.PlotWidget):
    """Grouped bars: ``set_bars(labels, {series: values}, colors)``; ``horizontal`` puts
    the labels on the left axis (long names stay readable), ``log`` draws log10 lengths
    from a common base with the axis labelled in the original unit."""

    def __init__(self, title: str = "", ylabel: str = "", parent=None):
        super().__init__(parent=parent, background="w")
        self.setTitle(title, color="#222", size="11pt")
        self.unit = ylabel
        self.setLabel("left", ylabel)
        self.showGrid(x=True, y=True, alpha=0.25)
        self.bars: list = []
        self.legend = self.addLegend(offset=(-10, 10), labelTextColor="#222", brush=pg.mkBrush(255, 255, 255, 200))
        for ax in ("left", "bottom"):
            self.getAxis(ax).setTextPen("#333")
        self.getViewBox().setMouseEnabled(False, False)
        self.values: dict = {}
        self.note = EmptyNote(self, f"{title}: {NO_DATA}" if title else NO_DATA)

    def set_bars(self, labels, series: dict, colors=None, horizontal: bool = False, log: bool = False,
                 max_label: int = 10) -> None:
        for b in self.bars:
            self.removeItem(b)
            self.legend.removeItem(b)
        self.bars = []
        self.values = {k: list(v) for k, v in series.items()}
        labels = [str(x) for x in labels]
        self.note.set_empty(not labels or not series)
        n = max(1, len(series))
        thick = 0.8 / n
        colors = colors or ["#1f77b4", "#76b900", "#ff7f0e", "#d62728"]
        base = 0.0
        if log:
            allv = np.array([v for vals in series.values() for v in vals], np.float64)
            allv = allv[np.isfinite(allv) & (allv > 0)]
            base = float(np.floor(np.log10(allv.min()))) if len(allv) else 0.0
        for s, (name, values) in enumerate(series.items()):
            v = np.asarray(values, np.float64)
            if log:
                with np.errstate(divide="ignore", invalid="ignore"):
                    v = np.where(v > 0, np.log10(v), np.nan)
            length = np.nan_to_num(v - base, nan=0.0)
            pos = np.arange(len(labels)) - 0.4 + thick * (s + 0.5)
            kw = dict(brush=colors[s % len(colors)], pen=None, name=name if n > 1 else None)
            if horizontal:
                item = pg.BarGraphItem(x0=np.full(len(labels), base), y=pos, width=length, height=thick * 0.9, **kw)
            else:
                item = pg.BarGraphItem(x=pos, y0=np.full(len(labels), base), height=length, width=thick * 0.9, **kw)
            self.addItem(item)
            self.bars.append(item)
        self.legend.setVisible(n > 1)                 # an empty legend is still a box
        cat_axis, val_axis = ("left", "bottom") if horizontal else ("bottom", "left")
        self.getAxis(cat_axis).setTicks([[(i, text[:max_label]) for i, text in enumerate(labels)]])
        self.getAxis(val_axis).setTicks(None)
        if log and self.bars:
            top = base + max(1.0, float(np.nanmax([np.nanmax(np.asarray(b.opts["width" if horizontal else "height"]))
                                                   for b in self.bars])))
            ticks = [(k, _fmt_pow(k)) for k in range(int(base), int(np.ceil(top)) + 1)]
            self.getAxis(val_axis).setTicks([ticks])
        self.getViewBox().invertY(horizontal)
        self.setLabel(val_axis, self.unit + (" (log scale)" if log else ""))
        self.setLabel(cat_axis, "")
        self.enableAutoRange()


def _fmt_pow(k: int) -> str:
    v = 10.0 ** k
    return f"{v:g}" if 1e-3 <= v <= 1e5 else f"1e{k}"
