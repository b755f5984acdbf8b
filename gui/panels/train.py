"""Train tab: optimizer and hyperparameters, the schedule with a preview of the
learning rate over the run, device, seed; Start / Pause / Resume / Stop; progress with
images/s and ETA; and the live curves (loss and accuracy, several runs overlaid)."""
from __future__ import annotations

import math
import time

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from engine import cuda_available
from engine.nn.summary import summary
from engine.train.threads import MAX_THREADS

from .. import backend
from .. import state as S
from .. import step_estimate
from ..widgets.curves import CurvesView
from ..widgets.question import ask


def _cuda_state() -> tuple[bool, str]:
    if cuda_available():          # never raises
        return True, "Run the kernels on the NVIDIA GPU (numba.cuda)"
    return False, ("CUDA is unavailable: numba.cuda finds no NVIDIA GPU or driver on this machine "
                   "(install numba-cuda and a driver on a machine with a GPU)")


class TrainPanel(QtWidgets.QWidget):
    can_start_changed = QtCore.Signal(bool)        # whether Start may be pressed now (Run > Start follows it)

    def __init__(self, state: S.AppState, worker, parent=None):
        super().__init__(parent)
        self.state, self.worker = state, worker

        # -- hyperparameters ----------------------------------------------------------
        self.optimizer = QtWidgets.QComboBox()
        self.optimizer.addItems(S.OPTIMIZERS)
        self.lr = QtWidgets.QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(1e-5, 10.0)
        self.lr.setSingleStep(0.001)
        self.momentum = QtWidgets.QDoubleSpinBox()
        self.momentum.setRange(0.0, 0.999)
        self.momentum.setSingleStep(0.05)
        self.momentum.setDecimals(3)
        self.nesterov = QtWidgets.QCheckBox("Nesterov momentum")
        self.wd = QtWidgets.QDoubleSpinBox()
        self.wd.setDecimals(5)
        self.wd.setRange(0.0, 1.0)
        self.wd.setSingleStep(1e-4)
        self.batch = QtWidgets.QSpinBox()
        self.batch.setRange(1, 4096)
        self.epochs = QtWidgets.QSpinBox()
        self.epochs.setRange(1, 1000)
        self.shuffle = QtWidgets.QCheckBox("Shuffle every epoch")
        self.schedule = QtWidgets.QComboBox()
        self.schedule.addItems(S.SCHEDULES)
        self.step_size = QtWidgets.QSpinBox()
        self.step_size.setRange(1, 1000)
        self.step_size.setSuffix(" epochs")
        self.gamma = QtWidgets.QDoubleSpinBox()
        self.gamma.setRange(0.01, 0.99)
        self.gamma.setSingleStep(0.05)
        self.milestones = QtWidgets.QLineEdit()
        self.milestones.setPlaceholderText("epochs, e.g. 2, 4")
        self.patience = QtWidgets.QSpinBox()
        self.patience.setRange(0, 100)
        self.warmup = QtWidgets.QDoubleSpinBox()
        self.warmup.setRange(0.0, 100.0)
        self.warmup.setSingleStep(0.5)
        self.warmup.setSuffix(" epochs")
        self.device = QtWidgets.QComboBox()
        self.device.addItem("CPU", "cpu")
        self.device.addItem("CUDA GPU", "cuda")
        ok, why = _cuda_state()
        item = self.device.model().item(1)
        item.setEnabled(ok)
        item.setToolTip(why)
        self.device.setToolTip(why if not ok else "")
        self.cuda_note = QtWidgets.QLabel("" if ok else "CUDA unavailable: no NVIDIA GPU/driver found")
        self.cuda_note.setStyleSheet("color: #777; font-size: 9pt;")
        self.cuda_note.setWordWrap(True)           # never clipped when a wider label (a schedule's) narrows the column
        self.cuda_note.setToolTip(why)
        self.threads = QtWidgets.QSpinBox()
        self.threads.setRange(0, MAX_THREADS)
        self.threads.setSpecialValueText("all")
        self.seed = QtWidgets.QSpinBox()
        self.seed.setRange(0, 2 ** 31 - 1)
        self.workers = QtWidgets.QSpinBox()
        self.workers.setRange(0, 8)
        self.workers.setToolTip("DataLoader threads that prepare batches ahead (0: on the training thread)")

        form = QtWidgets.QFormLayout()
        form.addRow("Optimizer", self.optimizer)
        form.addRow("Learning rate", self.lr)
        form.addRow("Momentum", self.momentum)
        form.addRow("", self.nesterov)
        form.addRow("Weight decay", self.wd)
        form.addRow("Batch size", self.batch)
        form.addRow("Epochs", self.epochs)
        form.addRow(self.shuffle)
        form.addRow("Schedule", self.schedule)
        self.sched_rows = {"step": ("Step size", self.step_size), "gamma": ("Gamma", self.gamma),
                           "milestones": ("Milestones", self.milestones), "patience": ("Patience", self.patience)}
        for label, w in self.sched_rows.values():
            form.addRow(label, w)
        form.addRow("Warm-up", self.warmup)
        dev = QtWidgets.QHBoxLayout()
        dev.addWidget(self.device)
        dev.addWidget(QtWidgets.QLabel("threads"))
        dev.addWidget(self.threads)
        form.addRow("Device", dev)
        form.addRow("", self.cuda_note)
        form.addRow("Seed", self.seed)
        form.addRow("Loader workers", self.workers)
        self.form = form

        self.lr_plot = pg.PlotWidget(background="w")
        self.lr_plot.setTitle("Learning rate over the run", color="#222", size="10pt")
        self.lr_plot.setLabel("bottom", "epoch")
        self.lr_plot.setMinimumHeight(140)
        self.lr_plot.setMaximumHeight(190)
        self.lr_plot.showGrid(x=True, y=True, alpha=0.25)
        self.lr_curve = self.lr_plot.plot(pen=pg.mkPen("#1f77b4", width=2))
        self.lr_marker = pg.InfiniteLine(angle=90, pen=pg.mkPen("#d62728", style=QtCore.Qt.DashLine))
        self.lr_plot.addItem(self.lr_marker)
        self.lr_marker.setVisible(False)
        self._marker_time = 0.0
        self._progress_time = 0.0

        # -- run controls ----------------------------------------------------------------
        self.start_btn = QtWidgets.QPushButton("▶ Start")
        self.start_btn.setStyleSheet("font-weight: bold;")
        self.pause_btn = QtWidgets.QPushButton("❚❚ Pause")
        self.stop_btn = QtWidgets.QPushButton("■ Stop")
        self.resume_ckpt_btn = QtWidgets.QPushButton("Resume checkpoint…")
        self.resume_ckpt_btn.setToolTip("Continue a run from its checkpoint (weights, optimizer, schedule, data order)")
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.rate = QtWidgets.QLabel("")
        self.train_reason = QtWidgets.QLabel("")
        self.train_reason.setWordWrap(True)
        self.train_reason.setStyleSheet("color: #a00000;")

        buttons = QtWidgets.QHBoxLayout()
        for w in (self.start_btn, self.pause_btn, self.stop_btn):
            buttons.addWidget(w)

        left = QtWidgets.QVBoxLayout()          # the run controls first: rows that come and go never move them
        left.addLayout(buttons)
        left.addWidget(self.train_reason)
        left.addLayout(form)
        left.addWidget(self.lr_plot)
        left.addWidget(self.resume_ckpt_btn)
        left.addStretch(1)
        leftw = QtWidgets.QWidget()
        leftw.setLayout(left)
        leftw.setMaximumWidth(360)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidget(leftw)
        scroll.setWidgetResizable(True)
        scroll.setMaximumWidth(380)
        scroll.setFrameShape(QtWidgets.QFrame.NoFrame)

        # -- curves ---------------------------------------------------------------------
        self.curves = CurvesView(state)
        self.export_png_btn = QtWidgets.QPushButton("Export curves (PNG)…")
        self.export_csv_btn = QtWidgets.QPushButton("Export metrics (CSV)…")
        self.save_ckpt_btn = QtWidgets.QPushButton("Save checkpoint…")
        self.load_ckpt_btn = QtWidgets.QPushButton("Load checkpoint…")
        exp = QtWidgets.QHBoxLayout()
        for w in (self.save_ckpt_btn, self.load_ckpt_btn, self.export_png_btn, self.export_csv_btn):
            exp.addWidget(w)
        exp.addStretch(1)
        prog = QtWidgets.QHBoxLayout()
        prog.addWidget(self.progress, 1)
        prog.addWidget(self.rate)
        right = QtWidgets.QVBoxLayout()
        right.addLayout(prog)
        right.addWidget(self.curves, 1)
        right.addLayout(exp)

        lay = QtWidgets.QHBoxLayout(self)
        lay.addWidget(scroll)
        lay.addLayout(right, 1)

        self._sync_from_state()
        self._connect_form()
        self.start_btn.clicked.connect(self.start)
        self.pause_btn.clicked.connect(self.toggle_pause)
        self.stop_btn.clicked.connect(self.worker.stop)
        self.resume_ckpt_btn.clicked.connect(self._resume_dialog)
        self.export_png_btn.clicked.connect(self._export_png)
        self.export_csv_btn.clicked.connect(self._export_csv)
        self.save_ckpt_btn.clicked.connect(self._save_ckpt)
        self.load_ckpt_btn.clicked.connect(self._load_ckpt)
        state.subscribe(lambda **kw: self._sync_from_state(), S.HYPER)
        state.subscribe(lambda **kw: self._update_gate(), S.HYPER)
        state.subscribe(lambda **kw: self._update_gate(), S.MODEL)
        state.subscribe(lambda **kw: self._update_run(force=True), S.STATUS)
        state.subscribe(lambda **kw: self._update_run(), S.RUN)
        state.subscribe(lambda **kw: self._update_preview(), S.SAMPLES)
        state.subscribe(lambda **kw: self._update_preview(), S.DATA)
        state.subscribe(lambda **kw: self._update_gate(), S.SAMPLES)
        state.subscribe(lambda **kw: self._update_gate(), S.DATA)
        self._update_gate()

    # -- form <-> state ---------------------------------------------------------------------
    def _widgets(self):
        return (self.optimizer, self.lr, self.momentum, self.nesterov, self.wd, self.batch, self.epochs, self.shuffle,
                self.schedule, self.step_size, self.gamma, self.milestones, self.patience, self.warmup, self.device,
                self.threads, self.seed, self.workers)

    def _sync_from_state(self):
        h = self.state.hyper
        for w in self._widgets():
            w.blockSignals(True)
        self.optimizer.setCurrentText(h.optimizer)
        self.lr.setValue(h.lr)
        self.momentum.setValue(h.momentum)
        self.nesterov.setChecked(h.nesterov)
        self.wd.setValue(h.weight_decay)
        self.batch.setValue(h.batch_size)
        self.epochs.setValue(h.epochs)
        self.shuffle.setChecked(h.shuffle)
        self.schedule.setCurrentText(h.schedule)
        self.step_size.setValue(h.step_size)
        self.gamma.setValue(h.gamma)
        if self.milestones.text() != h.milestones:
            self.milestones.setText(h.milestones)
        self.patience.setValue(h.patience)
        self.warmup.setValue(h.warmup_epochs)
        idx = self.device.findData(h.device)
        if h.device == "cuda" and not self.device.model().item(1).isEnabled():
            idx = 0
        self.device.setCurrentIndex(max(0, idx))
        self.threads.setValue(h.threads)
        self.seed.setValue(h.seed)
        self.workers.setValue(h.num_workers)
        for w in self._widgets():
            w.blockSignals(False)
        self.momentum.setEnabled(h.optimizer == "SGD")
        self.nesterov.setEnabled(h.optimizer == "SGD")
        self.threads.setEnabled(self.device.currentData() == "cpu")
        show = {"StepLR": ("step", "gamma"), "MultiStepLR": ("milestones", "gamma"),
                "ReduceLROnPlateau": ("gamma", "patience")}.get(h.schedule, ())
        for key, (label, w) in self.sched_rows.items():
            self.form.setRowVisible(w, key in show)
        self._update_preview()

    def _connect_form(self):
        st = self.state
        self.optimizer.currentTextChanged.connect(lambda v: st.set_hyper(optimizer=v))
        self.lr.valueChanged.connect(lambda v: st.set_hyper(lr=v))
        self.momentum.valueChanged.connect(lambda v: st.set_hyper(momentum=v))
        self.nesterov.toggled.connect(lambda v: st.set_hyper(nesterov=v))
        self.wd.valueChanged.connect(lambda v: st.set_hyper(weight_decay=v))
        self.batch.valueChanged.connect(lambda v: st.set_hyper(batch_size=v))
        self.epochs.valueChanged.connect(lambda v: st.set_hyper(epochs=v))
        self.shuffle.toggled.connect(lambda v: st.set_hyper(shuffle=v))
        self.schedule.currentTextChanged.connect(lambda v: st.set_hyper(schedule=v))
        self.step_size.valueChanged.connect(lambda v: st.set_hyper(step_size=v))
        self.gamma.valueChanged.connect(lambda v: st.set_hyper(gamma=v))
        self.milestones.textEdited.connect(self._milestones_edited)
        self.patience.valueChanged.connect(lambda v: st.set_hyper(patience=v))
        self.warmup.valueChanged.connect(lambda v: st.set_hyper(warmup_epochs=v))
        self.device.currentIndexChanged.connect(lambda i: st.set_hyper(device=self.device.itemData(i)))
        self.threads.valueChanged.connect(lambda v: st.set_hyper(threads=v))
        self.seed.valueChanged.connect(lambda v: st.set_hyper(seed=v))
        self.workers.valueChanged.connect(lambda v: st.set_hyper(num_workers=v))

    def _milestones_edited(self, text):
        try:
            S.HyperParams(milestones=text).milestone_list()
        except ValueError:
            self.milestones.setStyleSheet("background: #f8d0d0;")
            return
        self.milestones.setStyleSheet("")
        self.state.set_hyper(milestones=text)

    def steps_per_epoch(self) -> int:
        """Batches per epoch of the loaded dataset's training split (the preview's unit)."""
        info = self.state.dataset_info
        d = self.state.data
        if info and not info.get("error") and info.get("name") == d.name:
            train = info["train"]
        else:                                  # not loaded yet: the preview is drawn per 100 batches
            return 100
        return max(1, math.ceil(train / max(1, self.state.hyper.batch_size)))

    def _update_preview(self):
        try:
            x, y = backend.lr_preview(self.state.hyper, self.steps_per_epoch())
        except ValueError as e:               # a setting the schedule refuses (RecipeError)
            self.lr_curve.setData([], [])
            self.lr_plot.setTitle(f"Schedule: {e}", color="#a00000", size="9pt")
            return
        self.lr_plot.setTitle("Learning rate over the run" + (" (follows validation loss)"
                              if self.state.hyper.schedule == "ReduceLROnPlateau" else ""), color="#222", size="10pt")
        self.lr_curve.setData(x, y)
        top = float(max(y.max(), 1e-12)) if len(y) else 1.0
        self.lr_plot.setYRange(0, top * 1.1, padding=0)
        self.lr_plot.setXRange(0, max(1, self.state.hyper.epochs), padding=0.02)

    # -- run state -----------------------------------------------------------------------------
    def blocked(self) -> str:
        """Why Start cannot be pressed now ("" when it can): a run is active, the data is
        missing or still loading, a batch is larger than the training split, or the model
        does not fit the data."""
        if self.worker.training:
            return "a run is training; stop it first"
        info, name = self.state.dataset_info, self.state.data.name
        if not info or info.get("name", name) != name:
            return f"{name} is still loading (see the Data tab)"
        if info.get("error"):
            return f"the data is missing: {str(info['error']).rstrip('.')} (see the Data tab)"
        batch, train = self.state.hyper.batch_size, info.get("train", 0)
        if batch > train:
            return (f"the batch size {batch:,} is larger than the {train:,} training images; lower it "
                    f"or use more images (see the Data tab)")
        check = self.state.model_check or {}
        if not check.get("ok"):
            return f"{(check.get('message') or 'the model does not fit the data').rstrip('.')} (see the Model tab)"
        return ""

    def _update_gate(self):
        training = self.worker.training
        why = self.blocked()
        if self.start_btn.isEnabled() != (not why):
            self.start_btn.setEnabled(not why)
            self.can_start_changed.emit(not why)
        self.train_reason.setText(f"Train is disabled: {why}." if why and not training else "")
        self.start_btn.setToolTip(why)
        self.pause_btn.setEnabled(training)
        self.stop_btn.setEnabled(training)
        self.resume_ckpt_btn.setEnabled(not training)
        for w in self._widgets():
            w.setEnabled(not training)
        if not training:
            self.momentum.setEnabled(self.state.hyper.optimizer == "SGD")
            self.nesterov.setEnabled(self.state.hyper.optimizer == "SGD")
            self.threads.setEnabled(self.device.currentData() == "cpu")

    def _update_run(self, force: bool = False):
        run = self.state.run()
        now = time.monotonic()
        if not force and run is not None and run.status == "running" and now - self._progress_time < 1.0:
            return                         # progress, images/s and ETA once a second while a run trains
        self._progress_time = now
        self._update_gate()
        if run is None:
            return
        paused = run.status == "paused"
        self.pause_btn.setText("▶ Resume" if paused else "❚❚ Pause")
        if run.active or run.status in ("completed", "stopped"):
            value = int(run.progress * 1000)
            if value != self.progress.value():
                self.progress.setValue(value)
            ep = f"epoch {min(run.epoch + 1, max(run.total_epochs, 1))}/{run.total_epochs}" if run.total_epochs else ""
            text = f"{run.activity} — {ep}, step {run.step} — %p%"
            if text != self.progress.format():
                self.progress.setFormat(text)
            text = (f"{run.images_per_sec:,.0f} img/s · ETA {backend.fmt_eta(run.eta_seconds)}"
                    if run.status == "running" and len(run.batches["step"]) else run.activity)
            if text != self.rate.text():
                self.rate.setText(text)
            now = time.monotonic()
            if run.steps_per_epoch and (now - self._marker_time > 1.0 or not run.active):
                self._marker_time = now            # the marker moves once a second (a repaint of the plot)
                self.lr_marker.setVisible(run.active)
                self.lr_marker.setValue(run.step / run.steps_per_epoch)
        elif run.status == "error":
            self.progress.setFormat(f"error — {run.message[:80]}")
            self.rate.setText("error")
            self.lr_marker.setVisible(False)

    # -- actions -------------------------------------------------------------------------------
    def start(self, max_steps: int = 0):
        """Starts a run (Start, Run > Start, Ctrl+R) unless Start is blocked (:meth:`blocked`)
        or the user turns down the warning about a huge step; returns the run or None."""
        if self.blocked() or not self._step_is_accepted():
            return None
        run = self.worker.start_training(max_steps=max_steps)
        self._update_gate()
        return run

    def step_warning(self) -> str:
        """The question to ask before a step that needs over half the machine's memory or
        over ten seconds (gui/step_estimate.py), for the model and batch set now; "" if none."""
        check, hyper = self.state.model_check or {}, self.state.hyper
        if hyper.device != "cpu" or not check.get("ok"):
            return ""
        shape, classes = tuple(check["input"]), int(check["output"][0])
        model = backend.build_model(self.state.model, shape, classes)
        est = step_estimate.estimate_step(summary(model, shape), hyper.batch_size, hyper.optimizer,
                                          int(hyper.threads) or MAX_THREADS)
        m = self.state.model
        return step_estimate.warning(est, m.zoo_name if m.source == "zoo" else "this model",
                                     step_estimate.machine_memory())

    def _step_is_accepted(self) -> bool:
        question = self.step_warning()
        if not question:
            return True
        return ask(self, "big-step-warning", question[0].upper() + question[1:],
                   "A smaller batch (Batch size) trains in steps that fit; Stop ends a step early.", "Start anyway",
                   icon=QtWidgets.QMessageBox.Warning)

    def toggle_pause(self):
        run = self.state.run()
        if run is not None and run.status == "paused":
            self.worker.resume()
        else:
            self.worker.pause()

    def _resume_dialog(self):
        if self.worker.training:
            self.worker.error.emit("A run is training; stop it before resuming another.", "")
            return
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Resume from checkpoint", str(self.state.files_folder()),
                                                        "Checkpoints (*.npz);;All files (*)")
        if path:
            self.resume_from(path)

    def resume_from(self, path: str):
        """Loads the checkpoint's settings, then continues its run up to the Epochs set here."""
        def loaded(old):
            if self.worker.training:          # a run was started while the checkpoint loaded
                self.worker.error.emit(f"A run is training; stop it before resuming {path}.", "")
                return
            self.worker.resume_settings(path)
            run = self.worker.start_training(resume_from=path)
            run.epochs = [dict(e) for e in old.epochs]       # the history so far, on the same curves
            self.state.remove_run(old.id)
            self.state.current_run = run.id
            self._update_gate()
        self.worker.load_checkpoint(path, done=loaded)

    def _save_ckpt(self):
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save checkpoint",
                                                        str(self.state.files_folder() / "checkpoint.npz"),
                                                        "Checkpoints (*.npz)")
        if path:
            self.worker.save_checkpoint(path)

    def _load_ckpt(self):
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Load checkpoint", str(self.state.files_folder()),
                                                        "Checkpoints (*.npz);;All files (*)")
        if path:
            self.worker.load_checkpoint(path)

    def _export_png(self):
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export curves", str(self.state.files_folder() / "curves.png"),
                                                        "PNG image (*.png)")
        if path:
            self.curves.export_png(path)

    def _export_csv(self):
        run = self.state.run()
        if run is None:
            return
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export metrics",
                                                        str(self.state.files_folder() / "metrics.csv"), "CSV (*.csv)")
        if path:
            run.write_csv(path)
