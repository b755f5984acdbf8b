"""Runs the engine off the GUI thread.

``EngineThread`` (no Qt) is the one thread that calls the engine: building
datasets, loaders and models, training, feature-map snapshots, evaluation and
prediction. Numba's default threading layer aborts when two Python threads enter
parallel kernels at once, so nothing else may call a kernel. Jobs queue up and run
in order; while a run trains, the queued jobs run *between batches* on the training
thread (the trainer calls our event listener there), so a prediction or a data
preview does not wait for the run to end. Results and trainer events go into an
outbox of plain Python data.

``Worker`` (Qt) drains that outbox on the GUI thread with a QTimer at ~10 Hz, folds
trainer events into the AppState and calls the jobs' callbacks. The views never see
the engine.
"""
from __future__ import annotations

import collections
import inspect
import itertools
import queue
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import backend
from .state import AppState, DataSettings, HyperParams, ModelSettings


class Job:
    __slots__ = ("id", "fn", "args", "done", "error", "name", "exclusive")

    def __init__(self, fn, args, done, error, name, exclusive):
        self.id, self.fn, self.args, self.done, self.error = next(_ids), fn, args, done, error
        self.name, self.exclusive = name, exclusive


_ids = itertools.count(1)


class EngineThread:
    """The single engine thread: a job queue, and an outbox of results and events.

    submit(fn, *args, done=cb, error=cb): run ``fn(*args)`` on the engine thread, then
    ``cb(result)`` / ``cb(exc, tb_text)`` wherever the outbox is drained (the GUI thread).
    Jobs submitted with ``exclusive=True`` never run between training batches."""

    def __init__(self):
        self._jobs: queue.Queue = queue.Queue()
        self._side: collections.deque = collections.deque()     # jobs deferred while training
        self.outbox: collections.deque = collections.deque()
        self._thread = threading.Thread(target=self._loop, name="numbacnn-engine", daemon=True)
        self.session: "TrainingSession | None" = None
        self.models: dict = {}          # run id -> (model, data, trainer): engine objects, engine thread only
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def submit(self, fn, *args, done=None, error=None, name: str = "", exclusive: bool = False) -> int:
        job = Job(fn, args, done, error, name or getattr(fn, "__name__", "job"), exclusive)
        self._jobs.put(job)
        return job.id

    def post(self, callback, *args) -> None:
        """Queue ``callback(*args)`` for the GUI thread (thread-safe)."""
        self.outbox.append((callback, args))

    def drain(self, limit: int = 100000) -> list:
        out = []
        while self.outbox and len(out) < limit:
            out.append(self.outbox.popleft())
        return out

    def shutdown(self, timeout: float = 5.0) -> None:
        if self.session is not None:
            self.session.stop()
        self._jobs.put(None)
        self._thread.join(timeout)

    # -- engine thread ----------------------------------------------------------------
    def _loop(self):
        while True:
            job = self._jobs.get()
            if job is None:
                break
            self._run(job)

    def _run(self, job: Job):
        try:
            result = job.fn(*job.args)
        except BaseException as e:  # noqa: BLE001 - reported to the GUI, the thread lives on
            tb = traceback.format_exc()
            if job.error is not None:
                self.post(job.error, e, tb)
            else:
                self.post(_report_unhandled, job.name, e, tb)
        else:
            if job.done is not None:
                self.post(job.done, result)

    def service_between_batches(self) -> None:
        """Called on the engine thread by a training run between batches: runs the
        queued non-exclusive jobs (predictions, previews, snapshots of idle models)."""
        pending = []
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._jobs.put(None)
                break
            if job.exclusive:
                pending.append(job)
            else:
                self._run(job)
        for job in pending:        # back in the queue, in order, for after the run
            self._side.append(job)

    def requeue_deferred(self) -> None:
        while self._side:
            self._jobs.put(self._side.popleft())


def _report_unhandled(name, exc, tb):
    raise RuntimeError(f"{name} failed: {exc}\n{tb}")


