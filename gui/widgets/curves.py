"""Training curves as TensorBoard draws them: loss and accuracy, train and validation,
per batch and per epoch, and the learning rate, several runs overlaid, each legend
entry named by its run; smoothing, a log loss axis that reads in the loss's own values,
an x axis by step, epoch or wall time shared by the three plots, and zoom. The x axis
fits the data drawn so far; a plot without data says so instead of showing axes.

pyqtgraph stays fast with one PlotDataItem per curve, updated by setData with
downsampling and clip-to-view on. While a run trains the view refreshes at most 10
times a second, and less often when a refresh (its redraw and painting, in GUI-thread
CPU time) would take more than BUDGET of a core; the axes are cached pixmaps and the
view range moves in steps, so most refreshes repaint only the curves."""
from __future__ import annotations

import collections
import time

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from .. import state as S
from .axes import ValueAxis
from .empty import NO_DATA, EmptyNote
from .xmodes import MODES, run_x

MIN_INTERVAL, MAX_INTERVAL = 0.1, 2.0    # seconds between refreshes of a plot (10 Hz at most)
# Share of one core the curves may take. On a 2-core machine the kernels run on both
# cores, so every millisecond the GUI (and the X server painting for it) spends is taken
# from a training thread, twice over while a parallel kernel waits at its barrier: 1%
# keeps training with the window open within a few per cent of the command line.
BUDGET = 0.01
X_ROOM = 0.15            # the x axis ends this share of the data's span past the last point
AXIS_WIDTH = 64          # pixels of every plot's left axis, so the linked x axes line up

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
           "#7f7f7f"]


def run_color(run_id: int) -> str:
    return PALETTE[(run_id - 1) % len(PALETTE)]


