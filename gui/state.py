"""The studio's app state, free of Qt: what the user chose (dataset, model spec,
hyperparameters) and what happened (runs with their histories, evaluations).

Views observe it through a tiny observer mechanism: ``state.subscribe(fn, topic)``
registers a plain callable, ``state.emit(topic, **info)`` calls every subscriber of
that topic (and every subscriber of all topics). The state is only touched on the
GUI thread; the worker hands it plain numbers and arrays.

The last session's settings persist as JSON at ``$NUMBACNN_CONFIG`` (a ``.json``
file, or a folder that gets ``studio.json``), else ``~/.config/numbacnn/studio.json``.
"""
from __future__ import annotations

import copy
import csv
import io
import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from engine.train import events as E
from engine.train.checkpoint import atomic_write_bytes
from engine.train.jsonable import jsonable

from .events import CheckpointSaved

# Topics the state emits.
DATA, MODEL, HYPER, RUNS, RUN, SNAPSHOT, STATUS, EVALUATION, SAMPLES, BENCHMARK, PREDICTION, MESSAGE = (
    "data", "model", "hyper", "runs", "run", "snapshot", "status", "evaluation", "samples", "benchmark",
    "prediction", "message")

DATASETS = ("MNIST", "FashionMNIST", "CIFAR10", "ImageFolder")
OPTIMIZERS = ("SGD", "Adam", "AdamW")
SCHEDULES = ("constant", "StepLR", "MultiStepLR", "CosineAnnealingLR", "OneCycleLR", "ReduceLROnPlateau")


def config_path() -> Path:
    """Where the last session's settings live."""
    env = os.environ.get("NUMBACNN_CONFIG")
    if env:
        p = Path(env).expanduser()
        return p if p.suffix == ".json" else p / "studio.json"
    return Path.home() / ".config" / "numbacnn" / "studio.json"


def default_runs_dir() -> Path:
    """Default folder for run directories (checkpoints, metrics.csv)."""
    if os.environ.get("NUMBACNN_CONFIG"):
        return config_path().parent / "runs"
    return Path.home() / ".local" / "share" / "numbacnn" / "runs"


class Observable:
    """subscribe(fn, topic=None) / unsubscribe(fn) / emit(topic, **info). A subscriber
    with topic None hears every topic and gets ``topic`` as a keyword."""

    def __init__(self):
        self._subscribers: list[tuple[str | None, object]] = []
        self._muted = 0
        self._pending: dict[str, dict] = {}

    def subscribe(self, fn, topic: str | None = None):
        self._subscribers.append((topic, fn))
        return fn

    def unsubscribe(self, fn) -> None:
        self._subscribers = [(t, f) for t, f in self._subscribers if f is not fn]

    def emit(self, topic: str, **info) -> None:
        if self._muted:
            pending = self._pending.setdefault(topic, {})
            for k, v in info.items():
                if isinstance(v, dict) and isinstance(pending.get(k), dict):
                    pending[k] = {**pending[k], **v}
                else:
                    pending[k] = v
            return
        for t, fn in list(self._subscribers):
            if t is None:
                fn(topic=topic, **info)
            elif t == topic:
                fn(**info)

    def batch(self):
        """``with state.batch(): ...`` merges the notifications of many changes into one
        per topic, sent when the block ends."""
        return _Batch(self)


class _Batch:
    def __init__(self, obs: Observable):
        self.obs = obs

    def __enter__(self):
        self.obs._muted += 1

    def __exit__(self, *exc):
        self.obs._muted -= 1
        if not self.obs._muted:
            pending, self.obs._pending = self.obs._pending, {}
            for topic, info in pending.items():
                self.obs.emit(topic, **info)


# --------------------------------------------------------------------------- settings
@dataclass
class DataSettings:
    name: str = "MNIST"            # one of DATASETS
    root: str = ""                 # data root; "" means datasets.default_root()
    folder: str = ""               # ImageFolder: a folder (or archive) of class folders, or a saved dataset definition (.json)
    val_fraction: float = 0.1      # held out of the training images for validation
    limit: int = 0                 # use only this many training images (0: all)
    augment: bool = False
    random_crop: bool = True
    crop_padding: int = 4
    hflip: bool = False            # mirrors digits: for natural images (CIFAR-10)
    color_jitter: bool = False
    normalize: bool = True


