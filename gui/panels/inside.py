"""Inside tab (ConvNetJS's view): the feature maps of every layer for a chosen probe
image, refreshing while the run trains; the first layer's filters; activation
statistics per layer. Snapshots are computed on the training thread and arrive here
as plain arrays."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from .. import state as S
from ..widgets.heatmap import BarChart
from ..widgets.images import MapsView, filters_rgb, to_pixmap


class InsidePanel(QtWidgets.QWidget):
    def __init__(self, state: S.AppState, worker, parent=None):
        super().__init__(parent)
        self.state, self.worker = state, worker

        self.live = QtWidgets.QCheckBox("Refresh while training")
        self.live.setChecked(bool(state.ui.get("snapshots", True)))
        self.rate = QtWidgets.QDoubleSpinBox()
        self.rate.setRange(0.2, 10.0)
        self.rate.setSingleStep(0.5)
        self.rate.setSuffix(" / s")
        self.rate.setValue(max(0.2, state.hyper.snapshot_hz))
        self.probe_index = QtWidgets.QSpinBox()
        self.probe_index.setRange(0, 10 ** 7)
        self.probe_index.setValue(int(state.ui.get("probe_index", 0)))
        self.probe_index.setToolTip("Which validation image to look at")
        self.random_btn = QtWidgets.QPushButton("Random image")
        self.refresh_btn = QtWidgets.QPushButton("Refresh")
        self.probe_view = QtWidgets.QLabel()
        self.probe_view.setFixedSize(84, 84)
        self.probe_view.setStyleSheet("background: #000; border: 1px solid #ccc;")
        self.probe_view.setAlignment(QtCore.Qt.AlignCenter)
        self.step_label = QtWidgets.QLabel("No snapshot yet: start a run (or load a checkpoint).")

        bar = QtWidgets.QHBoxLayout()
        bar.addWidget(QtWidgets.QLabel("Probe image"))
        bar.addWidget(self.probe_index)
        bar.addWidget(self.random_btn)
        bar.addWidget(self.probe_view)
        bar.addSpacing(12)
        bar.addWidget(self.live)
        bar.addWidget(self.rate)
        bar.addWidget(self.refresh_btn)
        bar.addStretch(1)
        bar.addWidget(self.step_label)

        self.maps = MapsView(columns=4)
        self.filters = pg.GraphicsLayoutWidget()
        self.filters.setBackground("w")
        self.filters.addLabel("First layer's filters", color="#222", size="10pt")
        self.filters.nextRow()
        vb = self.filters.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        vb.setMouseEnabled(False, False)
        self.filter_image = pg.ImageItem(axisOrder="row-major")
        vb.addItem(self.filter_image)
        self._filter_vb = vb
        self.filters.setMinimumHeight(200)

        self.stats_table = QtWidgets.QTableWidget(0, 6)
        self.stats_table.setHorizontalHeaderLabels(["Layer", "mean", "std", "min", "max", "zeros"])
        self.stats_table.verticalHeader().setVisible(False)
        self.stats_table.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeToContents)
        self.stats_table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.stats_chart = BarChart("Activation std per layer", "std")
        self.stats_chart.setMinimumHeight(200)

        side = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        side.addWidget(self.filters)
        side.addWidget(self.stats_chart)
        side.addWidget(self.stats_table)
        side.setSizes([200, 280, 220])

        split = QtWidgets.QSplitter()
        split.addWidget(self.maps)
        split.addWidget(side)
        split.setSizes([800, 380])

        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(split, 1)

        self._dirty = False
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._maybe_draw)

        self.live.toggled.connect(self._live_toggled)
        self.rate.valueChanged.connect(self._rate_changed)
        self.probe_index.valueChanged.connect(self._probe_changed)
        self.random_btn.clicked.connect(self._random_probe)
        self.refresh_btn.clicked.connect(self.refresh)
        state.subscribe(self._on_snapshot, S.SNAPSHOT)
        state.subscribe(lambda **kw: self._draw_later(), S.RUNS)

    # -- controls ---------------------------------------------------------------------------
    def _live_toggled(self, on):
        self.worker.set_snapshots(on, self.rate.value())

    def _rate_changed(self, hz):
        self.state.set_hyper(snapshot_hz=hz)
        self.worker.set_snapshots(self.live.isChecked(), hz)

    def _probe_changed(self, index):
        self.worker.set_probe(index)

    def _random_probe(self):
        self.probe_index.setValue(int(np.random.default_rng().integers(0, 5000)))

    def refresh(self):
        if not self.worker.training:
            self.worker.snapshot()

    # -- drawing ----------------------------------------------------------------------------
    def _on_snapshot(self, run=None):
        if run == self.state.current_run:
            self._dirty = True

    def _draw_later(self):
        self._dirty = True

    def _maybe_draw(self):
        if self._dirty and self.isVisible():
            self._dirty = False
            self.draw()

    def showEvent(self, e):
        super().showEvent(e)
        self._timer.start()
        self.worker.watch_snapshots(True)
        run = self.state.run()
        if run is not None and not run.active and (run.snapshot is None or run.snapshot.step != run.step):
            self.worker.snapshot()
        self._dirty = True

    def hideEvent(self, e):
        super().hideEvent(e)
        self._timer.stop()
        self.worker.watch_snapshots(False)     # the training thread takes no snapshots nobody sees

    def draw(self):
        run = self.state.run()
        snap = run.snapshot if run is not None else None
        if snap is None:
            return
        self.step_label.setText(f"{run.name.split(':')[0]} — step {snap.step}")
        probe = np.asarray(snap.probe)
        img = np.moveaxis(probe, 0, -1)
        self.probe_view.setPixmap(to_pixmap(img if img.shape[-1] in (1, 3) else img[..., :1], 80))
        maps = {name: np.asarray(a) for name, a in snap.feature_maps.items()}
        self.maps.set_maps({_title(name, run): a for name, a in maps.items()})
        if snap.filters is not None:
            f = filters_rgb(snap.filters)
            self.filter_image.setImage(f, levels=(0.0, 1.0), autoLevels=False)
            self._filter_vb.autoRange(padding=0.02)
        names = list(snap.stats)
        self.stats_table.setRowCount(len(names))
        for i, name in enumerate(names):
            st = snap.stats[name]
            vals = [_title(name, run), f"{st['mean']:.3g}", f"{st['std']:.3g}", f"{st['min']:.3g}", f"{st['max']:.3g}",
                    f"{100 * st['zero_fraction']:.0f}%"]
            for c, v in enumerate(vals):
                item = self.stats_table.item(i, c)
                if item is None:
                    item = QtWidgets.QTableWidgetItem()
                    self.stats_table.setItem(i, c, item)
                item.setText(v)
        self.stats_chart.set_bars([_title(n, run) for n in names], {"std": [snap.stats[n]["std"] for n in names]},
                                  horizontal=True, max_label=14)

    def image_count(self) -> int:
        return self.maps.image_count()


def _title(name: str, run) -> str:
    """Layer names as the summary shows them ("3 Conv2d")."""
    kinds = getattr(run, "_layer_kinds", None)
    if kinds is None:
        kinds = {}
        for line in (run.summary or "").splitlines():
            parts = line.split()
            if len(parts) >= 2 and "(" in parts[1]:
                kinds[parts[0]] = parts[1].split("(")[0]
        run._layer_kinds = kinds if kinds else None
    kind = (kinds or {}).get(name)
    return f"{name} {kind}" if kind and kind not in name else name
