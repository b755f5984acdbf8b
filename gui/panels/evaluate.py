"""Evaluate tab: which run it shows (a picker of the models in memory and the runs on
disk that gui.runs.scan finds), its test accuracy, per-class accuracy, a confusion-matrix
heat map and every misclassified image (true vs predicted) a page at a time; and the
explanation of one image (gui/panels/oneimage.py) for a file opened or dropped on the
window or a misclassified thumbnail clicked."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtWidgets

from .. import runs as R
from .. import state as S
from ..widgets.heatmap import BarChart, HeatMap
from ..widgets.images import ImageGrid
from .oneimage import OneImageView, run_title

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp);;All files (*)"
PAGE = 32                    # misclassified thumbnails a page


def page_text(page: int, total: int) -> str:
    """"32 of 536 (1–32, page 1 of 17)": what a gallery page of ``total`` images holds."""
    if total <= 0:
        return "none"
    pages = (total + PAGE - 1) // PAGE
    first, last = page * PAGE + 1, min(total, (page + 1) * PAGE)
    return f"{last - first + 1} of {total:,} ({first}–{last}, page {page + 1} of {pages})"


class EvaluatePanel(QtWidgets.QWidget):
    def __init__(self, state: S.AppState, worker, parent=None, folders=None):
        super().__init__(parent)
        self.state, self.worker = state, worker
        self.folders = folders               # the folders scanned for runs (None: gui.runs.default_folders)
        self._disk: list[R.RunInfo] = []

        self.run_pick = QtWidgets.QComboBox()
        self.run_pick.setToolTip("the model evaluated and explained: one in memory, or a run's checkpoint on disk")
        self.run_pick.setSizeAdjustPolicy(QtWidgets.QComboBox.AdjustToContents)
        self.rescan_btn = QtWidgets.QPushButton("Rescan")
        self.rescan_btn.setToolTip("look for new runs on disk")
        self.split = QtWidgets.QComboBox()
        self.split.addItem("Test split (validation when there is none)", "test")
        self.split.addItem("Validation split", "val")
        self.eval_btn = QtWidgets.QPushButton("Evaluate")
        self.eval_btn.setStyleSheet("font-weight: bold;")
        self.summary = QtWidgets.QLabel("Train a model or load a checkpoint, then Evaluate.")
        self.summary.setWordWrap(True)
        bar = QtWidgets.QHBoxLayout()
        bar.addWidget(QtWidgets.QLabel("Model of"))
        bar.addWidget(self.run_pick, 1)
        bar.addWidget(self.rescan_btn)
        bar.addSpacing(12)
        bar.addWidget(QtWidgets.QLabel("Evaluate on"))
        bar.addWidget(self.split)
        bar.addWidget(self.eval_btn)

        # the evaluation
        self.confusion = HeatMap()
        self.per_class = BarChart("Per-class accuracy", "accuracy (%)")
        self.wrong = ImageGrid(columns=8, size=60, clickable=True)
        self.prev_btn = QtWidgets.QPushButton("◀ Previous")
        self.next_btn = QtWidgets.QPushButton("Next ▶")
        self.page_label = QtWidgets.QLabel("none")
        wrong_box = QtWidgets.QGroupBox("Misclassified (true → predicted): click one to see why")
        wl = QtWidgets.QVBoxLayout(wrong_box)
        pager = QtWidgets.QHBoxLayout()
        pager.addWidget(self.prev_btn)
        pager.addWidget(self.page_label, 1, QtCore.Qt.AlignCenter)
        pager.addWidget(self.next_btn)
        wl.addLayout(pager)
        ws = QtWidgets.QScrollArea()
        ws.setWidgetResizable(True)
        ws.setWidget(self.wrong)
        wl.addWidget(ws, 1)
        left = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        left.addWidget(self.confusion)
        left.addWidget(self.per_class)
        left.setSizes([420, 200])
        evaluation = QtWidgets.QSplitter()
        evaluation.addWidget(left)
        evaluation.addWidget(wrong_box)
        evaluation.setSizes([600, 560])

        # one image
        self.one = OneImageView(state, worker)
        self.pred_text = self.one.pred_text

        self.pages = QtWidgets.QTabWidget()
        self.pages.addTab(evaluation, "Test set")
        self.pages.addTab(self.one, "One image, every layer")

        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.summary)
        lay.addWidget(self.pages, 1)

        self.result: dict | None = None          # the evaluation shown
        self._result_run: int | None = None
        self.page = 0
        self._page_images: dict[int, np.ndarray] = {}

        self.eval_btn.clicked.connect(lambda: self.worker.evaluate(which=self.split.currentData()))
        self.one.open_btn.clicked.connect(self._open)
        self.rescan_btn.clicked.connect(self.rescan)
        self.run_pick.activated.connect(lambda i: self.choose_run(i))
        self.prev_btn.clicked.connect(lambda: self.show_page(self.page - 1))
        self.next_btn.clicked.connect(lambda: self.show_page(self.page + 1))
        self.wrong.clicked.connect(self.explain_wrong)
        state.subscribe(self._on_evaluation, S.EVALUATION)
        state.subscribe(lambda **kw: self._on_runs(), S.STATUS)
        state.subscribe(lambda **kw: self._on_runs(), S.RUNS)
        self.rescan()

    # -- which run ------------------------------------------------------------------------
    def rescan(self) -> None:
        """The runs on disk again, then the picker."""
        self._disk = R.scan(self.folders if self.folders is not None else R.default_folders(self.state.hyper.runs_dir))
        self._on_runs()

    def picker_items(self) -> list[tuple[str, tuple]]:
        """(text, ("run", id) or ("file", checkpoint path)): the runs of this session (the
        models in memory, and the runs drawn from their curves alone, which cannot be
        evaluated), then every checkpoint of the runs on disk that is not loaded already."""
        items, loaded = [], set()
        for run in self.state.runs:
            items.append((run_title(run, self._has_model(run)), ("run", run.id)))
            if run.status == "loaded":
                loaded.update(str(Path(c).resolve()) for c in run.checkpoints)
        for info in self._disk:
            for name in R.CHECKPOINTS:
                path = info.path / name
                if path.is_file() and str(path.resolve()) not in loaded:
                    items.append((f"run {info.name} ({name}) · on disk", ("file", str(path))))
        return items

    def _on_runs(self) -> None:
        items = self.picker_items()
        self.run_pick.blockSignals(True)
        self.run_pick.clear()
        for text, data in items:
            self.run_pick.addItem(text, data)
        current = next((i for i, (_, d) in enumerate(items) if d == ("run", self.state.current_run)), -1)
        if current < 0:                      # nothing shown yet: the runs on disk are choices, not the choice
            self.run_pick.insertItem(0, "no model yet: pick a run, train one, or load a checkpoint", None)
        self.run_pick.setCurrentIndex(max(current, 0))
        self.run_pick.blockSignals(False)
        self._show_run()
        self._update_gate()

    def choose_run(self, index: int) -> None:
        """The picker's entry ``index`` becomes the run shown (a checkpoint on disk is loaded first)."""
        data = self.run_pick.itemData(index)
        if not data:
            return
        kind, what = data
        if kind == "run":
            self.state.current_run = what
            self.state.emit(S.RUNS, current=what)
        else:
            self.summary.setText(f"Loading {what}…")
            self.worker.load_checkpoint(what)

    def _has_model(self, run: S.Run) -> bool:
        """A model to evaluate: in memory, or soon (a run that is training)."""
        return run.active or self.worker.has_model(run.id)

    def _show_run(self) -> None:
        """The current run's evaluation (if it has one), named."""
        run = self.state.run()
        if run is None or run.id == self._result_run:
            return
        self._result_run = run.id
        if run.evaluation:
            self._draw_evaluation(run, run.evaluation)
        else:
            self.result = None
            todo = "press Evaluate" if self._has_model(run) else "open its checkpoint to evaluate it"
            self.summary.setText(f"<b>{run_title(run, self._has_model(run))}</b>: not evaluated yet; {todo}.")
            self.confusion.set_matrix(np.zeros((0, 0)))
            self.per_class.set_bars([], {})
            self._page_images = {}
            self.show_page(0)

    def showEvent(self, e):
        super().showEvent(e)
        self.rescan()

    def _update_gate(self):
        training = self.worker.training
        run = self.state.run()
        self.eval_btn.setEnabled(run is not None and self.worker.has_model(run.id) and not training)
        self.eval_btn.setToolTip("Evaluation runs when no run is training (the engine runs one thing at a time)"
                                 if training else "")

    # -- one image ------------------------------------------------------------------------
    def _open(self):
        start = self.state.recent.get("image", "")
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Predict an image", start, IMAGE_FILTER)
        if path:
            self.predict(path)

    def predict(self, path: str):
        """The image file at ``path`` explained on the One image page."""
        self.state.remember("image", path)
        self.pages.setCurrentWidget(self.one)
        self.one.explain(path=path)

    def explain_wrong(self, cell: int) -> None:
        """The misclassified thumbnail ``cell`` of the page shown, explained."""
        r, images = self.result, self._page_images.get(self.page)
        k = self.page * PAGE + cell
        if r is None or images is None or not 0 <= cell < len(images) or k >= r["wrong_count"]:
            return
        names = r["classes"]
        caption = (f"misclassified image {k + 1} of {r['wrong_count']:,} ({r['split']} image "
                   f"{r['wrong_index'][k]}): true {names[r['wrong_true'][k]]}, predicted {names[r['wrong_pred'][k]]}")
        self.pages.setCurrentWidget(self.one)
        self.one.explain(image=images[cell], caption=caption)

    # -- the evaluation -------------------------------------------------------------------
    def _on_evaluation(self, run=None, result=None):
        target = self.state.run(run)
        if result and target is not None:
            self._result_run = target.id
            self._draw_evaluation(target, result)

    def _draw_evaluation(self, run: S.Run, r: dict) -> None:
        self.result = r
        classes = r["classes"]
        self.summary.setText(
            f"<b>{run_title(run)}</b>: <b>{r['split'].capitalize()} accuracy {100 * r['accuracy']:.2f}%</b> on "
            f"{r['n']:,} images · top-5 {100 * r['top5']:.2f}% · loss {r['loss']:.4f} · "
            f"{r['wrong_count']:,} misclassified")
        self.confusion.set_matrix(np.asarray(r["confusion"]), [_short(c) for c in classes])
        self.per_class.set_bars([_short(c) for c in classes],
                                {"accuracy": [100 * (v if v == v else 0) for v in r["per_class"]]})
        self._page_images = {0: np.asarray(r["wrong_images"])}
        self.show_page(0)

    def show_page(self, page: int) -> None:
        """Page ``page`` of the misclassified gallery (its images asked of the engine thread
        the first time)."""
        r = self.result
        total = r["wrong_count"] if r else 0
        pages = max(1, (total + PAGE - 1) // PAGE)
        page = min(max(int(page), 0), pages - 1)
        self.page = page
        self.prev_btn.setEnabled(page > 0)
        self.next_btn.setEnabled(page + 1 < pages)
        self.page_label.setText(page_text(page, total))
        if not total:
            self.wrong.set_images([])
            return
        images = self._page_images.get(page)
        if images is None:
            result = r
            self.wrong.set_images([])
            self.page_label.setText(page_text(page, total) + " · reading…")
            self.worker.misclassified(r["wrong_index"][page * PAGE:(page + 1) * PAGE], r.get("which", "test"),
                                      done=lambda imgs: self._page_read(result, page, imgs), run_id=self._result_run)
            return
        names = r["classes"]
        span = range(page * PAGE, page * PAGE + len(images))
        caps = [f"{_short(names[r['wrong_true'][k]])} → {_short(names[r['wrong_pred'][k]])}" for k in span]
        self.wrong.set_images(list(images), caps, colors=["#a00000"] * len(caps))

    def _page_read(self, result: dict, page: int, images: np.ndarray) -> None:
        if result is self.result:
            self._page_images[page] = np.asarray(images)
            if page == self.page:
                self.show_page(page)


def _short(name: str) -> str:
    """'7 - seven' -> '7'; other names up to 10 characters."""
    name = str(name)
    if " - " in name:
        return name.split(" - ")[0]
    return name[:10]