@dataclass
class ModelSettings:
    source: str = "zoo"            # "zoo" or "custom"
    zoo_name: str = "mnist_cnn"
    spec: dict | None = None       # the custom model's spec (a Sequential), when source == "custom"


@dataclass
class HyperParams:
    optimizer: str = "SGD"
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False         # SGD with Nesterov momentum
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 2
    shuffle: bool = True
    schedule: str = "constant"     # one of SCHEDULES
    step_size: int = 1             # StepLR
    gamma: float = 0.1             # StepLR / MultiStepLR
    milestones: str = "2, 4"       # MultiStepLR, epochs
    warmup_epochs: float = 0.0     # linear warm-up before the schedule
    patience: int = 1              # ReduceLROnPlateau
    device: str = "cpu"            # "cpu" or "cuda"
    threads: int = 0               # CPU threads for the kernels; 0 = all
    seed: int = 0
    num_workers: int = 0           # DataLoader worker threads
    snapshot_hz: float = 1.0       # feature-map refreshes per second while training
    runs_dir: str = ""             # "" means default_runs_dir()

    def milestone_list(self) -> list[int]:
        out = []
        for part in str(self.milestones).replace(";", ",").split(","):
            part = part.strip()
            if part:
                out.append(int(float(part)))
        return sorted(out)


def _update_dataclass(obj, values: dict) -> dict:
    """Sets known fields of ``obj`` from ``values`` (cast to the field's current type);
    returns the fields that changed."""
    changed = {}
    names = {f.name for f in fields(obj)}
    for k, v in values.items():
        if k not in names:
            raise KeyError(f"{type(obj).__name__} has no setting {k!r}")
        old = getattr(obj, k)
        if isinstance(old, bool):
            v = bool(v)
        elif isinstance(old, int) and not isinstance(v, bool) and v is not None:
            v = int(v)
        elif isinstance(old, float) and v is not None:
            v = float(v)
        if v != old:
            setattr(obj, k, v)
            changed[k] = v
    return changed


# --------------------------------------------------------------------------- runs
class Series:
    """A growable float64 column (amortised O(1) append, ``view()`` without copying)."""

    def __init__(self, capacity: int = 1024):
        self._a = np.empty(capacity, np.float64)
        self.n = 0

    def append(self, v: float) -> None:
        if self.n == len(self._a):
            self._a = np.concatenate([self._a, np.empty(len(self._a), np.float64)])
        self._a[self.n] = np.nan if v is None else v
        self.n += 1

    def view(self) -> np.ndarray:
        return self._a[:self.n]

    def __len__(self):
        return self.n


