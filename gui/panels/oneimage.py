"""Why did it say that? One image through the model, every layer shown (Evaluate tab):
the softmax over every class by name, the Grad-CAM heat map over the image for any
convolution and any class, the feature maps of any layer (its channels as a grid) and
the filters of any convolution (every out x in kernel, their mean over the inputs, or
one input channel's). The image is a file opened or dropped, or a thumbnail of the
misclassified gallery; engine.explain computes it all on the engine thread
(Worker.predict) and this view only draws the arrays it sends back."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from engine.explain import overlay

from .. import state as S
from ..widgets.heatmap import BarChart
from ..widgets.images import (DIVERGING, MosaicView, kernel_grid, mosaic, mosaic_tile, normalize_maps, symmetric_levels,
                               to_pixmap)

MAX_CHANNELS = 256          # a layer's channels drawn at most (the caption says when there are more)
MAX_VALUES = 4096           # a flat layer's values drawn at most
MAX_KERNELS = 64            # outputs and inputs of a convolution drawn at most with every kernel
IMAGE_SIDE = 150            # the input and Grad-CAM pictures, pixels


def run_title(run: S.Run | None, has_model: bool = True) -> str:
    """How the views name a run: "run NAME (best.npz)" for one loaded from a checkpoint
    (NAME: its folder), "run 1: mnist_cnn on MNIST (in memory)" for one trained in this
    session, "NAME (curves only, no model)" for one whose model is not in memory."""
    if run is None:
        return "no run"
    if not has_model:
        return f"{run.name} (curves only, no model)"
    if run.status == "loaded" and run.checkpoints:
        ck = Path(run.checkpoints[0])
        return f"run {ck.parent.name} ({ck.name})"
    return f"{run.name} (in memory)"


def _combo(tip: str) -> QtWidgets.QComboBox:
    c = QtWidgets.QComboBox()
    c.setToolTip(tip)
    c.setSizeAdjustPolicy(QtWidgets.QComboBox.AdjustToMinimumContentsLengthWithIcon)
    c.setMinimumContentsLength(8)
    return c


def _fill(combo: QtWidgets.QComboBox, items, current: int) -> None:
    """The combo's items (text, data) and its current index, without signals."""
    combo.blockSignals(True)
    combo.clear()
    for text, data in items:
        combo.addItem(str(text), data)
    combo.setCurrentIndex(min(max(current, 0), combo.count() - 1))
    combo.blockSignals(False)


def _picture() -> QtWidgets.QLabel:
    label = QtWidgets.QLabel()
    label.setFixedSize(IMAGE_SIDE, IMAGE_SIDE)
    label.setAlignment(QtCore.Qt.AlignCenter)
    label.setStyleSheet("background: #000; border: 1px solid #ccc;")
    return label


def _column(title: str, pickers, view: QtWidgets.QWidget) -> QtWidgets.QWidget:
    """A titled row of pickers above a view that takes the rest of the height."""
    w = QtWidgets.QWidget()
    lay = QtWidgets.QVBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    row = QtWidgets.QHBoxLayout()
    row.addWidget(QtWidgets.QLabel(title))
    for picker in pickers:
        row.addWidget(picker, 1)
    lay.addLayout(row)
    lay.addWidget(view, 1)
    return w


def feature_grid(maps: np.ndarray) -> tuple[np.ndarray, str]:
    """A layer's output for one image, (C, h, w) or (n,), as the grid the view draws (each
    channel scaled to [0, 1] on its own, a flat output scaled as a whole; NaN between
    tiles) and a caption of what it holds."""
    m = np.asarray(maps, np.float32)
    if m.ndim == 3:
        c, h, w = m.shape
        shown = min(c, MAX_CHANNELS)
        more = f", the first {shown} shown" if shown < c else ""
        return mosaic(normalize_maps(m), max_tiles=MAX_CHANNELS), f"{c} channels of {h}×{w}{more}"
    flat = m.reshape(-1)
    shown = min(flat.size, MAX_VALUES)
    lo, hi = float(flat.min()), float(flat.max())
    scaled = (flat - lo) / max(hi - lo, 1e-12)
    more = f", the first {shown} shown" if shown < flat.size else ""
    return mosaic(scaled, max_tiles=MAX_VALUES), f"{flat.size} values, row by row{more}"


