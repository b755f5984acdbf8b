"""The studio's main window: one tab per step (Data, Model, Train, Inside, Explain,
Evaluate, Benchmark, Experiments, Runs), menus for files, a status bar, drag-and-drop prediction, and a dialog for
any error — the app stays alive."""
from __future__ import annotations

import collections
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from . import collector
from . import qtcompat  # noqa: F401  (PySide6 6.12.0 signal refcount fix)
from . import state as S
from .panels.bench import BenchPanel
from .panels.data import DataPanel
from .panels.evaluate import IMAGE_FILTER, EvaluatePanel
from .panels.experiments import ExperimentsPanel
from .panels.explainer import ExplainerPanel
from .panels.inside import InsidePanel
from .panels.model import ModelPanel
from .panels.runs import RunsPanel
from .panels.train import TrainPanel
from .widgets.question import ask
from .worker import Worker

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
EXPORT_FILTERS = {"onnx": "ONNX model (*.onnx)", "safetensors": "safetensors weights (*.safetensors)"}


class MainWindow(QtWidgets.QMainWindow):
    def __init__(self, state: S.AppState | None = None, load_settings: bool = True):
        super().__init__()
        collector.start()                  # Qt objects in reference cycles are deleted on this thread only
        self.state = state or S.AppState()
        if load_settings:
            self.state.load()
        self.worker = Worker(self.state, self)
        self._quitting = False             # the user chose to quit; the window closes once the run has ended
        self._errors: list[str] = []       # every error message shown, oldest first
        self._error_queue: collections.deque = collections.deque()    # (message, details) waiting for the open box
        self._last_error_box: QtWidgets.QMessageBox | None = None      # the error box open
        self._metrics_at: dict[int, int] = {}     # run id -> its checkpoints when its metrics were last written
        self.setWindowTitle("numbacnn studio")
        self.setAcceptDrops(True)

        self.tabs = QtWidgets.QTabWidget()
        self.data_panel = DataPanel(self.state, self.worker)
        self.model_panel = ModelPanel(self.state, self.worker)
        self.train_panel = TrainPanel(self.state, self.worker)
        self.inside_panel = InsidePanel(self.state, self.worker)
        self.explain_panel = ExplainerPanel(self.state, self.worker)
        self.evaluate_panel = EvaluatePanel(self.state, self.worker)
        self.bench_panel = BenchPanel(self.state, self.worker)
        self.experiments_panel = ExperimentsPanel(self.state, self.worker)
        self.runs_panel = RunsPanel(self.state, self.worker)
        for panel, name in ((self.data_panel, "Data"), (self.model_panel, "Model"), (self.train_panel, "Train"),
                            (self.inside_panel, "Inside"), (self.explain_panel, "Explain"),
                            (self.evaluate_panel, "Evaluate"),
                            (self.bench_panel, "Benchmark"), (self.experiments_panel, "Experiments"),
                            (self.runs_panel, "Runs")):
            self.tabs.addTab(panel, name)
        self.setCentralWidget(self.tabs)

        self.status_text = QtWidgets.QLabel()
        self.busy = QtWidgets.QLabel()
        self.statusBar().addWidget(self.status_text, 1)
        self.statusBar().addPermanentWidget(self.busy)

        self._menus()
        self.worker.error.connect(self.show_error)
        self.worker.info.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.state.subscribe(self._on_status, S.STATUS)
        self.state.subscribe(self._on_message, S.MESSAGE)
        self.state.subscribe(self._update_busy, S.RUN)
        self.state.subscribe(self._keep_metrics, S.RUN)
        self.tabs.currentChanged.connect(lambda i: self.state.set_ui(tab=i))
        self._restore_window()
        self.worker.load_data()

    # -- menus ----------------------------------------------------------------------------
    def _menus(self):
        m = self.menuBar().addMenu("&File")
        self._action(m, "Load model spec…", self.model_panel._load_dialog)
        self._action(m, "Save model spec…", self.model_panel._save_dialog)
        m.addSeparator()
        self._action(m, "Load checkpoint…", self.train_panel._load_ckpt, QtGui.QKeySequence.Open)
        self._action(m, "Save checkpoint…", self.train_panel._save_ckpt, QtGui.QKeySequence.Save)
        self._action(m, "Resume from checkpoint…", self.train_panel._resume_dialog)
        self._action(m, "Export model (ONNX, safetensors)…", self._export_dialog)
        m.addSeparator()
        self._action(m, "Export curves (PNG)…", self.train_panel._export_png)
        self._action(m, "Export metrics (CSV)…", self.train_panel._export_csv)
        self._action(m, "Predict image…", self.evaluate_panel._open)
        m.addSeparator()
        self._action(m, "Quit", self.close, QtGui.QKeySequence.Quit)
        r = self.menuBar().addMenu("&Run")
        self.start_action = self._action(r, "Start", self.train_panel.start, "Ctrl+R")
        self.start_action.setEnabled(self.train_panel.start_btn.isEnabled())
        self.train_panel.can_start_changed.connect(self.start_action.setEnabled)
        self._action(r, "Pause / Resume", self.train_panel.toggle_pause, "Ctrl+P")
        self._action(r, "Stop", self.worker.stop, "Ctrl+.")
        h = self.menuBar().addMenu("&Help")
        self._action(h, "About", self._about)

    def _action(self, menu, text, slot, shortcut=None):
        a = QtGui.QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QtGui.QKeySequence(shortcut))
        a.triggered.connect(lambda *_: slot())
        menu.addAction(a)
        return a

    # -- export ---------------------------------------------------------------------------
    def _export_dialog(self):
        """File > Export model…: the current run's model as an ONNX file or safetensors weights."""
        run = self.state.run()
        if run is None:
            self.show_error("Train a model or load a checkpoint first, then export it.")
            return
        start = str(self.state.files_folder() / "model.onnx")
        path, chosen = QtWidgets.QFileDialog.getSaveFileName(self, "Export model", start,
                                                             ";;".join(EXPORT_FILTERS.values()))
        if path:
            fmt = export_format(path, chosen)
            self.export_model(path if Path(path).suffix.lower() == f".{fmt}" else f"{path}.{fmt}", fmt, run.id)

    def export_model(self, path: str, fmt: str, run_id: int | None = None):
        """Writes the run's model to ``path`` on the engine thread, atomically: ``fmt`` "onnx"
        (eval form, inputs of the run's image shape, any batch size) or "safetensors"
        (torch's state_dict keys); a dialog says what went wrong."""
        run = self.state.run(run_id)
        if run is None:
            self.show_error("Train a model or load a checkpoint first, then export it.")
            return
        if Path(path).is_dir():
            self.show_error(f"Could not export the model: {path} is a folder; choose a file name.")
            return
        def done(p):
            self.state.set_busy("")
            self.statusBar().showMessage(f"exported {p}", 8000)

        def failed(exc, tb):
            self.state.set_busy("")
            self.show_error(f"Could not export the model to {path}:\n\n{exc}", tb)

        self.state.set_busy("exporting")
        self.worker.export_model(path, fmt, run.id, done=done, error=failed)

    def _about(self):
        QtWidgets.QMessageBox.about(
            self, "numbacnn studio",
            "<b>numbacnn studio</b><br>Train convolutional networks by pointing and clicking.<br>"
            "Every kernel is numbacnn's own, compiled by Numba.<br><br>"
            f"Settings: {self.state.path}")

    # -- status ---------------------------------------------------------------------------
    def _on_status(self, **info):
        if info.get("training") is False and self._quitting:     # the run has ended and its files are written
            QtCore.QTimer.singleShot(0, self.close)
        self._update_busy()
        run = self.state.run()
        if run is not None:
            msg = f"{run.name} — {run.status}"
            if run.message and run.status in ("completed", "stopped", "error", "nan", "early_stopping"):
                msg += f": {run.message}"
            self.status_text.setText(msg)
            if info.get("status") in ("completed", "stopped", "error", "nan", "early_stopping"):
                self._run_finished(run)

    def busy_text(self) -> str:
        """The status bar's busy indicator ("" when idle): the engine job in progress and what
        the active run does; a job that ends (a dataset loaded mid-run) leaves the run's part."""
        parts = [self.state.busy] if self.state.busy else []
        run = next((r for r in self.state.runs if r.active), None)
        if run is not None:
            parts.append("training" if run.activity == "running" else run.activity)
        return f"Busy: {', '.join(parts)}" if parts else ""

    def _update_busy(self, **info):
        text = self.busy_text()
        if text != self.busy.text():
            self.busy.setText(text)

    def _confirm_quit(self) -> bool:
        """Whether the user chose "Quit and save" over Cancel while a run trains."""
        run = self.state.run()
        where = f" in {run.directory}" if run is not None and run.directory else ""
        return ask(self, "quit-confirmation", "A run is training. Quit the studio?",
                   f"The run stops within a step and its checkpoint (last.npz) and metrics are saved{where}; it can "
                   "be resumed from there later.", "Quit and save")

    def _run_finished(self, run):
        """The run's per-batch metrics go beside its checkpoints (studio_metrics.csv); the
        Runs tab lists it. A run that failed before it began has no folder and gets none."""
        if run.directory and Path(run.directory).is_dir():
            self._write_metrics(run)
            self.runs_panel.refresh()
        if run.status == "nan":
            self.show_error(f"Training stopped: {run.message}", "")

    def _keep_metrics(self, run=None, **info):
        """Whenever a training run saves a checkpoint, its metrics so far go beside it, so a
        crash loses no curve that a checkpoint holds."""
        r = self.state.run(run)
        if r is not None and r.active and len(r.checkpoints) != self._metrics_at.get(r.id, 0):
            self._metrics_at[r.id] = len(r.checkpoints)
            self._write_metrics(r)

    def _write_metrics(self, run):
        try:
            run.write_csv(Path(run.directory) / "studio_metrics.csv")
        except OSError as e:
            self.statusBar().showMessage(f"could not write metrics: {e}", 8000)

    def _on_message(self, text="", level="info"):
        if level == "error":
            self.show_error(text, "")
        else:
            self.statusBar().showMessage(text, 8000)

    def show_error(self, message: str, details: str = ""):
        """A dialog with the message (details behind a button); never raises. One is open
        at a time: errors that come meanwhile wait in a queue (the open one says how many)
        and follow when it is closed; one repeating the open one or a waiting one is
        dropped."""
        self._errors.append(message)
        shown = self._last_error_box is not None
        if (shown and self._last_error_box.text() == message) or any(m == message for m, _ in self._error_queue):
            return
        self._error_queue.append((message, details))
        if shown:
            self._count_waiting_errors()
        else:
            self._next_error()

    def _next_error(self):
        """Shows the oldest waiting error, if any and no other is open."""
        if self._last_error_box is not None or not self._error_queue:
            return
        message, details = self._error_queue.popleft()
        box = QtWidgets.QMessageBox(self)
        box.setIcon(QtWidgets.QMessageBox.Warning)
        box.setWindowTitle("numbacnn studio")
        box.setText(message)
        run = self.state.run()
        kept = f"Checkpoints and metrics so far are kept in {run.directory}" \
            if run is not None and run.directory and "Training" in message else ""
        box.setProperty("kept", kept)
        if details:
            box.setDetailedText(details)
        box.setModal(False)
        box.setAttribute(QtCore.Qt.WA_DeleteOnClose)
        box.finished.connect(self._error_closed)
        self._last_error_box = box
        self._count_waiting_errors()
        box.show()

    def _error_closed(self, *_):
        self._last_error_box = None        # deleted on close
        QtCore.QTimer.singleShot(0, self._next_error)

    def _count_waiting_errors(self):
        box, n = self._last_error_box, len(self._error_queue)
        waiting = f"{n} more error{'s' if n != 1 else ''} will follow when this one is closed." if n else ""
        box.setInformativeText("\n\n".join(t for t in (box.property("kept"), waiting) if t))

    # -- drag and drop: predict an image file --------------------------------------------------
    def dragEnterEvent(self, e: QtGui.QDragEnterEvent):
        if _image_paths(e.mimeData()):
            e.acceptProposedAction()

    def dropEvent(self, e: QtGui.QDropEvent):
        paths = _image_paths(e.mimeData())
        if paths:
            self.tabs.setCurrentWidget(self.evaluate_panel)
            self.evaluate_panel.predict(paths[0])
            e.acceptProposedAction()

    # -- window state -------------------------------------------------------------------------
    def _restore_window(self):
        geo = self.state.ui.get("geometry")
        if geo:
            try:
                self.restoreGeometry(QtCore.QByteArray.fromHex(geo.encode()))
            except Exception:  # noqa: BLE001
                pass
        else:
            self.resize(1280, 800)
        self.tabs.setCurrentIndex(int(self.state.ui.get("tab", 0)))

    def save_settings(self):
        self.state.set_ui(geometry=bytes(self.saveGeometry().toHex()).decode(), tab=self.tabs.currentIndex())
        try:
            self.state.save()
        except OSError as e:
            self.statusBar().showMessage(f"could not save settings: {e}", 8000)

    def closeEvent(self, e: QtGui.QCloseEvent):
        """Quitting while a run trains asks first; on "Quit and save" the run stops (within
        a step), and the window closes once its last.npz and metrics are written."""
        if self.worker.training:
            e.ignore()
            if not self._quitting and (self.worker.stopping or self._confirm_quit()):
                self._quitting = True
                self.statusBar().showMessage("Stopping the run; the studio closes once its checkpoint and metrics "
                                             "are saved…")
                self.worker.stop()
            return
        self.experiments_panel.stop()
        self.save_settings()
        self.worker.shutdown(timeout=5.0)
        super().closeEvent(e)


def export_format(path: str, chosen_filter: str) -> str:
    """"onnx" or "safetensors": from the file's extension, else from the filter chosen."""
    by_suffix = {".onnx": "onnx", ".safetensors": "safetensors"}.get(Path(path).suffix.lower())
    return by_suffix or next((f for f, text in EXPORT_FILTERS.items() if text == chosen_filter), "onnx")


def _image_paths(mime: QtCore.QMimeData) -> list[str]:
    if not mime.hasUrls():
        return []
    out = []
    for url in mime.urls():
        p = url.toLocalFile()
        if p and Path(p).suffix.lower() in IMAGE_SUFFIXES:
            out.append(p)
    return out


__all__ = ["MainWindow", "IMAGE_FILTER"]