# seconds: wall time since the run started, as the studio received the batch (within the
# tenth of a second the worker takes to deliver it); empty for runs read from files
BATCH_COLUMNS = ("step", "epoch", "loss", "accuracy", "lr", "images_per_sec", "seconds")
EPOCH_COLUMNS = ("epoch", "step", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")


@dataclass
class Run:
    """One training run: its configuration and everything it reported."""

    id: int
    name: str
    config: dict                                   # data/model/hyper at start (plain dicts)
    directory: str = ""                            # checkpoints and metrics.csv live here
    status: str = "created"                        # created, starting, running, paused, stopping,
                                                   # completed, stopped, error, ...
    visible: bool = True                           # drawn in the curve overlay
    started: float = field(default_factory=time.time)
    batches: dict = field(default_factory=lambda: {c: Series() for c in BATCH_COLUMNS})
    epochs: list = field(default_factory=list)     # one dict per finished epoch
    progress: float = 0.0
    images_per_sec: float = 0.0
    eta_seconds: float = float("nan")
    step: int = 0
    epoch: int = 0
    total_epochs: int = 0
    steps_per_epoch: int = 0
    checkpoints: list = field(default_factory=list)
    message: str = ""                              # last error / done message
    summary: str = ""
    snapshot: object = None                        # the latest engine Snapshot event
    evaluation: dict | None = None

    def batch_arrays(self) -> dict[str, np.ndarray]:
        return {c: s.view() for c, s in self.batches.items()}

    def epoch_arrays(self) -> dict[str, np.ndarray]:
        return {c: np.array([np.nan if e.get(c) is None else e.get(c) for e in self.epochs], np.float64)
                for c in EPOCH_COLUMNS}

    @property
    def active(self) -> bool:
        return self.status in ("starting", "running", "paused", "stopping")

    @property
    def activity(self) -> str:
        """What the run is doing, in words: preparing its data and model, compiling kernels
        (until its first batch is done), else its status ("running", "paused", ...)."""
        if self.status == "starting":
            return "preparing the data and the model"
        if self.status == "running" and not len(self.batches["step"]):
            return "compiling kernels…"
        return self.status

    def write_csv(self, path) -> None:
        """Per-batch and per-epoch metrics as one CSV (``kind`` column says which), written
        atomically: a crash leaves the previous file whole, never a part of it."""
        cols = ["kind", "step", "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "images_per_sec",
                "seconds"]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        b = self.batch_arrays()
        for i in range(len(b["step"])):
            w.writerow(["batch", int(b["step"][i]), int(b["epoch"][i]), _num(b["loss"][i]),
                        _num(b["accuracy"][i]), "", "", _num(b["lr"][i]), _num(b["images_per_sec"][i]),
                        _num(b["seconds"][i]) if i < len(b["seconds"]) else ""])
        for e in self.epochs:
            w.writerow(["epoch", e.get("step", ""), e.get("epoch", ""), _num(e.get("train_loss")),
                        _num(e.get("train_accuracy")), _num(e.get("val_loss")), _num(e.get("val_accuracy")),
                        _num(e.get("lr")), "", _num(e.get("seconds"))])
        atomic_write_bytes(str(path), buf.getvalue().encode())


def _num(v):
    if v is None:
        return ""
    v = float(v)
    return "" if v != v else f"{v:.6g}"


# --------------------------------------------------------------------------- the state
class AppState(Observable):
    """Everything the views show. Mutate only through the methods (they notify)."""

    def __init__(self, path: str | os.PathLike | None = None):
        super().__init__()
        self.path = Path(path) if path else config_path()
        self.data = DataSettings()
        self.model = ModelSettings()
        self.hyper = HyperParams()
        self.ui: dict = {}                 # view settings (tab, geometry, smoothing, ...)
        self.recent: dict = {}             # recent files by kind
        self.runs: list[Run] = []
        self.current_run: int | None = None
        self.busy: str = ""                # what the engine thread is doing ("" when idle)
        # derived information the views share
        self.dataset_info: dict | None = None     # classes, counts, shape, error
        self.model_check: dict | None = None      # rows, ok, message, input shape
        self.benchmark: dict | None = None
        self.prediction: dict | None = None
        self._next_run = 1

    # -- settings --------------------------------------------------------------------
    def set_data(self, **values) -> None:
        changed = _update_dataclass(self.data, values)
        if changed:
            self.emit(DATA, changed=changed)

    def set_model(self, **values) -> None:
        if "spec" in values and values["spec"] is not None:
            values["spec"] = copy.deepcopy(values["spec"])
        changed = _update_dataclass(self.model, values)
        if changed:
            self.emit(MODEL, changed=changed)

    def set_hyper(self, **values) -> None:
        changed = _update_dataclass(self.hyper, values)
        if changed:
            self.emit(HYPER, changed=changed)

    def set_ui(self, **values) -> None:
        self.ui.update(values)

    def set_dataset_info(self, info: dict | None) -> None:
        self.dataset_info = info
        self.emit(SAMPLES, info=info)

    def set_model_check(self, check: dict | None) -> None:
        self.model_check = check
        self.emit(MODEL, check=check)

    def set_busy(self, what: str) -> None:
        if what != self.busy:
            self.busy = what
            self.emit(STATUS, busy=what)

    def message(self, text: str, level: str = "info") -> None:
        """A line for the status bar (level "info") or a dialog ("error")."""
        self.emit(MESSAGE, text=text, level=level)

    @property
    def can_train(self) -> bool:
        """Train is enabled when the model fits the data and no run is active."""
        check = self.model_check
        return bool(check and check.get("ok")) and not any(r.active for r in self.runs)

    @property
    def training(self) -> bool:
        return any(r.active for r in self.runs)

    # -- runs ------------------------------------------------------------------------
    def snapshot_config(self) -> dict:
        return {"data": asdict(self.data), "model": asdict(self.model), "hyper": asdict(self.hyper)}

    def new_run(self, name: str | None = None, directory: str = "") -> Run:
        cfg = self.snapshot_config()
        model_name = self.model.zoo_name if self.model.source == "zoo" else "custom"
        run = Run(id=self._next_run, name=name or f"run {self._next_run}: {model_name} on {self.data.name}",
                  config=cfg, directory=directory, status="starting", total_epochs=self.hyper.epochs)
        self._next_run += 1
        self.runs.append(run)
        self.current_run = run.id
        self.emit(RUNS, added=run.id)
        self.emit(STATUS, run=run.id, status=run.status)
        return run

    def runs_dir(self) -> Path:
        """Where new runs go: the Train tab's runs folder, else :func:`default_runs_dir`."""
        return Path(self.hyper.runs_dir).expanduser() if self.hyper.runs_dir else default_runs_dir()

    def files_folder(self) -> Path:
        """Where file dialogs open: the selected run's folder, else the runs folder, else
        the nearest folder above it that exists."""
        run = self.run()
        if run is not None and run.directory and Path(run.directory).is_dir():
            return Path(run.directory)
        folder = self.runs_dir()
        while not folder.is_dir() and folder != folder.parent:
            folder = folder.parent
        return folder

    def run(self, run_id: int | None = None) -> Run | None:
        run_id = self.current_run if run_id is None else run_id
        for r in self.runs:
            if r.id == run_id:
                return r
        return None

    def remove_run(self, run_id: int) -> None:
        run = self.run(run_id)
        if run is None or run.active:
            return
        self.runs.remove(run)
        if self.current_run == run_id:
            self.current_run = self.runs[-1].id if self.runs else None
        self.emit(RUNS, removed=run_id)

    def set_run_visible(self, run_id: int, visible: bool) -> None:
        run = self.run(run_id)
        if run is not None and run.visible != visible:
            run.visible = visible
            self.emit(RUNS, visible=run_id)

    def set_run_status(self, run_id: int, status: str, message: str = "") -> None:
        run = self.run(run_id)
        if run is None:
            return
        run.status = status
        if message:
            run.message = message
        self.emit(STATUS, run=run_id, status=status, message=message)

    def add_run_from_history(self, name: str, config: dict, history: list, directory: str = "") -> Run:
        """A finished run rebuilt from a checkpoint's history (epoch rows) for the overlay."""
        run = Run(id=self._next_run, name=name, config=config or {}, directory=directory, status="loaded")
        self._next_run += 1
        for row in history or []:
            run.epochs.append(dict(row))
        if run.epochs:
            run.epoch = int(run.epochs[-1].get("epoch", 0)) + 1
            run.step = int(run.epochs[-1].get("step", 0) or 0)
        self.runs.append(run)
        self.emit(RUNS, added=run.id)
        return run

    def apply_events(self, run_id: int, events: list) -> None:
        """Folds a batch of the run's events (engine.train.events and gui.events) into the
        run and notifies once per topic."""
        run = self.run(run_id)
        if run is None or not events:
            return
        touched, snap, status = False, None, None
        received = time.time() - run.started
        for ev in events:
            if isinstance(ev, E.BatchEnd):
                b = run.batches
                b["step"].append(ev.step)
                b["epoch"].append(ev.epoch)
                b["loss"].append(ev.loss)
                b["accuracy"].append(ev.accuracy)
                b["lr"].append(ev.lr)
                b["images_per_sec"].append(ev.images_per_sec)
                b["seconds"].append(received)
                run.step, run.epoch = ev.step, ev.epoch
                run.progress, run.images_per_sec, run.eta_seconds = ev.progress, ev.images_per_sec, ev.eta_seconds
                if run.status in ("starting",):
                    run.status = status = "running"
                touched = True
            elif isinstance(ev, E.EpochEnd):
                row = {"epoch": ev.epoch, "step": ev.step, "train_loss": ev.train_loss,
                       "train_accuracy": ev.train_accuracy, "val_loss": ev.val_loss,
                       "val_accuracy": ev.val_accuracy, "lr": ev.lr, "seconds": ev.seconds}
                row.update({k: v for k, v in (ev.metrics or {}).items() if isinstance(v, (int, float))})
                run.epochs.append(row)
                run.epoch = ev.epoch + 1
                touched = True
            elif isinstance(ev, E.TrainStart):
                run.total_epochs = ev.epochs
                run.steps_per_epoch = ev.steps_per_epoch
                run.summary = ev.model_summary
                if run.status == "starting":
                    run.status = status = "running"
                touched = True
            elif isinstance(ev, E.Snapshot):
                run.snapshot = snap = ev
            elif isinstance(ev, E.Done):
                run.status = status = ev.reason if ev.reason in ("completed", "stopped") else ev.reason
                run.message = ev.message
                if ev.reason == "completed":
                    run.progress = 1.0
                run.eta_seconds = 0.0
                touched = True
            elif isinstance(ev, E.Error):
                run.status = status = "error"
                run.message = ev.message
                touched = True
            elif isinstance(ev, CheckpointSaved):
                run.checkpoints.append(ev.path)
                touched = True
            elif isinstance(ev, E.Paused):
                if run.active and run.status != "stopping":
                    run.status = status = "paused" if ev.paused else "running"
        with self.batch():
            if touched:
                self.emit(RUN, run=run_id)
            if snap is not None:
                self.emit(SNAPSHOT, run=run_id)
            if status is not None:
                self.emit(STATUS, run=run_id, status=status, message=run.message)

    def set_evaluation(self, run_id: int | None, result: dict) -> None:
        run = self.run(run_id)
        if run is not None:
            run.evaluation = result
        self.emit(EVALUATION, run=run_id, result=result)

    def set_prediction(self, result: dict) -> None:
        self.prediction = result
        self.emit(PREDICTION, result=result)

    def set_benchmark(self, result: dict | None) -> None:
        self.benchmark = result
        self.emit(BENCHMARK, result=result)

    # -- persistence -----------------------------------------------------------------
    def settings_dict(self) -> dict:
        return {"version": 1, "data": asdict(self.data), "model": asdict(self.model), "hyper": asdict(self.hyper),
                "ui": self.ui, "recent": self.recent}

    def save(self) -> Path:
        """Writes the settings (not the runs: those live in their run folders)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(jsonable(self.settings_dict()), indent=1))
        os.replace(tmp, self.path)
        return self.path

    def load(self) -> bool:
        """Reads the last session's settings; unknown or broken entries are skipped."""
        try:
            saved = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return False
        for obj, key in ((self.data, "data"), (self.model, "model"), (self.hyper, "hyper")):
            for k, v in (saved.get(key) or {}).items():
                try:
                    _update_dataclass(obj, {k: v})
                except (KeyError, TypeError, ValueError):
                    pass
        if self.data.name not in DATASETS:
            self.data.name = "MNIST"
        if self.hyper.optimizer not in OPTIMIZERS:
            self.hyper.optimizer = "SGD"
        if self.hyper.schedule not in SCHEDULES:
            self.hyper.schedule = "constant"
        self.ui = dict(saved.get("ui") or {})
        self.recent = dict(saved.get("recent") or {})
        for topic in (DATA, MODEL, HYPER):
            self.emit(topic, changed={})
        return True

    def remember(self, kind: str, path: str) -> None:
        self.recent[kind] = str(path)