# --------------------------------------------------------------------------- training
class TrainingSession:
    """One run on the engine thread: builds everything from plain settings, trains with
    engine.train.Trainer, streams its events to the outbox, and keeps what it has when it
    ends in any way (ModelCheckpoint writes last.npz/best.npz; an exception adds
    error.npz; the GUI writes the per-batch metrics)."""

    def __init__(self, engine: EngineThread, run_id: int, data: DataSettings, model: ModelSettings,
                 hyper: HyperParams, directory: Path, epochs: int | None = None, resume_from: str | None = None,
                 on_events=None, max_steps: int = 0):
        self.engine = engine
        self.run_id = run_id
        self.data, self.model_settings, self.hyper = replace(data), replace(model), replace(hyper)
        self.directory = Path(directory)
        self.epochs = int(epochs or hyper.epochs)
        self.resume_from = resume_from
        self.on_events = on_events            # GUI-thread callback(run_id, [events])
        self.max_steps = int(max_steps)
        self.trainer = None
        self.model = None
        self.bundle = None
        self.optimizer = None
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self.snapshot_interval = 1.0 / hyper.snapshot_hz if hyper.snapshot_hz > 0 else 0.0
        self.want_snapshots = True
        self.probe_index = 0
        self._probe_changed = False
        self._last_snapshot = 0.0
        self._events: list = []
        self._last_flush = 0.0
        self._error_reported = False
        self.step = 0
        self.done = None

    # -- control (any thread) -----------------------------------------------------------
    # Pause happens in our own listener, between batches on the engine thread, so that
    # queued jobs (a prediction, feature maps for a new probe) still run while paused.
    def pause(self):
        self._resume.clear()
        self._paused.set()

    def resume(self):
        self._paused.clear()
        self._resume.set()

    def stop(self):
        self._stop.set()
        self._resume.set()
        t = self.trainer
        if t is not None:
            t.stop()

    def set_probe(self, index: int):
        self.probe_index = int(index)
        self._probe_changed = True

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    # -- engine thread ------------------------------------------------------------------
    def _emit(self, ev):
        self._events.append(ev)
        if time.perf_counter() - self._last_flush > 0.05 or type(ev).__name__ != "BatchEnd":
            self._flush()

    def _flush(self):
        if self._events:
            evs, self._events = self._events, []
            self._last_flush = time.perf_counter()
            self.engine.post(self.on_events, self.run_id, evs)

    def build(self):
        """Data, model, optimizer, schedule, callbacks and the Trainer."""
        from engine import manual_seed, nn
        from engine import train as T
        manual_seed(int(self.hyper.seed))
        self.bundle = bundle = backend.DataBundle(self.data, self.hyper)
        ck = None
        if self.resume_from:
            ck = T.load_checkpoint(self.resume_from)
            self.model = nn.from_spec(ck.spec)
        else:
            self.model = backend.build_model(self.model_settings, bundle.shape, len(bundle.classes))
        self.optimizer = backend.build_optimizer(self.model.parameters(), self.hyper)
        sched = backend.build_scheduler(self.optimizer, self.hyper, len(bundle.train_loader))
        callbacks = [T.ModelCheckpoint(str(self.directory),
                                       monitor="val_accuracy" if bundle.val_loader is not None else "train_loss"),
                     T.CSVLogger(str(self.directory / "metrics.csv"))]
        _, probe, _ = bundle.probe(self.probe_index)
        studio = {"data": vars(self.data), "model": vars(self.model_settings), "hyper": vars(self.hyper)}
        # the keys the CLI reads too (`numbacnn evaluate/predict` work on the studio's checkpoints)
        metadata = {"dataset": (str(Path(self.data.folder).expanduser()) if self.data.name == "ImageFolder"
                                else backend.CLI_DATASET_NAMES[self.data.name]),
                    "data_root": backend.data_root(self.data), "input_shape": list(bundle.shape),
                    "normalize": {"mean": list(bundle.mean), "std": list(bundle.std)}, "studio": _jsonable(studio)}
        self.trainer = trainer = T.Trainer(
            self.model, self.optimizer, nn.CrossEntropyLoss(), bundle.train_loader, val_loader=bundle.val_loader,
            scheduler=sched, callbacks=callbacks, device=self.hyper.device, snapshot_every=0, probe=probe,
            input_shape=bundle.shape, metadata=metadata, class_names=bundle.classes)
        if ck is not None:
            trainer.restore(ck)
            trainer.set_probe(probe)
        return trainer

    def run(self):
        """The job: everything from data to the final checkpoint."""
        from engine.train import events as E
        from engine.kernels.cpu.parallel import MAX_THREADS
        from engine.train.threads import set_threads
        threads = int(self.hyper.threads or 0)
        set_threads(threads if threads > 0 else MAX_THREADS)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            trainer = self.build()
            self.engine.models[self.run_id] = (self.model, self.bundle, trainer)
            trainer.subscribe(self._on_event)
            if self._stop.is_set():          # stopped while the data and model were being built
                from engine.train.events import Done
                self.done = Done(reason="stopped", step=trainer.step, epoch=trainer.epoch,
                                 message="stopped before the first step", history=list(trainer.history))
                self._emit(self.done)
                return
            self.done = trainer.fit(self.epochs)
        except BaseException as e:  # noqa: BLE001 - the app lives on; the run keeps what it has
            tb = traceback.format_exc()
            msg = _one_line(e)
            if not self._error_reported:
                self._emit(E.Error(message=msg, exception=None))
            self._save_after_error()
            self._flush()
            self.engine.post(_raise_to_gui, self.run_id, msg, tb)
        finally:
            self._flush()
            self.engine.session = None

    def _save_after_error(self):
        """After an exception the last good files stay as they are; the weights as they
        were when it happened go to error.npz beside them."""
        if self.trainer is None:
            return
        try:
            path = self.directory / "error.npz"
            self.trainer.save_checkpoint(str(path))
            self._emit(CheckpointSaved(str(path)))
        except Exception:  # noqa: BLE001 - nothing more to save
            pass

    def _on_event(self, ev):
        """Trainer listener, on the engine thread."""
        kind = type(ev).__name__
        if kind == "BatchEnd":
            self.step = ev.step
            self._emit(ev)
            self._between_batches()
            if self.max_steps and ev.step >= self.max_steps:
                self.trainer.stop()
        elif kind == "EpochEnd":
            self._emit(ev)
            last = self.directory / "last.npz"
            if last.exists():
                self._emit(CheckpointSaved(str(last)))
        elif kind == "Done":
            self._emit(ev)
            last = self.directory / "last.npz"
            if last.exists():
                self._emit(CheckpointSaved(str(last)))
        elif kind == "TrainStart":
            self._emit(ev)
            if self._stop.is_set():          # fit() clears a stop asked for before it began
                self.trainer.stop()
        elif kind == "Error":
            self._error_reported = True
            self._emit(E_Error(ev))
        else:
            self._emit(ev)

    def _between_batches(self):
        self.engine.service_between_batches()
        self._maybe_snapshot()
        if self._paused.is_set() and not self._stop.is_set():
            self._flush()
            self.engine.post(self.on_events, self.run_id, [Paused(True)])
            while not self._resume.wait(0.05):
                self.engine.service_between_batches()
                self._maybe_snapshot(direct=True)
                self._flush()
            self.engine.post(self.on_events, self.run_id, [Paused(False)])

    def _maybe_snapshot(self, direct: bool = False):
        t = self.trainer
        if t is None or not self.want_snapshots:
            return
        if self._probe_changed:
            self._probe_changed = False
            _, probe, _ = self.bundle.probe(self.probe_index)
            t.set_probe(probe)
            self._last_snapshot = 0.0
        now = time.perf_counter()
        if self.snapshot_interval and now - self._last_snapshot >= self.snapshot_interval:
            self._last_snapshot = now
            if direct:
                self._emit(t.snapshot())
            else:
                t.request_snapshot()       # the trainer emits it right after this BatchEnd


