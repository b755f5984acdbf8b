"""A confusion-matrix heat map (rows: true class, columns: predicted), and a bar chart."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtGui


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

    def set_matrix(self, m: np.ndarray, names=None) -> None:
        m = np.asarray(m, np.float64)
        self.matrix = m
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
    """Grouped bars: ``set_bars(labels, {series: values}, colors)``."""

    def __init__(self, title: str = "", ylabel: str = "", parent=None):
        super().__init__(parent=parent, background="w")
        self.setTitle(title, color="#222", size="11pt")
        self.setLabel("left", ylabel)
        self.showGrid(y=True, alpha=0.25)
        self.bars: list = []
        self.legend = self.addLegend(offset=(-10, 10), labelTextColor="#222", brush=pg.mkBrush(255, 255, 255, 200))
        for ax in ("left", "bottom"):
            self.getAxis(ax).setTextPen("#333")

    def set_bars(self, labels, series: dict, colors=None, rotate: bool = False) -> None:
        for b in self.bars:
            self.removeItem(b)
            self.legend.removeItem(b)
        self.bars = []
        n = max(1, len(series))
        width = 0.8 / n
        colors = colors or ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]
        for s, (name, values) in enumerate(series.items()):
            x = np.arange(len(labels)) - 0.4 + width * (s + 0.5)
            item = pg.BarGraphItem(x=x, height=np.nan_to_num(np.asarray(values, np.float64)), width=width * 0.95,
                                   brush=colors[s % len(colors)], pen=None, name=name if n > 1 else None)
            self.addItem(item)
            self.bars.append(item)
        self.getAxis("bottom").setTicks([[(i, str(l)[:10]) for i, l in enumerate(labels)]])
        self.enableAutoRange()
