"""Runs tab, the run browser: every run on disk (the studio's runs folder and the CLI's
``runs/``, as :mod:`gui.runs` reads them) with its dataset, model, status, best
validation accuracy, duration and key settings. Open restores a run: its full per-batch
and per-epoch curves on the Train tab's plots and its model (from last.npz, else
best.npz) for Inside, Evaluate and Resume. Overlay adds the curves of every selected run
to the plots; Compare shows their results and settings side by side, what differs first;
Rename renames the run's folder; Delete moves it to the trash after a confirmation."""
from __future__ import annotations

import math
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from .. import runs as R
from .. import state as S

COLUMNS = ("Run", "Dataset", "Model", "Status", "Best val acc", "Epochs", "Duration", "Settings")
DIFFERS = QtGui.QColor("#fff2cc")        # a compare row whose values differ


def _text(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _duration(seconds) -> str:
    if seconds is None:
        return "–"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def epoch_rows(curves: R.Curves) -> list[dict]:
    """The curves' per-epoch columns as the state's epoch rows (None for NaN)."""
    n = len(curves.epoch["epoch"])
    return [{k: (None if math.isnan(v[i]) else float(v[i])) for k, v in curves.epoch.items()} for i in range(n)]


def add_batches(run: S.Run, curves: R.Curves) -> None:
    """Appends the curves' per-batch columns to the run's (empty) batch series."""
    for column, series in run.batches.items():
        for v in curves.batch.get(column, ()):
            series.append(float(v))


class RunsPanel(QtWidgets.QWidget):
    def __init__(self, state: S.AppState, worker, parent=None, folders=None):
        super().__init__(parent)
        self.state, self.worker = state, worker
        self.folders = folders
        self.infos: list[R.RunInfo] = []

        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.ExtendedSelection)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.itemDoubleClicked.connect(lambda *_: self.open_selected())
        self.where = QtWidgets.QLabel()
        self.where.setWordWrap(True)
        self.where.setStyleSheet("color: #666;")

        buttons = QtWidgets.QHBoxLayout()
        self.buttons = {}
        for name, slot, tip in (("Refresh", self.refresh, "scan the runs folders again"),
                                ("Open", self.open_selected, "curves and model of the selected run"),
                                ("Overlay", self.overlay_selected, "add the selected runs' curves to the plots"),
                                ("Compare", self.compare_selected, "settings and results side by side"),
                                ("Rename…", self._rename_dialog, "rename the run's folder"),
                                ("Delete…", self._delete_dialog, "move the selected runs to the trash")):
            b = QtWidgets.QPushButton(name)
            b.setToolTip(tip)
            b.clicked.connect(lambda *_, s=slot: s())
            buttons.addWidget(b)
            self.buttons[name] = b
        buttons.addStretch(1)

        self.compare_table = QtWidgets.QTableWidget(0, 0)
        self.compare_table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        compare_box = QtWidgets.QGroupBox("Compare (rows that differ first, highlighted)")
        QtWidgets.QVBoxLayout(compare_box).addWidget(self.compare_table)

        split = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        top = QtWidgets.QWidget()
        tl = QtWidgets.QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addLayout(buttons)
        tl.addWidget(self.table, 1)
        tl.addWidget(self.where)
        split.addWidget(top)
        split.addWidget(compare_box)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(split)
        self.table.itemSelectionChanged.connect(self._update_gate)
        self.refresh()

    # -- listing ----------------------------------------------------------------------------
    def scan_folders(self) -> list[Path]:
        """The folders scanned: this panel's, else the studio's runs folder (the Train
        tab's setting, else the default) and the CLI's ``runs/``."""
        if self.folders is not None:
            return [Path(f) for f in self.folders]
        return R.default_folders(self.state.hyper.runs_dir)

    def refresh(self) -> None:
        folders = self.scan_folders()
        self.infos = R.scan(folders)
        self.table.setRowCount(len(self.infos))
        for row, info in enumerate(self.infos):
            settings = ", ".join(f"{k}={_text(v)}" for k, v in info.key_settings().items())
            values = (info.name, info.dataset, info.model, info.status, info.best_val_accuracy, info.epochs,
                      _duration(info.duration), settings)
            for col, v in enumerate(values):
                item = QtWidgets.QTableWidgetItem(_text(v))
                if info.problem:
                    item.setToolTip(info.problem)
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()
        self.where.setText(f"{len(self.infos)} runs in " + ", ".join(str(f) for f in folders))
        self._update_gate()

    def selected(self) -> list[R.RunInfo]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.infos[r] for r in rows if r < len(self.infos)]

    def select(self, names) -> None:
        """Selects the runs named ``names`` (for scripts and tests)."""
        self.table.clearSelection()
        mode = QtCore.QItemSelectionModel.Select | QtCore.QItemSelectionModel.Rows
        for row, info in enumerate(self.infos):
            if info.name in names:
                self.table.selectionModel().select(self.table.model().index(row, 0), mode)

    def _update_gate(self):
        n = len(self.selected())
        for name, ok in (("Open", n == 1), ("Overlay", n >= 1), ("Compare", n >= 2), ("Rename…", n == 1),
                         ("Delete…", n >= 1)):
            self.buttons[name].setEnabled(ok)

    def _fail(self, message: str) -> None:
        self.worker.error.emit(message, "")

    def _curves(self, info: R.RunInfo) -> R.Curves | None:
        try:
            return R.load_curves(info.path)
        except R.RunError as e:
            self._fail(f"Could not read the curves of {info.name}: {e}")
            return None

    # -- open, overlay, compare -----------------------------------------------------------------
    def open_selected(self) -> None:
        chosen = self.selected()
        if len(chosen) == 1:
            self.open_run(chosen[0])

    def open_run(self, info: R.RunInfo) -> None:
        """The run's curves on the plots and, when it has a checkpoint, its model in memory
        (through the worker, as File > Load checkpoint)."""
        curves = self._curves(info)
        if curves is None:
            return
        ckpt = next((info.path / n for n in R.CHECKPOINTS if (info.path / n).is_file()), None)
        if ckpt is None:
            self._show(info, curves)
            return

        def loaded(run):
            add_batches(run, curves)
            run.name = info.name
            self.state.emit(S.RUN, run=run.id)
            self.state.emit(S.RUNS, renamed=run.id)

        self.worker.load_checkpoint(str(ckpt), done=loaded)

    def _show(self, info: R.RunInfo, curves: R.Curves) -> S.Run:
        run = self.state.add_run_from_history(info.name, {}, epoch_rows(curves), directory=str(info.path))
        add_batches(run, curves)
        self.state.emit(S.RUN, run=run.id)
        return run

    def overlay_selected(self) -> None:
        for info in self.selected():
            curves = self._curves(info)
            if curves is not None:
                self._show(info, curves)

    def compare_selected(self) -> None:
        chosen = self.selected()
        if len(chosen) < 2:
            return
        rows = R.compare(chosen)
        t = self.compare_table
        t.clear()
        t.setColumnCount(len(chosen))
        t.setRowCount(len(rows))
        t.setHorizontalHeaderLabels([i.name for i in chosen])
        t.setVerticalHeaderLabels([name for name, _, _ in rows])
        for r, (_, values, differ) in enumerate(rows):
            for c, v in enumerate(values):
                item = QtWidgets.QTableWidgetItem(_text(v))
                if differ:
                    item.setBackground(DIFFERS)
                t.setItem(r, c, item)
        t.resizeColumnsToContents()

    # -- rename, delete ---------------------------------------------------------------------------
    def rename_run(self, info: R.RunInfo, new_name: str) -> Path | None:
        try:
            path = R.rename(info.path, new_name)
        except R.RunError as e:
            self._fail(str(e))
            return None
        self.refresh()
        return path

    def delete_runs(self, infos, confirmed: bool) -> list[Path]:
        """Moves ``infos`` to the trash when ``confirmed``; returns where they went."""
        moved = []
        for info in infos:
            try:
                moved.append(R.trash(info.path, confirmed=confirmed))
            except R.RunError as e:
                self._fail(str(e))
                break
        self.refresh()
        return moved

    def _rename_dialog(self):
        chosen = self.selected()
        if len(chosen) != 1:
            return
        name, ok = QtWidgets.QInputDialog.getText(self, "Rename run", "New name of the run's folder:",
                                                  text=chosen[0].name)
        if ok and name != chosen[0].name:
            self.rename_run(chosen[0], name)

    def _delete_dialog(self):
        chosen = self.selected()
        if not chosen:
            return
        names = ", ".join(i.name for i in chosen)
        answer = QtWidgets.QMessageBox.question(
            self, "Delete runs", f"Move {len(chosen)} run folder{'s' if len(chosen) > 1 else ''} ({names}) to the "
                                 f"trash? You can restore them from the trash.")
        if answer == QtWidgets.QMessageBox.Yes:
            self.delete_runs(chosen, confirmed=True)