def smooth(y: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's debiased exponential moving average (NaNs are skipped)."""
    if weight <= 0 or len(y) == 0:
        return y
    out = np.empty_like(y)
    last, num = 0.0, 0
    w = float(weight)
    for i, v in enumerate(y):         # len(y) is at most tens of thousands; fine at 10 Hz
        if v != v:
            out[i] = np.nan
            continue
        last = last * w + (1 - w) * v
        num += 1
        out[i] = last / (1 - w ** num)
    return out


_BLOCK = 128


def _smooth_fast(y: np.ndarray, weight: float) -> np.ndarray:
    """``smooth`` in numpy, a block of 128 points at a time (one small matrix product
    per block; no scipy import on the GUI thread)."""
    y = np.asarray(y, np.float64)
    if weight <= 0 or len(y) == 0:
        return y
    if np.isnan(y).any():
        return smooth(y, weight)
    w = float(weight)
    k = np.arange(_BLOCK)
    lower = np.tril(w ** np.maximum(k[:, None] - k[None, :], 0)) * (1 - w)
    carry_gain = w ** (k + 1)
    ema = np.empty_like(y)
    carry = 0.0
    for start in range(0, len(y), _BLOCK):
        block = y[start:start + _BLOCK]
        n = len(block)
        e = lower[:n, :n] @ block + carry_gain[:n] * carry
        ema[start:start + n] = e
        carry = e[-1]
    return ema / (1 - w ** np.arange(1, len(y) + 1))


class CurvePlot(pg.PlotWidget):
    """A plot of named curves, each one PlotDataItem updated with setData; its legend
    sits under the x axis, off the data, and a note stands in for it while it is empty.
    The owning view sets its x range (shared by linked plots); ``follow_y`` keeps the
    curves in view vertically."""

    def __init__(self, title: str, ylabel: str, parent=None, legend: bool = True):
        super().__init__(parent=parent, background="w",
                         axisItems={"left": ValueAxis("left"), "bottom": ValueAxis("bottom")})
        self.setTitle(title, color="#222", size="11pt")
        self.setLabel("left", ylabel)
        self.setLabel("bottom", MODES["step"])
        self.showGrid(x=True, y=True, alpha=0.25)
        item = self.getPlotItem()
        if legend:
            self.legend = pg.LegendItem(offset=None, labelTextColor="#222", frame=False, colCount=3)
            item.layout.addItem(self.legend, 4, 1)
            item.legend = self.legend          # PlotItem.addItem enters named curves here
        self.items: dict[str, pg.PlotDataItem] = {}
        for ax in ("left", "bottom"):
            axis = self.getAxis(ax)
            axis.setTextPen("#333")
            axis.setPen("#888")
            # axes render to a cached pixmap, redrawn only when their range changes (text
            # drawing is most of a plot's paint cost); see follow_y and CurvesView.follow
            axis.setCacheMode(QtWidgets.QGraphicsItem.DeviceCoordinateCache)
        self.getAxis("left").setWidth(AXIS_WIDTH)
        self.note = EmptyNote(self, f"{title}: {NO_DATA}")
        self.log_y = False
        self.y_bounds = None              # limits of the followed y range (accuracy: 0..100 %)
        self._y = None
        self.getViewBox().disableAutoRange()

    legend = None                        # until __init__ makes it (PlotWidget's constructor resizes the view)
    paint_seconds = 0.0                  # GUI-thread CPU time spent painting plots (class-wide)

    def paintEvent(self, ev):
        t = time.thread_time()           # CPU time: waiting for the GIL costs the training nothing
        super().paintEvent(ev)
        CurvePlot.paint_seconds += time.thread_time() - t

    def bounds(self) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """((x min, x max), (y min, y max)) of every curve, y in view units (log10 of the
        data in log mode); None without finite data."""
        xs, ys = [], []
        for item in self.items.values():
            x, y = item.getOriginalDataset()
            if x is None or len(x) == 0:
                continue
            xs.append((np.min(x), np.max(x)))     # set_curve keeps finite x only
            if self.log_y:
                y = np.log10(y[y > 0])
            good = y[np.isfinite(y)]
            if len(good):
                ys.append((good.min(), good.max()))
        if not xs or not ys:
            return None
        return (min(a for a, _ in xs), max(b for _, b in xs)), (min(a for a, _ in ys), max(b for _, b in ys))

    def follow_y(self, x_range: tuple[float, float]) -> None:
        """Shows ``x_range`` and every curve vertically; y changes in steps, only when the
        data leaves it (with room for the next extremes) or fills under half of it."""
        b = self.bounds()
        if b is None:
            self.getViewBox().setXRange(*x_range, padding=0)
            return
        y0, y1 = b[1]
        old = self._y
        if old is None or y0 < old[0] or y1 > old[1] or (y1 - y0) < 0.4 * (old[1] - old[0]):
            span = y1 - y0
            pad = 0.15 * span if span > 1e-12 else (0.1 if self.log_y else max(0.1 * abs(y1), 1e-3))
            yr = (y0 - pad, y1 + pad)
            if self.y_bounds is not None:
                yr = (max(yr[0], self.y_bounds[0]), min(yr[1], self.y_bounds[1]))
            self._y = yr
        self.getViewBox().setRange(xRange=x_range, yRange=self._y, padding=0)

    def refit(self) -> None:
        """Forget the followed y range (the next follow_y fits it afresh)."""
        self._y = None

    def set_log_y(self, on: bool) -> None:
        self.log_y = bool(on)
        self.setLogMode(y=self.log_y)
        self._y = None

    def set_curve(self, key: str, x, y, pen, name: str | None = None, symbol=None) -> None:
        """Curve ``key`` holds the points (x, y) with a finite x; ``name`` enters it in the legend."""
        item = self.items.get(key)
        if item is None:
            item = pg.PlotDataItem(name=name, pen=pen, symbol=symbol, symbolSize=6,
                                   symbolBrush=pen.color() if symbol else None, symbolPen=None)
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
            self.addItem(item)
            self.items[key] = item
            item._last = None
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        placed = np.isfinite(x)
        if not placed.all():
            x, y = x[placed], y[placed]
        last = item._last
        if last is not None and len(last[0]) == len(x) and np.array_equal(last[0], x) and \
                np.array_equal(last[1], y, equal_nan=True):
            return                        # unchanged (e.g. the epoch curves between epochs): no repaint
        item._last = (x, y)
        item.setData(x, y)

    def keep_only(self, keys) -> None:
        keys = set(keys)
        for k in [k for k in self.items if k not in keys]:
            item = self.items.pop(k)
            if self.legend is not None:
                self.legend.removeItem(item)
            self.removeItem(item)
        self.note.set_empty(not self.items)
        self.arrange_legend()

    def arrange_legend(self) -> None:
        """As many legend columns (up to 3: a run's batch, epoch and validation curves)
        as fit the plot's width."""
        if self.legend is None or not self.legend.items:
            return
        widest = max(label.width() for _, label in self.legend.items) + 30      # sample and spacing
        columns = max(1, min(3, int((self.width() - AXIS_WIDTH) // widest)))
        layout = (columns, len(self.legend.items))
        if layout != self._legend_layout:
            self._legend_layout = layout
            self.legend.columnCount = 0            # setColumnCount lays the entries out afresh on a change
            self.legend.setColumnCount(columns)

    _legend_layout = None

    def resizeEvent(self, ev):
        super().resizeEvent(ev)
        self.arrange_legend()

    def legend_labels(self) -> list[str]:
        """The legend's entries, in order (for tests and screenshots)."""
        return [] if self.legend is None else [label.text for _, label in self.legend.items]


class CurvesView(QtWidgets.QWidget):
    """Loss, accuracy and learning rate of every visible run, with the controls to read
    them; the three plots share their x axis."""

    def __init__(self, state: S.AppState, parent=None):
        super().__init__(parent)
        self.state = state
        self.loss_plot = CurvePlot("Loss", "loss")
        self.acc_plot = CurvePlot("Accuracy", "accuracy (%)")
        self.acc_plot.y_bounds = (-2.0, 102.0)
        self.lr_plot = CurvePlot("Learning rate", "lr", legend=False)   # colours as in the legends above
        self.lr_plot.setMinimumHeight(130)
        self.plots = {"loss": self.loss_plot, "acc": self.acc_plot, "lr": self.lr_plot}
        self.following = True            # the view follows the data until the user zooms or pans
        self._x = None                   # the followed x range
        self._syncing = False            # a plot's x range is being set by the view, not by the user
        for plot in self.plots.values():
            plot.getViewBox().sigRangeChangedManually.connect(self._user_moved)
            plot.getViewBox().sigXRangeChanged.connect(self._x_moved)

        self.smoothing = QtWidgets.QSlider(QtCore.Qt.Horizontal)
        self.smoothing.setRange(0, 99)
        self.smoothing.setValue(int(state.ui.get("smoothing", 60)))
        self.smoothing.setToolTip("Exponential moving average of the per-batch curves (as TensorBoard)")
        self.smoothing_label = QtWidgets.QLabel()
        self.x_axis = QtWidgets.QComboBox()
        for mode, label in MODES.items():
            self.x_axis.addItem(label, mode)
        self.x_axis.setCurrentIndex(max(0, self.x_axis.findData(state.ui.get("x_axis", "step"))))
        self.x_axis.setToolTip("What the x axis counts: optimizer steps, epochs, or seconds since the run started")
        self.log_scale = QtWidgets.QCheckBox("Log loss")
        self.log_scale.setChecked(bool(state.ui.get("log_loss", False)))
        self.show_batch = QtWidgets.QCheckBox("Per batch")
        self.show_batch.setChecked(bool(state.ui.get("show_batch", True)))
        self.show_epoch = QtWidgets.QCheckBox("Per epoch")
        self.show_epoch.setChecked(bool(state.ui.get("show_epoch", True)))
        self.reset_zoom = QtWidgets.QPushButton("Fit")
        self.reset_zoom.setToolTip("Zoom to fit every curve (drag to pan, wheel or right-drag to zoom)")

        self.runs_list = QtWidgets.QListWidget()
        self.runs_list.setMaximumHeight(64)
        self.runs_list.setToolTip("Tick the runs to overlay")

        bar = QtWidgets.QHBoxLayout()
        bar.addWidget(QtWidgets.QLabel("Smoothing"))
        bar.addWidget(self.smoothing, 1)
        bar.addWidget(self.smoothing_label)
        bar.addWidget(QtWidgets.QLabel("x:"))
        for w in (self.x_axis, self.log_scale, self.show_batch, self.show_epoch, self.reset_zoom):
            bar.addWidget(w)

        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.loss_plot, 3)
        lay.addWidget(self.acc_plot, 3)
        lay.addWidget(self.lr_plot, 1)
        lay.addWidget(self.runs_list)

        self._pending: list = []          # plots waiting for a refresh, in turn
        self._mark()
        self._last_draw = 0.0
        self._cost = 0.0                  # median GUI time of the last refreshes (redraw + paint)
        self._costs = collections.deque(maxlen=7)
        self.interval = MIN_INTERVAL
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(int(MIN_INTERVAL * 1000))      # at most 10 refreshes a second
        self._timer.timeout.connect(self._maybe_redraw)

        self.smoothing.valueChanged.connect(self._controls_changed)
        self.x_axis.currentIndexChanged.connect(self._x_mode_changed)
        self.log_scale.toggled.connect(self._controls_changed)
        self.show_batch.toggled.connect(self._controls_changed)
        self.show_epoch.toggled.connect(self._controls_changed)
        self.reset_zoom.clicked.connect(self.fit)
        self.runs_list.itemChanged.connect(self._run_toggled)
        state.subscribe(self._on_runs, S.RUNS)
        state.subscribe(self._on_run, S.RUN)
        state.subscribe(self._on_runs, S.STATUS)
        self._x_mode_changed()
        self._rebuild_runs()

    # -- state ------------------------------------------------------------------------
    def _on_run(self, **info):
        self._mark()

    def _mark(self):
        self._dirty = True
        for name in self.plots:
            if name not in self._pending:
                self._pending.append(name)

    def _on_runs(self, **info):
        self._rebuild_runs()
        self._mark()
        self._last_draw = 0.0            # runs added, removed or ticked: refresh at the next tick

    def _rebuild_runs(self):
        self.runs_list.blockSignals(True)
        self.runs_list.clear()
        for run in self.state.runs:
            item = QtWidgets.QListWidgetItem(f"{run.name}  [{run.status}]")
            item.setData(QtCore.Qt.UserRole, run.id)
            item.setFlags(item.flags() | QtCore.Qt.ItemIsUserCheckable)
            item.setCheckState(QtCore.Qt.Checked if run.visible else QtCore.Qt.Unchecked)
            pm = QtGui.QPixmap(12, 12)
            pm.fill(QtGui.QColor(run_color(run.id)))
            item.setIcon(QtGui.QIcon(pm))
            self.runs_list.addItem(item)
        self.runs_list.blockSignals(False)

    def _run_toggled(self, item):
        self.state.set_run_visible(item.data(QtCore.Qt.UserRole), item.checkState() == QtCore.Qt.Checked)

    @property
    def x_mode(self) -> str:
        """What the x axis counts: a key of xmodes.MODES."""
        return self.x_axis.currentData()

    def _x_mode_changed(self, *_):
        for plot in self.plots.values():
            plot.getAxis("bottom").setLabel(MODES[self.x_mode])     # (PlotItem.setLabel would show a hidden axis)
        self.fit()
        self._controls_changed()

    def _controls_changed(self, *_):
        w = self.smoothing.value() / 100
        self.smoothing_label.setText(f"{w:.2f}")
        self.state.set_ui(smoothing=self.smoothing.value(), log_loss=self.log_scale.isChecked(),
                          show_batch=self.show_batch.isChecked(), show_epoch=self.show_epoch.isChecked(),
                          x_axis=self.x_mode)
        self.loss_plot.set_log_y(self.log_scale.isChecked())
        self.redraw()                    # the user's own change shows at once

    def _user_moved(self, *_):
        self.following = False

    def _x_moved(self, viewbox, x_range):
        """The plots' x axes are linked: a pan or zoom of one moves the others with it.
        (pyqtgraph's setXLink would also make the view's own steps repaint the three plots
        in one go; following the data, each plot takes the new range at its own turn.)"""
        if self._syncing:
            return
        self._syncing = True
        try:
            for plot in self.plots.values():
                if plot.getViewBox() is not viewbox:
                    plot.getViewBox().setXRange(*x_range, padding=0)
        finally:
            self._syncing = False

    def fit(self):
        """Back to following the data: every curve in view, now and as it grows."""
        self.following = True
        self._x = None
        for plot in self.plots.values():
            plot.refit()
        self.follow()

    def follow(self, which=("loss", "acc", "lr")) -> None:
        """While following, keeps every curve of the plots named in ``which`` in view. The
        shared x range fits the data of all three (from its first point to X_ROOM past its
        last) and moves in steps: only when the data passes its end or shrinks, so the
        cached axes are not re-rendered at every refresh."""
        if not self.following:
            return
        spans = [b[0] for b in (p.bounds() for p in self.plots.values()) if b is not None]
        if not spans:
            return
        x0, x1 = min(a for a, _ in spans), max(b for _, b in spans)
        old = self._x
        if old is None or x0 < old[0] or x1 > old[1] or x1 - old[0] < (1 - 2 * X_ROOM) * (old[1] - old[0]):
            span = x1 - x0
            self._x = (x0, x1 + (X_ROOM * span if span > 0 else max(0.05 * abs(x1), 0.5)))
        self._syncing = True
        try:
            for name in which:
                self.plots[name].follow_y(self._x)
        finally:
            self._syncing = False

    # -- drawing ----------------------------------------------------------------------
    def _maybe_redraw(self):
        """Refreshes each plot at most 10 times a second, and less often when a refresh
        costs more than BUDGET of one core in GUI-thread CPU time (so a run trains at
        full speed with the curves on screen: while the GUI thread runs Python the
        training thread waits for the GIL). The plots take turns, a fraction of an
        interval apart, so no single tick of the event loop paints them all."""
        now = time.perf_counter()
        if not (self._dirty and self.isVisible()) or now - self._last_draw < self.interval / len(self.plots):
            return
        # the cost of the previous tick: its redraw and the painting that followed it
        cost = self._redraw_seconds + (CurvePlot.paint_seconds - self._painted)
        if self._last_draw:
            self._costs.append(cost)
            self._cost = float(np.median(self._costs))
            self.interval = min(MAX_INTERVAL, max(MIN_INTERVAL, len(self.plots) * self._cost / BUDGET))
        self._painted = CurvePlot.paint_seconds
        self._last_draw = now
        which = self._pending.pop(0) if self._pending else "loss"
        if not self._pending:
            self._dirty = False
        t0 = time.thread_time()
        self._draw((which,))
        self._redraw_seconds = time.thread_time() - t0

    _painted = 0.0

    def redraw(self):
        """Every plot, now."""
        self._pending.clear()
        self._dirty = False
        t0 = time.thread_time()
        self._draw()
        self._redraw_seconds = time.thread_time() - t0

    _redraw_seconds = 0.0

    def _draw(self, which=("loss", "acc", "lr")):
        """Sets every visible run's curves on the plots named in ``which``."""
        weight = self.smoothing.value() / 100
        keep = {name: set() for name in which}
        log = self.log_scale.isChecked()
        mode = self.x_mode

        def put(name, key, x, y, pen, label=None, symbol=None):
            if name in keep:
                self.plots[name].set_curve(key, x, y, pen, label, symbol=symbol)
                keep[name].add(key)

        for run in self.state.runs:
            if not run.visible:
                continue
            color = QtGui.QColor(run_color(run.id))
            faint = QtGui.QColor(color)
            faint.setAlpha(60)
            tag = f"r{run.id}"
            b = run.batch_arrays()
            e = run.epoch_arrays()
            bx, ex = run_x(run, mode)
            if len(b["step"]):
                put("lr", tag + "lr", bx, b["lr"], pg.mkPen(color, width=2))
            elif len(e["epoch"]):
                put("lr", tag + "elr", ex, e["lr"], pg.mkPen(color, width=2), symbol="o")
            if self.show_batch.isChecked() and len(b["step"]):
                series = {"loss": np.where(b["loss"] > 0, b["loss"], np.nan) if log else b["loss"],
                          "acc": b["accuracy"] * 100}
                for name in which:
                    if name not in series:
                        continue
                    if weight > 0:
                        put(name, tag + name + "_raw", bx, series[name], pg.mkPen(faint, width=1))
                    put(name, tag + name, bx, _smooth_fast(series[name], weight), pg.mkPen(color, width=2),
                        f"{run.name} · train (batch)")
            if self.show_epoch.isChecked() and len(e["epoch"]):
                pen_t = pg.mkPen(color.darker(130), width=2)
                pen_v = pg.mkPen(color, width=2, style=QtCore.Qt.DashLine)
                put("loss", tag + "eloss", ex, e["train_loss"], pen_t, f"{run.name} · train (epoch)", "o")
                put("acc", tag + "eacc", ex, e["train_accuracy"] * 100, pen_t, f"{run.name} · train (epoch)", "o")
                if np.isfinite(e["val_loss"]).any():
                    put("loss", tag + "vloss", ex, e["val_loss"], pen_v, f"{run.name} · validation", "s")
                    put("acc", tag + "vacc", ex, e["val_accuracy"] * 100, pen_v, f"{run.name} · validation", "s")
        for name in which:
            self.plots[name].keep_only(keep[name])
        self.follow(which)

    def point_count(self) -> int:
        """Points held by the curves (for tests)."""
        if self._dirty:
            self.redraw()
        n = 0
        for p in self.plots.values():
            for item in p.items.values():
                x, _ = item.getOriginalDataset()
                n += 0 if x is None else len(x)
        return n

    def export_png(self, path: str, width: int = 1200) -> None:
        """The three plots, stacked, as one PNG."""
        shots = [p.grab() for p in self.plots.values()]
        img = QtGui.QImage(max(s.width() for s in shots), sum(s.height() for s in shots), QtGui.QImage.Format_ARGB32)
        img.fill(QtGui.QColor("white"))
        p = QtGui.QPainter(img)
        top = 0
        for shot in shots:
            p.drawPixmap(0, top, shot)
            top += shot.height()
        p.end()
        if img.width() > width:
            img = img.scaledToWidth(width, QtCore.Qt.SmoothTransformation)
        if not img.save(path):
            raise OSError(f"could not write {path}")

    def showEvent(self, e):
        self.redraw()                    # a view brought to the front shows every plot at once
        self._timer.start()
        super().showEvent(e)

    def hideEvent(self, e):
        self._timer.stop()               # no wake-ups for a hidden view
        super().hideEvent(e)
