"""Evaluate tab: test accuracy, per-class accuracy, a confusion-matrix heat map, the
misclassified images (true vs predicted), and prediction for an image file opened or
dropped on the window: the softmax over every class and the Grad-CAM heat map of the
predicted class at the last convolution, over the image (engine.explain)."""
from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtWidgets

from engine.explain import overlay

from .. import state as S
from ..widgets.heatmap import BarChart, HeatMap
from ..widgets.images import ImageGrid, to_pixmap

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp);;All files (*)"


class EvaluatePanel(QtWidgets.QWidget):
    def __init__(self, state: S.AppState, worker, parent=None):
        super().__init__(parent)
        self.state, self.worker = state, worker

        self.split = QtWidgets.QComboBox()
        self.split.addItem("Test split (validation when there is none)", "test")
        self.split.addItem("Validation split", "val")
        self.eval_btn = QtWidgets.QPushButton("Evaluate")
        self.eval_btn.setStyleSheet("font-weight: bold;")
        self.summary = QtWidgets.QLabel("Train a model or load a checkpoint, then Evaluate.")
        self.summary.setWordWrap(True)
        bar = QtWidgets.QHBoxLayout()
        bar.addWidget(QtWidgets.QLabel("Evaluate on"))
        bar.addWidget(self.split)
        bar.addWidget(self.eval_btn)
        bar.addWidget(self.summary, 1)

        self.confusion = HeatMap()
        self.per_class = BarChart("Per-class accuracy", "accuracy (%)")
        self.wrong = ImageGrid(columns=8, size=48)
        wrong_box = QtWidgets.QGroupBox("Misclassified (true → predicted)")
        wl = QtWidgets.QVBoxLayout(wrong_box)
        ws = QtWidgets.QScrollArea()
        ws.setWidgetResizable(True)
        ws.setWidget(self.wrong)
        wl.addWidget(ws)

        # prediction
        self.open_btn = QtWidgets.QPushButton("Open image…")
        self.drop_hint = QtWidgets.QLabel("…or drop an image file anywhere on the window")
        self.drop_hint.setStyleSheet("color: #666;")
        self.pred_image = QtWidgets.QLabel()
        self.pred_image.setFixedSize(112, 112)
        self.pred_image.setAlignment(QtCore.Qt.AlignCenter)
        self.pred_image.setStyleSheet("background: #000; border: 1px solid #ccc;")
        self.cam_image = QtWidgets.QLabel()
        self.cam_image.setFixedSize(112, 112)
        self.cam_image.setAlignment(QtCore.Qt.AlignCenter)
        self.cam_image.setStyleSheet("background: #000; border: 1px solid #ccc;")
        self.cam_image.setToolTip("Grad-CAM: where the model found evidence for the chosen class "
                                  "(blue: none, red: the most)")
        self.cam_layer = QtWidgets.QComboBox()
        self.cam_layer.setToolTip("the convolution whose feature maps Grad-CAM weighs")
        self.cam_class = QtWidgets.QComboBox()
        self.cam_class.setToolTip("the class whose evidence Grad-CAM shows")
        self._explained = None          # (path, layer, class) of the explanation shown
        self.pred_bars = BarChart("Prediction (softmax over every class)", "probability (%)")
        self.pred_bars.setMinimumHeight(150)
        self.pred_text = QtWidgets.QLabel("")
        self.pred_text.setWordWrap(True)
        pred_box = QtWidgets.QGroupBox("Predict an image")
        pl = QtWidgets.QGridLayout(pred_box)
        pl.addWidget(self.open_btn, 0, 0)
        pl.addWidget(self.drop_hint, 0, 1)
        images = QtWidgets.QVBoxLayout()
        images.addWidget(self.pred_image)
        images.addWidget(self.cam_image)
        pl.addLayout(images, 1, 0)
        pl.addWidget(self.pred_bars, 1, 1)
        pl.addWidget(self.pred_text, 2, 0, 1, 2)
        picks = QtWidgets.QHBoxLayout()
        for text, combo in (("Grad-CAM at layer", self.cam_layer), ("of class", self.cam_class)):
            picks.addWidget(QtWidgets.QLabel(text))
            picks.addWidget(combo, 1)
        pl.addLayout(picks, 3, 0, 1, 2)

        left = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        left.addWidget(self.confusion)
        left.addWidget(self.per_class)
        left.setSizes([420, 200])
        right = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        right.addWidget(wrong_box)
        right.addWidget(pred_box)
        right.setSizes([360, 260])
        split = QtWidgets.QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([560, 560])

        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(split, 1)

        self.eval_btn.clicked.connect(lambda: self.worker.evaluate(which=self.split.currentData()))
        self.open_btn.clicked.connect(self._open)
        state.subscribe(self._on_evaluation, S.EVALUATION)
        state.subscribe(self._on_prediction, S.PREDICTION)
        self.cam_layer.activated.connect(lambda *_: self._re_explain())
        self.cam_class.activated.connect(lambda *_: self._re_explain())
        state.subscribe(lambda **kw: self._update_gate(), S.STATUS)
        state.subscribe(lambda **kw: self._update_gate(), S.RUNS)
        self._update_gate()

    def _update_gate(self):
        training = self.worker.training
        has_model = self.state.run() is not None
        self.eval_btn.setEnabled(has_model and not training)
        self.eval_btn.setToolTip("Evaluation runs when no run is training (the engine runs one thing at a time)"
                                 if training else "")

    def _open(self):
        start = self.state.recent.get("image", "")
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Predict an image", start, IMAGE_FILTER)
        if path:
            self.predict(path)

    def predict(self, path: str):
        self.state.remember("image", path)
        self.worker.predict(path)

    @staticmethod
    def _fill(combo, items, current):
        combo.blockSignals(True)
        combo.clear()
        combo.addItems([str(i) for i in items])
        combo.setCurrentIndex(current if isinstance(current, int) else max(combo.findText(str(current)), 0))
        combo.blockSignals(False)

    def _re_explain(self):
        """The shown image explained again at the chosen layer for the chosen class."""
        if self._explained is None:
            return
        path, layer, target = self._explained
        layer, target = self.cam_layer.currentText() or layer, max(self.cam_class.currentIndex(), 0)
        if (layer, target) != self._explained[1:]:
            self.worker.predict(path, layer=layer, target=target)

    def _on_evaluation(self, run=None, result=None):
        r = result or {}
        if not r:
            return
        classes = r["classes"]
        self.summary.setText(
            f"<b>{r['split'].capitalize()} accuracy {100 * r['accuracy']:.2f}%</b> on {r['n']:,} images · "
            f"top-5 {100 * r['top5']:.2f}% · loss {r['loss']:.4f} · {r['wrong_count']:,} misclassified")
        self.confusion.set_matrix(np.asarray(r["confusion"]), [_short(c) for c in classes])
        self.per_class.set_bars([_short(c) for c in classes],
                                {"accuracy": [100 * (v if v == v else 0) for v in r["per_class"]]})
        caps = [f"{_short(classes[t])} → {_short(classes[p])}" for t, p in zip(r["wrong_true"], r["wrong_pred"])]
        self.wrong.set_images(list(r["wrong_images"]), caps, colors=["#a00000"] * len(caps))

    def _on_prediction(self, result=None):
        if not result:
            return
        self.pred_image.setPixmap(to_pixmap(result["image"], 108))
        top = result["top"]
        e = result.get("explanation")
        if e is not None:
            self.pred_bars.set_bars([_short(n) for n in e.class_names], {"p": list(100 * e.probabilities)},
                                    colors=["#2ca02c"])
            self.cam_image.setPixmap(to_pixmap(overlay(result["image"], e.heatmap), 108))
            self._fill(self.cam_layer, result.get("layers") or [e.layer], e.layer)
            self._fill(self.cam_class, e.class_names, e.target)
            self._explained = (result.get("path"), e.layer, e.target)
        else:
            self.pred_bars.set_bars([_short(n) for n, _ in top], {"p": [100 * p for _, p in top]},
                                    colors=["#2ca02c"])
            self.cam_image.clear()
            self._explained = None
        why = (f"<br>Grad-CAM of <b>{e.class_names[e.target]}</b> at layer {e.layer}" if e is not None
               else f"<br>{result.get('explain_note', '')}")
        self.pred_text.setText(f"{result.get('path', '')}: " + ", ".join(f"<b>{n}</b> {100 * p:.1f}%" for n, p in top)
                               + why)


def _short(name: str) -> str:
    """'7 - seven' -> '7'; other names up to 10 characters."""
    name = str(name)
    if " - " in name:
        return name.split(" - ")[0]
    return name[:10]
