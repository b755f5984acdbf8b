"""Training curves: loss and accuracy, train and validation, per batch and per epoch,
several runs overlaid, with TensorBoard-style smoothing, log scale and zoom.

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

MIN_INTERVAL, MAX_INTERVAL = 0.1, 2.0    # seconds between refreshes of a plot (10 Hz at most)
# Share of one core the curves may take. On a 2-core machine the kernels run on both
# cores, so every millisecond the GUI (and the X server painting for it) spends is taken
# from a training thread, twice over while a parallel kernel waits at its barrier: 1%
# keeps training with the window open within a few per cent of the command line.
BUDGET = 0.01

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
           "#7f7f7f"]


def _nice_ceiling(v: float) -> float:
    """The next of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k at or above v."""
    k = 10 ** np.floor(np.log10(max(v, 1e-12)))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * k >= v:
            return float(m * k)
    return float(10 * k)


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
    """A plot of named curves, each one PlotDataItem updated with setData."""

    def __init__(self, title: str, ylabel: str, parent=None):
        super().__init__(parent=parent, background="w")
        self.setTitle(title, color="#222", size="11pt")
        self.setLabel("left", ylabel)
        self.setLabel("bottom", "step")
        self.showGrid(x=True, y=True, alpha=0.25)
        self.legend = self.addLegend(offset=(-10, 10), labelTextColor="#222", brush=pg.mkBrush(255, 255, 255, 200))
        self.items: dict[str, pg.PlotDataItem] = {}
        for ax in ("left", "bottom"):
            axis = self.getAxis(ax)
            axis.setTextPen("#333")
            axis.setPen("#888")
            # axes render to a cached pixmap, redrawn only when their range changes (text
            # drawing is most of a plot's paint cost); see follow()
            axis.setCacheMode(QtWidgets.QGraphicsItem.DeviceCoordinateCache)
        self.log_y = False
        self.following = True            # the view follows the data until the user zooms or pans
        self.y_bounds = None              # limits of the followed y range (accuracy: 0..100 %)
        self._range = None
        vb = self.getViewBox()
        vb.disableAutoRange()
        vb.sigRangeChangedManually.connect(self._user_moved)

    def _user_moved(self, *_):
        self.following = False

    paint_seconds = 0.0                  # GUI-thread CPU time spent painting plots (class-wide)

    def paintEvent(self, ev):
        t = time.thread_time()           # CPU time: waiting for the GIL costs the training nothing
        super().paintEvent(ev)
        CurvePlot.paint_seconds += time.thread_time() - t

    def follow(self, x_end: float | None = None) -> None:
        """Keeps every curve in view, changing the range in steps, so that the axes are
        not re-rendered at every refresh: x spans ``x_end`` (the last step of the runs
        shown, known when a run starts) or grows to a round value ahead of the data; y
        changes only when the data leaves it (with room for the next extremes) or fills
        under half of it."""
        if not self.following:
            return
        xs, ys = [], []
        for item in self.items.values():
            x, y = item.getOriginalDataset()
            if x is None or len(x) == 0:
                continue
            xs.append((np.nanmin(x), np.nanmax(x)))
            if self.log_y:
                y = y[y > 0]
                if len(y) == 0:
                    continue
                y = np.log10(y)
            good = y[np.isfinite(y)]
            if len(good):
                ys.append((good.min(), good.max()))
        if not xs or not ys:
            return
        x0, x1 = min(a for a, _ in xs), max(b for _, b in xs)
        y0, y1 = min(a for a, _ in ys), max(b for _, b in ys)
        old = self._range
        if x_end is not None and x_end >= x1:
            xr = (min(x0, 0.0), float(x_end) * 1.01)
        elif old is None or x1 > old[1] or x0 < old[0] or x1 < 0.5 * old[1]:
            span = max(x1 - x0, 1.0)
            xr = (x0, x0 + _nice_ceiling(span * 1.15))
        else:
            xr = old[:2]
        if old is None or y0 < old[2] or y1 > old[3] or (y1 - y0) < 0.4 * (old[3] - old[2]):
            pad = 0.15 * max(y1 - y0, 1e-9)   # room for the next extremes: the range (and axes) stay put
            yr = (y0 - pad, y1 + pad)
            if self.y_bounds is not None:
                yr = (max(yr[0], self.y_bounds[0]), min(yr[1], self.y_bounds[1]))
        else:
            yr = old[2:]
        new = (*xr, *yr)
        if new != old:
            self._range = new
            self.getViewBox().setRange(xRange=xr, yRange=yr, padding=0)

    def fit(self) -> None:
        self.following = True
        self._range = None
        self.follow()

    def set_log_y(self, on: bool) -> None:
        self.log_y = bool(on)
        self.setLogMode(y=self.log_y)
        self._range = None

    def set_curve(self, key: str, x, y, pen, name: str | None = None, symbol=None) -> None:
        item = self.items.get(key)
        if item is None:
            item = pg.PlotDataItem(name=name, pen=pen, symbol=symbol, symbolSize=6,
                                   symbolBrush=pen.color() if symbol else None, symbolPen=None)
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
            self.addItem(item)
            if name is None:
                self.legend.removeItem(item)
            self.items[key] = item
            item._last = None
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
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
            self.legend.removeItem(item)
            self.removeItem(item)

    def clear_curves(self) -> None:
        self.keep_only(())


class CurvesView(QtWidgets.QWidget):
    """Loss and accuracy of every visible run, with the controls to read them."""

    def __init__(self, state: S.AppState, parent=None):
        super().__init__(parent)
        self.state = state
        self.loss_plot = CurvePlot("Loss", "loss")
        self.acc_plot = CurvePlot("Accuracy", "accuracy (%)")
        self.acc_plot.legend.setOffset((-10, -10))           # bottom right: accuracy rises away from it
        self.acc_plot.y_bounds = (-2.0, 102.0)

        self.smoothing = QtWidgets.QSlider(QtCore.Qt.Horizontal)
        self.smoothing.setRange(0, 99)
        self.smoothing.setValue(int(state.ui.get("smoothing", 60)))
        self.smoothing.setToolTip("Exponential moving average of the per-batch curves (as TensorBoard)")
        self.smoothing_label = QtWidgets.QLabel()
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
        for w in (self.log_scale, self.show_batch, self.show_epoch, self.reset_zoom):
            bar.addWidget(w)

        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.loss_plot, 1)
        lay.addWidget(self.acc_plot, 1)
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
        self.log_scale.toggled.connect(self._controls_changed)
        self.show_batch.toggled.connect(self._controls_changed)
        self.show_epoch.toggled.connect(self._controls_changed)
        self.reset_zoom.clicked.connect(self.fit)
        self.runs_list.itemChanged.connect(self._run_toggled)
        state.subscribe(self._on_runs, S.RUNS)
        state.subscribe(self._on_run, S.RUN)
        state.subscribe(self._on_runs, S.STATUS)
        self._controls_changed()
        self._rebuild_runs()

    # -- state ------------------------------------------------------------------------
    def _on_run(self, **info):
        self._mark()

    def _mark(self):
        self._dirty = True
        for name in ("loss", "acc"):
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

    def _controls_changed(self, *_):
        w = self.smoothing.value() / 100
        self.smoothing_label.setText(f"{w:.2f}")
        self.state.set_ui(smoothing=self.smoothing.value(), log_loss=self.log_scale.isChecked(),
                          show_batch=self.show_batch.isChecked(), show_epoch=self.show_epoch.isChecked())
        self.loss_plot.set_log_y(self.log_scale.isChecked())
        self.redraw()                    # the user's own change shows at once

    def fit(self):
        for p in (self.loss_plot, self.acc_plot):
            p.fit()

    # -- drawing ----------------------------------------------------------------------
    def _maybe_redraw(self):
        """Refreshes each plot at most 10 times a second, and less often when a refresh
        costs more than BUDGET of one core in GUI-thread CPU time (so a run trains at
        full speed with the curves on screen: while the GUI thread runs Python the
        training thread waits for the GIL). The two plots take turns, half an interval
        apart, so no single tick of the event loop paints both."""
        now = time.perf_counter()
        if not (self._dirty and self.isVisible()) or now - self._last_draw < self.interval / 2:
            return
        # the cost of the previous tick: its redraw and the painting that followed it
        cost = self._redraw_seconds + (CurvePlot.paint_seconds - self._painted)
        if self._last_draw:
            self._costs.append(cost)
            self._cost = float(np.median(self._costs))
            self.interval = min(MAX_INTERVAL, max(MIN_INTERVAL, 2 * self._cost / BUDGET))
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
        """Both plots, now."""
        self._pending.clear()
        self._dirty = False
        t0 = time.thread_time()
        self._draw()
        self._redraw_seconds = time.thread_time() - t0

    _redraw_seconds = 0.0

    def _draw(self, which=("loss", "acc")):
        """Sets every visible run's curves on the plots named in ``which``."""
        weight = self.smoothing.value() / 100
        plots = {"loss": self.loss_plot, "acc": self.acc_plot}
        keep = {name: set() for name in which}
        log = self.log_scale.isChecked()
        multi = sum(r.visible for r in self.state.runs) > 1

        def put(name, key, x, y, pen, label=None, symbol=None):
            if name in keep:
                plots[name].set_curve(key, x, y, pen, label, symbol=symbol)
                keep[name].add(key)

        for run in self.state.runs:
            if not run.visible:
                continue
            color = QtGui.QColor(run_color(run.id))
            faint = QtGui.QColor(color)
            faint.setAlpha(60)
            tag = f"r{run.id}"
            short = run.name.split(":")[0]
            label = (lambda what: f"{what} ({short})") if multi else (lambda what: what)
            b = run.batch_arrays()
            if self.show_batch.isChecked() and len(b["step"]):
                x = b["step"]
                series = {"loss": np.where(b["loss"] > 0, b["loss"], np.nan) if log else b["loss"],
                          "acc": b["accuracy"] * 100}
                for name in which:
                    if weight > 0:
                        put(name, tag + name + "_raw", x, series[name], pg.mkPen(faint, width=1))
                    put(name, tag + name, x, _smooth_fast(series[name], weight), pg.mkPen(color, width=2),
                        label("train (batch)"))
            e = run.epoch_arrays()
            if self.show_epoch.isChecked() and len(e["epoch"]):
                x = e["step"]
                pen_t = pg.mkPen(color.darker(130), width=2)
                pen_v = pg.mkPen(color, width=2, style=QtCore.Qt.DashLine)
                put("loss", tag + "eloss", x, e["train_loss"], pen_t, label("train (epoch)"), "o")
                put("acc", tag + "eacc", x, e["train_accuracy"] * 100, pen_t, label("train (epoch)"), "o")
                if np.isfinite(e["val_loss"]).any():
                    put("loss", tag + "vloss", x, e["val_loss"], pen_v, label("validation"), "s")
                    put("acc", tag + "vacc", x, e["val_accuracy"] * 100, pen_v, label("validation"), "s")
        end = self._x_end()
        for name in which:
            plots[name].keep_only(keep[name])
            plots[name].follow(end)

    def _x_end(self):
        """The last step of the visible runs: a training run's planned total, so the x
        axis holds still for the whole run."""
        ends = []
        for run in self.state.runs:
            if not run.visible:
                continue
            planned = run.total_epochs * run.steps_per_epoch if run.active else 0
            ends.append(max(planned, run.step))
        return max(ends) if ends and max(ends) > 0 else None

    def point_count(self) -> int:
        """Points held by the curves (for tests)."""
        if self._dirty:
            self.redraw()
        n = 0
        for p in (self.loss_plot, self.acc_plot):
            for item in p.items.values():
                x, _ = item.getOriginalDataset()
                n += 0 if x is None else len(x)
        return n

    def export_png(self, path: str, width: int = 1200) -> None:
        """Both plots, stacked, as one PNG."""
        a = self.loss_plot.grab()
        b = self.acc_plot.grab()
        img = QtGui.QImage(max(a.width(), b.width()), a.height() + b.height(), QtGui.QImage.Format_ARGB32)
        img.fill(QtGui.QColor("white"))
        p = QtGui.QPainter(img)
        p.drawPixmap(0, 0, a)
        p.drawPixmap(0, a.height(), b)
        p.end()
        if img.width() > width:
            img = img.scaledToWidth(width, QtCore.Qt.SmoothTransformation)
        if not img.save(path):
            raise OSError(f"could not write {path}")

    def showEvent(self, e):
        self._mark()
        self._timer.start()
        super().showEvent(e)

    def hideEvent(self, e):
        self._timer.stop()               # no wake-ups for a hidden view
        super().hideEvent(e)