class OneImageView(QtWidgets.QWidget):
    """The explanation of one image. ``explain(path=...)`` or ``explain(image=...,
    caption=...)`` asks the worker; every PREDICTION the state gets is drawn."""

    def __init__(self, state: S.AppState, worker, parent=None):
        super().__init__(parent)
        self.state, self.worker = state, worker
        self._subject: dict | None = None         # path / image / caption of the image shown
        self.explanation = None                   # the engine.explain.Explanation drawn

        self.open_btn = QtWidgets.QPushButton("Open image…")
        hint = QtWidgets.QLabel("…or drop an image file on the window, or click a misclassified thumbnail")
        hint.setStyleSheet("color: #666;")
        self.pred_text = QtWidgets.QLabel("Open an image to see how the model reads it, layer by layer.")
        self.pred_text.setWordWrap(True)
        self.pred_text.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.open_btn)
        top.addWidget(hint)
        top.addStretch(1)

        # the image, its Grad-CAM and the softmax
        self.pred_image = _picture()
        self.pred_image.setToolTip("the image as the model takes it (its input size)")
        self.cam_image = _picture()
        self.cam_image.setToolTip("Grad-CAM: where the chosen layer found evidence for the chosen class "
                                  "(blue: none, red: the most)")
        self.cam_layer = _combo("the convolution whose feature maps Grad-CAM weighs")
        self.cam_class = _combo("the class whose evidence Grad-CAM shows")
        self.pred_bars = BarChart("Softmax over every class", "probability (%)")
        pics = QtWidgets.QHBoxLayout()
        pics.addWidget(self.pred_image)
        pics.addWidget(self.cam_image)
        picks = QtWidgets.QFormLayout()
        picks.addRow("Grad-CAM at", self.cam_layer)
        picks.addRow("of class", self.cam_class)
        left = QtWidgets.QVBoxLayout()
        left.addLayout(pics)
        left.addLayout(picks)
        left.addWidget(self.pred_bars, 1)
        leftw = QtWidgets.QWidget()
        leftw.setLayout(left)
        leftw.setFixedWidth(2 * IMAGE_SIDE + 24)

        # feature maps of one layer
        self.map_layer = _combo("the layer whose output for this image is drawn, one tile per channel")
        self.maps = MosaicView(pg.colormap.get("viridis"))
        self.maps.setToolTip("each channel scaled to its own minimum (dark) and maximum (yellow)")
        mapw = _column("Feature maps of layer", (self.map_layer,), self.maps)

        # filters of one convolution
        self.filter_layer = _combo("the convolution whose weights are drawn")
        self.filter_mode = _combo("every kernel (a row per output channel, a column per input channel), "
                                  "each output's kernels averaged over its inputs, or one input channel's")
        self.filters = MosaicView(DIVERGING)
        self.filters.setToolTip("blue: negative weights, white: zero, red: positive (one scale for the layer)")
        filtw = _column("Filters of", (self.filter_layer, self.filter_mode), self.filters)

        inside = QtWidgets.QSplitter()
        inside.addWidget(mapw)
        inside.addWidget(filtw)
        inside.setSizes([480, 420])
        body = QtWidgets.QHBoxLayout()
        body.addWidget(leftw)
        body.addWidget(inside, 1)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.pred_text)
        lay.addLayout(body, 1)

        self.cam_layer.activated.connect(lambda *_: self.re_explain())
        self.cam_class.activated.connect(lambda *_: self.re_explain())
        self.map_layer.currentIndexChanged.connect(lambda *_: self.draw_maps())
        self.filter_layer.currentIndexChanged.connect(lambda *_: self._filter_layer_changed())
        self.filter_mode.currentIndexChanged.connect(lambda *_: self.draw_filters())
        state.subscribe(self._on_prediction, S.PREDICTION)

    # -- asking ---------------------------------------------------------------------------
    def explain(self, path: str = "", image: np.ndarray | None = None, caption: str = "",
                layer: str | None = None, target: int | None = None) -> None:
        """Explains the image file at ``path``, or ``image`` uint8 (H, W, C) of the run's
        input shape named by ``caption``, with the current run's model."""
        self._subject = {"path": path, "image": image, "caption": caption or path}
        self.worker.predict(path, layer=layer, target=target, image=image, caption=caption)

    def re_explain(self) -> None:
        """The image shown, explained again at the chosen layer for the chosen class."""
        e = self.explanation
        if self._subject is None or e is None:
            return
        layer, target = self.cam_layer.currentData() or e.layer, max(self.cam_class.currentIndex(), 0)
        if (layer, target) != (e.layer, e.target):
            s = self._subject
            self.worker.predict(s["path"], layer=layer, target=target, image=s["image"], caption=s["caption"])

    # -- drawing --------------------------------------------------------------------------
    def _on_prediction(self, result=None):
        if result:
            self.show_result(result)

    def show_result(self, result: dict) -> None:
        self.pred_image.setPixmap(to_pixmap(result["image"], IMAGE_SIDE - 4))
        probs = np.asarray(result["probs"], np.float64)
        names = result["classes"]
        self.pred_bars.set_bars(names, {"p": list(100 * probs)}, colors=["#2ca02c"], horizontal=True, max_label=14)
        e = result.get("explanation")
        self.explanation = e
        top = ", ".join(f"<b>{n}</b> {100 * p:.1f}%" for n, p in result["top"])
        where = f"{result.get('caption') or result.get('path', '')} · {run_title(self.state.run(result.get('run')))}"
        if e is None:
            self.pred_text.setText(f"{where}: {top}<br>{result.get('explain_note') or 'no explanation'}")
            self.cam_image.clear()
            for combo in (self.cam_layer, self.cam_class, self.map_layer, self.filter_layer, self.filter_mode):
                _fill(combo, [], 0)
            self.maps.clear_image()
            self.filters.clear_image()
            return
        self.pred_text.setText(f"{where}: {top}<br>Grad-CAM of <b>{e.class_names[e.target]}</b> at layer {e.layer}")
        self.cam_image.setPixmap(to_pixmap(overlay(result["image"], e.heatmap), IMAGE_SIDE - 4))
        layers = list(result.get("layers") or [e.layer])
        kinds = {f.name: f.kind for f in e.feature_maps}
        _fill(self.cam_layer, [(f"{n} {kinds.get(n, '')}".strip(), n) for n in layers],
              layers.index(e.layer) if e.layer in layers else 0)
        _fill(self.cam_class, [(n, i) for i, n in enumerate(e.class_names)], e.target)
        self._keep(self.map_layer, [(f"{f.name} {f.kind}", f.name) for f in e.feature_maps])
        self._keep(self.filter_layer, [(f.name, f.name) for f in e.filters])
        self.draw_maps()
        self._filter_layer_changed()

    @staticmethod
    def _keep(combo: QtWidgets.QComboBox, items: list) -> None:
        """New items; the layer chosen before stays chosen when it is still there (else the first)."""
        was = combo.currentData()
        data = [d for _, d in items]
        _fill(combo, items, data.index(was) if was in data else 0)

    def draw_maps(self) -> None:
        e, i = self.explanation, self.map_layer.currentIndex()
        if e is None or not 0 <= i < len(e.feature_maps):
            self.maps.clear_image()
            return
        f = e.feature_maps[i]
        grid, what = feature_grid(f.maps)
        self.maps.describe = lambda y, x, m=f.maps: _describe_map(m, y, x)
        self.maps.show_image(grid, (0.0, 1.0), f"{f.name} {f.kind}: {what}")

    def _filter_layer_changed(self) -> None:
        e, i = self.explanation, self.filter_layer.currentIndex()
        if e is None or not 0 <= i < len(e.filters):
            _fill(self.filter_mode, [], 0)
            self.filters.clear_image("this model has no convolution" if e is not None else "")
            return
        inputs = e.filters[i].weight.shape[1]
        was = self.filter_mode.currentData()
        items = [("every kernel (out × in)", "all"), ("mean over the inputs", "mean")]
        items += [(f"input channel {k}", k) for k in range(inputs)]
        data = [d for _, d in items]
        _fill(self.filter_mode, items, data.index(was) if was in data else 0)
        self.draw_filters()

    def draw_filters(self) -> None:
        e, i = self.explanation, self.filter_layer.currentIndex()
        if e is None or not 0 <= i < len(e.filters):
            return
        f = e.filters[i]
        mode = self.filter_mode.currentData()
        out, inputs, kh, kw = f.weight.shape
        grid = kernel_grid(f.weight, mode, max_out=MAX_KERNELS, max_in=MAX_KERNELS, max_tiles=MAX_CHANNELS)
        if mode == "all":
            shown = f"rows: {out} outputs, columns: {inputs} inputs"
            if out > MAX_KERNELS or inputs > MAX_KERNELS:
                shown += f" (first {min(out, MAX_KERNELS)} × {min(inputs, MAX_KERNELS)})"
        else:
            shown = "mean over the inputs" if mode == "mean" else f"input channel {mode}"
            shown += f", {out} outputs" + (f" (first {MAX_CHANNELS})" if out > MAX_CHANNELS else "")
        self.filters.describe = lambda y, x, w=f.weight, mode=mode: _describe_kernel(w, mode, y, x)
        self.filters.show_image(grid, symmetric_levels(grid), f"{f.name}: {kh}×{kw} kernels; {shown}")


