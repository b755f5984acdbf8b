"""Experiments tab: the course chapter's questions (engine.experiments) run on the engine
thread, their arms' training losses drawn live as overlaid curves, and the report folder
(report.md, CSVs, PNG plots) written when the run ends."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from engine import experiments

from ..state import default_runs_dir
from ..widgets.curves import PALETTE

REFRESH_MS = 200        # the live curves are redrawn at most this often


class ExperimentsPanel(QtWidgets.QWidget):
    """Pick an experiment and a budget, Run (Stop ends it between batches); the report
    goes to RUNS/experiments/NAME-YYYYmmdd-HHMMSS (RUNS: the Train tab's runs folder)."""

    def __init__(self, state, worker, parent=None):
        super().__init__(parent)
        self.state = state
        self.worker = worker
        self._stop: threading.Event | None = None
        self._out: Path | None = None
        self._points: dict[str, tuple[list, list]] = {}
        self._curves: dict[str, pg.PlotDataItem] = {}

        self.name = QtWidgets.QComboBox()
        self.name.addItems(experiments.names())
        self.budget = QtWidgets.QComboBox()
        self.budget.addItems(list(experiments.BUDGETS))
        self.budget.setCurrentText("quick")
        self.run_button = QtWidgets.QPushButton("Run")
        self.stop_button = QtWidgets.QPushButton("Stop")
        self.stop_button.setEnabled(False)
        top = QtWidgets.QHBoxLayout()
        for label, w in (("Experiment", self.name), ("Budget", self.budget)):
            top.addWidget(QtWidgets.QLabel(label))
            top.addWidget(w)
        top.addWidget(self.run_button)
        top.addWidget(self.stop_button)
        top.addStretch(1)

        self.question = QtWidgets.QLabel(wordWrap=True)
        self.status = QtWidgets.QLabel("")
        self.finding = QtWidgets.QLabel(wordWrap=True)
        self.finding.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "training loss")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.addLegend()

        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.question)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.finding)

        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self._redraw)
        self.name.currentTextChanged.connect(self._show_question)
        self.run_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self._show_question(self.name.currentText())

    def _show_question(self, name: str) -> None:
        self.question.setText(experiments.question(name))

    def out_dir(self, name: str) -> Path:
        runs = Path(self.state.hyper.runs_dir) if self.state.hyper.runs_dir else default_runs_dir()
        return runs / "experiments" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"

    # -- running (GUI thread) -----------------------------------------------------------------
    def start(self) -> None:
        name, budget = self.name.currentText(), self.budget.currentText()
        self._out = self.out_dir(name)
        try:
            experiments.check_out(self._out)
        except experiments.ExperimentError as e:
            self.status.setText(str(e))
            return
        self.plot.clear()
        self._points.clear()
        self._curves.clear()
        self.finding.setText("")
        self._stop = threading.Event()
        self._running(True)
        self.status.setText(f"{name} ({budget}): waiting for the engine")
        root = self.state.data.root or None
        self.worker.run_experiment(name, budget, root, self._stop, self._on_event, done=self._done, error=self._failed)
        self.timer.start()

    def stop(self) -> None:
        """Ends a running experiment between batches (no report is written)."""
        if self._stop is not None and self.stop_button.isEnabled():
            self._stop.set()
            self.status.setText("stopping after the current batch")

    def _running(self, on: bool) -> None:
        self.run_button.setEnabled(not on)
        self.stop_button.setEnabled(on)
        self.name.setEnabled(not on)
        self.budget.setEnabled(not on)

    def _on_event(self, event) -> None:
        if isinstance(event, experiments.Stage):
            self.status.setText(f"{event.experiment}: {event.text}")
        elif isinstance(event, experiments.Point):
            steps, losses = self._points.setdefault(event.arm, ([], []))
            steps.append(event.step)
            losses.append(event.loss)

    def _redraw(self) -> None:
        for arm, (steps, losses) in self._points.items():
            if arm not in self._curves:
                colour = PALETTE[len(self._curves) % len(PALETTE)]
                self._curves[arm] = self.plot.plot([], [], name=arm, pen=pg.mkPen(colour, width=2))
            self._curves[arm].setData(steps, losses)

    def _done(self, report) -> None:
        self.timer.stop()
        self._redraw()
        self._running(False)
        try:
            path = report.write(self._out)        # here, on the GUI thread, Qt may draw the plots
        except (OSError, experiments.ExperimentError) as e:
            self.status.setText(f"the report could not be written: {e}")
            return
        self.status.setText(f"report: {path}")
        self.finding.setText(report.finding)

    def _failed(self, exc, tb) -> None:
        self.timer.stop()
        self._redraw()
        self._running(False)
        self.status.setText(str(exc) or type(exc).__name__)