def E_Error(ev):
    """The trainer's Error event without the live exception object (plain data only)."""
    from engine.train.events import Error
    return Error(message=ev.message, exception=None)


class CheckpointSaved:
    """Our own event: a checkpoint file was written."""

    def __init__(self, path):
        self.path = path


CheckpointSaved.__name__ = "Checkpoint"


class Paused:
    def __init__(self, paused: bool):
        self.paused = paused


def _raise_to_gui(run_id, message, tb):
    raise TrainingError(run_id, message, tb)


class TrainingError(Exception):
    def __init__(self, run_id, message, tb):
        super().__init__(message)
        self.run_id, self.message, self.tb = run_id, message, tb


def _one_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text if isinstance(e, (ValueError, RuntimeError, OSError)) else f"{type(e).__name__}: {text}"


def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.generic):
        return o.item()
    return o


def _call(fn, kwargs):
    params = inspect.signature(fn).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return fn(**kwargs)
    return fn(**{k: v for k, v in kwargs.items() if k in params})


# --------------------------------------------------------------------------- the Qt side
from PySide6 import QtCore  # noqa: E402  (the engine half above stays importable without Qt use)

from . import qtcompat  # noqa: E402,F401  (PySide6 6.12.0 signal refcount fix)


class Worker(QtCore.QObject):
    """The views' one door to the engine. Methods are called on the GUI thread; they
    queue jobs on the engine thread, whose results come back through ``drain`` (a
    10 Hz QTimer) into the AppState or the given callbacks."""

    error = QtCore.Signal(str, str)          # message, details: the app shows a dialog
    info = QtCore.Signal(str)                # a line for the status bar

    def __init__(self, state: AppState, parent=None, interval_ms: int = 100):
        super().__init__(parent)
        self.state = state
        self.engine = EngineThread()
        self.session: TrainingSession | None = None
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.drain)
        self.timer.start()
        self.last_checkpoint: dict | None = None    # a loaded checkpoint's info (for resume)
        self._data_job = 0

    # -- outbox -----------------------------------------------------------------------
    def drain(self) -> None:
        items = self.engine.drain()
        if not items:
            return
        with self.state.batch():
            for cb, args in items:
                try:
                    cb(*args)
                except TrainingError as e:
                    self.error.emit(f"Training stopped with an error:\n\n{e.message}", e.tb)
                except Exception as e:  # noqa: BLE001
                    self.error.emit(str(e), traceback.format_exc())
        if self.session is not None and self.engine.session is None:
            self.session = None
            self.engine.requeue_deferred()
            self.state.busy = ""
            self.state.emit("status", training=False)

    def _on_events(self, run_id, events) -> None:
        plain = []
        for ev in events:
            if isinstance(ev, Paused):
                run = self.state.run(run_id)
                if run is not None and run.active and run.status != "stopping":
                    self.state.set_run_status(run_id, "paused" if ev.paused else "running")
            else:
                plain.append(ev)
        self.state.apply_events(run_id, plain)

    def _fail(self, what: str):
        def report(exc, tb):
            self.state.set_busy("")
            msg = str(exc) or type(exc).__name__
            self.error.emit(f"{what}:\n\n{msg}", tb)
        return report

    # -- data -------------------------------------------------------------------------
    def load_data(self) -> None:
        """Reads the chosen dataset (engine thread) into state.dataset_info."""
        data = replace(self.state.data)
        self._data_job += 1
        job = self._data_job
        self.state.set_busy("loading data")

        def work():
            train = backend.open_dataset(data, train=True)
            try:
                test = backend.open_dataset(data, train=False)
            except backend.DataMissing:
                test = None
            info = backend.dataset_summary(train, test, data)
            info["augmented"] = backend.augmented_samples(data, info["samples"]) if data.augment else None
            return info

        def done(info):
            if job == self._data_job:
                self.state.set_busy("")
                self.state.set_dataset_info(info)

        def failed(exc, tb):
            if job != self._data_job:
                return
            self.state.set_busy("")
            if isinstance(exc, backend.DataMissing):
                self.state.set_dataset_info({"error": str(exc), "can_download": exc.can_download, "name": data.name,
                                             "root": backend.data_root(data)})
            else:
                self.state.set_dataset_info({"error": f"{type(exc).__name__}: {exc}", "can_download": False,
                                             "name": data.name, "root": backend.data_root(data)})

        self.engine.submit(work, done=done, error=failed, name="load data")

    def augment_preview(self, seed: int = 0) -> None:
        """New augmented versions of the sample images (state.dataset_info["augmented"])."""
        info = self.state.dataset_info
        if not info or "samples" not in info:
            return
        data = replace(self.state.data)
        samples = info["samples"]

        def done(aug):
            if self.state.dataset_info is info:
                info["augmented"] = aug
                self.state.set_dataset_info(info)

        self.engine.submit(lambda: backend.augmented_samples(data, samples, seed) if data.augment else None,
                           done=done, error=self._fail("Augmentation preview failed"), name="augment")

    def download_data(self) -> None:
        data = replace(self.state.data)
        self.state.set_busy(f"downloading {data.name}")

        def done(root):
            self.state.set_busy("")
            self.info.emit(f"{data.name} downloaded to {root}")
            self.load_data()

        def failed(exc, tb):
            self.state.set_busy("")
            self.state.set_dataset_info({"error": f"Download failed: {exc}", "can_download": True,
                                         "name": data.name, "root": backend.data_root(data)})
            self.error.emit(f"Could not download {data.name}:\n\n{exc}", tb)

        self.engine.submit(backend.download, data, done=done, error=failed, name="download", exclusive=True)

    # -- training ---------------------------------------------------------------------
    def start_training(self, resume_from: str | None = None, max_steps: int = 0, epochs: int | None = None):
        """Starts a new run from the state's settings (or resumes a checkpoint)."""
        if self.session is not None:
            raise RuntimeError("a run is already training")
        st = self.state
        runs_dir = Path(st.hyper.runs_dir).expanduser() if st.hyper.runs_dir else _default_runs_dir()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name = st.model.zoo_name if st.model.source == "zoo" else "custom"
        directory = runs_dir / f"{stamp}-{name}-{st.data.name.lower()}"
        n = 1
        while directory.exists():
            n += 1
            directory = runs_dir / f"{stamp}-{name}-{st.data.name.lower()}-{n}"
        run = st.new_run(directory=str(directory))
        if resume_from:
            run.name += " (resumed)"
        session = TrainingSession(self.engine, run.id, st.data, st.model, st.hyper, directory, epochs=epochs,
                                  resume_from=resume_from, on_events=self._on_events, max_steps=max_steps)
        session.want_snapshots = bool(st.ui.get("snapshots", True)) and self.snapshots_watched
        session.probe_index = int(st.ui.get("probe_index", 0))
        self.session = session
        self.engine.session = session
        st.set_busy("training")
        self.engine.submit(session.run, name="training", exclusive=True)
        return run

    def pause(self):
        if self.session is not None:
            self.session.pause()

    def resume(self):
        if self.session is not None:
            self.session.resume()

    def stop(self):
        if self.session is not None:
            self.state.set_run_status(self.session.run_id, "stopping")
            self.session.stop()

    @property
    def training(self) -> bool:
        return self.session is not None

    def set_snapshots(self, on: bool, hz: float | None = None):
        """The user's choice: feature maps refresh while training (at ``hz``)."""
        self.state.set_ui(snapshots=bool(on))
        if self.session is not None:
            self.session.want_snapshots = bool(on) and self.snapshots_watched
            if hz:
                self.session.snapshot_interval = 1.0 / hz

    snapshots_watched = False      # whether a view shows them (no snapshots for a hidden tab)

    def watch_snapshots(self, watched: bool):
        self.snapshots_watched = bool(watched)
        if self.session is not None:
            self.session.want_snapshots = bool(self.state.ui.get("snapshots", True)) and self.snapshots_watched

    def set_probe(self, index: int):
        self.state.set_ui(probe_index=int(index))
        if self.session is not None:
            self.session.set_probe(index)
        else:
            self.snapshot()

    def snapshot(self, run_id: int | None = None):
        """Feature maps of the run's model for the probe image, outside training."""
        run = self.state.run(run_id)
        if run is None:
            return
        rid = run.id
        index = int(self.state.ui.get("probe_index", 0))

        def work():
            held = self.engine.models.get(rid)
            if held is None:
                return None
            model, bundle, trainer = held
            if not isinstance(bundle, backend.DataBundle):    # a checkpoint without its data
                return None
            _, probe, _ = bundle.probe(index)
            return backend.feature_snapshot(model, probe, step=run.step, trainer=trainer)

        def done(snap):
            if snap is not None:
                self.state.apply_events(rid, [snap])

        self.engine.submit(work, done=done, error=self._fail("Feature maps failed"), name="snapshot")

    # -- evaluate / predict -------------------------------------------------------------
    def evaluate(self, run_id: int | None = None, which: str = "test"):
        run = self.state.run(run_id)
        if run is None:
            self.error.emit("Train a model or load a checkpoint first.", "")
            return
        rid = run.id
        self.state.set_busy("evaluating")

        def work():
            held = self.engine.models.get(rid)
            if held is None:
                raise RuntimeError("this run's model is not in memory; load its checkpoint")
            model, bundle = held[0], held[1]
            return backend.evaluate(model, bundle, which)

        def done(result):
            self.state.set_busy("")
            self.state.set_evaluation(rid, result)

        self.engine.submit(work, done=done, error=self._fail("Evaluation failed"), name="evaluate", exclusive=True)

    def predict(self, path: str, run_id: int | None = None):
        run = self.state.run(run_id)
        if run is None:
            self.error.emit("Train a model or load a checkpoint first, then predict.", "")
            return
        rid = run.id

        def work():
            held = self.engine.models.get(rid)
            if held is None:
                raise RuntimeError("this run's model is not in memory; load its checkpoint")
            model, bundle = held[0], held[1]
            img = backend.load_image(path, bundle.shape)
            out = backend.predict(model, bundle, img, bundle.classes)
            out["path"] = str(path)
            return out

        self.engine.submit(work, done=self.state.set_prediction, error=self._fail(f"Could not predict {path}"),
                           name="predict")

    # -- checkpoints --------------------------------------------------------------------
    def save_checkpoint(self, path: str, run_id: int | None = None, done=None):
        """Writes the run's checkpoint (resumable when the run trained in this session)."""
        run = self.state.run(run_id)
        if run is None:
            self.error.emit("There is no model to save yet.", "")
            return
        rid = run.id
        cfg = run.config
        history = list(run.epochs)

        def work():
            held = self.engine.models.get(rid)
            if held is None:
                raise RuntimeError("this run's model is not in memory")
            model, bundle, trainer = held
            if trainer is not None:
                return trainer.save_checkpoint(str(path))
            from engine.train import save_checkpoint
            meta = {"history": history, "metadata": {"studio": _jsonable(cfg),
                                                     "class_names": bundle.classes if bundle else []}}
            if bundle is not None:
                meta["input_shape"] = list(bundle.shape)
            return save_checkpoint(str(path), model, meta)

        def ok(p):
            self.state.remember("checkpoint", p)
            run.checkpoints.append(str(p))
            self.info.emit(f"checkpoint saved: {p}")
            if done:
                done(p)

        self.engine.submit(work, done=ok, error=self._fail("Could not save the checkpoint"), name="save")

    def load_checkpoint(self, path: str, done=None):
        """Loads a checkpoint as a run (model in memory, history on the curves), ready to
        evaluate, predict or resume (Train tab: Resume)."""
        data = replace(self.state.data)
        hyper = replace(self.state.hyper)

        def work():
            from engine.train import load_checkpoint as load
            ck = load(str(path))
            model = ck.build_model()
            model.train()
            studio = ck.metadata.get("studio") or {}
            d = data
            if studio.get("data"):
                try:
                    d = DataSettings(**studio["data"])
                except TypeError:
                    pass
            h = hyper
            if studio.get("hyper"):
                try:
                    h = HyperParams(**studio["hyper"])     # the same seed: the same validation split
                except TypeError:
                    pass
            try:
                bundle = backend.DataBundle(d, h)
            except Exception:  # noqa: BLE001 - without its data the model still predicts image files
                bundle = backend.InputSpec.from_checkpoint(ck)
            return model, bundle, ck, studio

        def ok(result):
            model, bundle, ck, studio = result
            p = Path(path)
            run = self.state.add_run_from_history(f"{p.parent.name}/{p.name}", studio, ck.history,
                                                  directory=str(p.parent))
            run.checkpoints.append(str(ck.path))
            self.state.current_run = run.id
            self.engine.models[run.id] = (model, bundle, None)
            self.last_checkpoint = {"path": str(ck.path), "run": run.id, "studio": studio}
            self.state.remember("checkpoint", str(path))
            self.state.emit("runs", loaded=run.id)
            self.info.emit(f"loaded {ck.path}: {len(ck.history)} epochs of history")
            if done:
                done(run)

        self.engine.submit(work, done=ok, error=self._fail(f"Could not load {path}"), name="load", exclusive=True)

    def resume_settings(self, path: str) -> None:
        """Before resuming: the data/model/hyperparameters a checkpoint was trained with
        (its epochs stay the Train tab's, so a run can be extended)."""
        info = self.last_checkpoint or {}
        studio = info.get("studio") or {}
        epochs = self.state.hyper.epochs
        with self.state.batch():
            for key, setter in (("data", self.state.set_data), ("model", self.state.set_model),
                                ("hyper", self.state.set_hyper)):
                values = studio.get(key) or {}
                try:
                    setter(**values)
                except (KeyError, TypeError, ValueError):
                    pass
            self.state.set_hyper(epochs=epochs)

    # -- benchmark ----------------------------------------------------------------------
    def run_benchmark(self, quick: bool = False):
        """engine.bench on the engine thread (every kernel, CPU and, when usable, CUDA)."""
        self.state.set_busy("benchmarking")

        def work():
            import tempfile
            from engine import bench
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "bench.json"
                args = ["--json", str(out), "--repeats", "3"] + (["--size", "tiny"] if quick else [])
                code = bench.main(args)
                if code or not out.exists():
                    raise RuntimeError(f"the benchmark failed (exit code {code})")
                import json
                return json.loads(out.read_text())

        def done(result):
            self.state.set_busy("")
            self.state.set_benchmark(result)

        self.engine.submit(work, done=done, error=self._fail("Benchmark failed"), name="benchmark", exclusive=True)

    def shutdown(self, timeout: float = 5.0):
        self.timer.stop()
        self.engine.shutdown(timeout)


def _default_runs_dir():
    from .state import default_runs_dir
    return default_runs_dir()