def _describe_map(maps: np.ndarray, y: int, x: int) -> str:
    """The channel and value under pixel (y, x) of :func:`feature_grid`'s grid of ``maps``."""
    if maps.ndim == 3:
        hit = mosaic_tile(maps.shape[0], maps.shape[1], maps.shape[2], y, x, max_tiles=MAX_CHANNELS)
        return "" if hit is None else f"channel {hit[0]}, row {hit[1]}, column {hit[2]}: {maps[hit]:.4g}"
    flat = maps.reshape(-1)
    hit = mosaic_tile(flat.size, 1, 1, y, x, max_tiles=MAX_VALUES)
    return "" if hit is None else f"value {hit[0]}: {flat[hit[0]]:.4g}"


def _describe_kernel(weight: np.ndarray, mode, y: int, x: int) -> str:
    """The kernel and weight under pixel (y, x) of :func:`kernel_grid`'s grid of ``weight`` in ``mode``."""
    out, inputs, kh, kw = weight.shape
    if mode == "all":
        cols = min(inputs, MAX_KERNELS)
        hit = mosaic_tile(min(out, MAX_KERNELS) * cols, kh, kw, y, x, columns=cols, max_tiles=MAX_KERNELS * cols)
        if hit is None:
            return ""
        (o, i), r, c = divmod(hit[0], cols), hit[1], hit[2]
        return f"output {o}, input {i}, row {r}, column {c}: {weight[o, i, r, c]:.4g}"
    hit = mosaic_tile(out, kh, kw, y, x, max_tiles=MAX_CHANNELS)
    if hit is None:
        return ""
    o, r, c = hit
    v = weight[o, :, r, c].mean() if mode == "mean" else weight[o, mode, r, c]
    return f"output {o}, row {r}, column {c}: {v:.4g}"
