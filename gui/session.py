"""One training run of the studio, on the engine thread (no Qt).

The run is built by the engine's recipe (:mod:`engine.train.recipe`) from the app
state's settings, exactly as ``numbacnn train`` builds it from its options, and trained
by :class:`engine.train.Trainer`. Its events go to the GUI thread in small batches; it
keeps what it has when it ends in any way (ModelCheckpoint writes last.npz and
best.npz, and a stopped run always has a last.npz, even one stopped before its first
step; after an exception the weights of that moment go to error.npz beside them).
"""
from __future__ import annotations

import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path

from engine.errors import one_line
from engine.train import BatchEnd, Done, EpochEnd, Error, TrainStart, load_checkpoint, recipe
from engine.train.jsonable import jsonable
from engine.train.threads import set_threads

from . import backend
from .engine_thread import reraise
from .events import CheckpointSaved


class TrainingError(Exception):
    """A run ended by an exception: its run id, one-line message and traceback."""

    def __init__(self, run_id, message, tb):
        super().__init__(message)
        self.run_id, self.message, self.tb = run_id, message, tb


class TrainingSession:
    """One run on the engine thread (``run`` is its job); ``pause``, ``resume``, ``stop``
    and ``set_probe`` may be called from any thread and act between batches.

    ``on_events(run_id, events)`` is posted to the GUI thread with the run's events
    (the trainer's and :mod:`gui.events`'); ``max_steps`` > 0 stops the run after that
    many steps; ``epochs`` overrides the settings' (a resumed run's new total)."""

    FLUSH_SECONDS = 0.05          # batch-end events are sent at most this often (others at once)

    def __init__(self, engine, run_id: int, data, model, hyper, directory, epochs: int | None = None,
                 resume_from: str | None = None, on_events=None, max_steps: int = 0):
        self.engine = engine
        self.run_id = run_id
        self.data, self.model_settings, self.hyper = replace(data), replace(model), replace(hyper)
        self.directory = Path(directory)
        self.epochs = int(epochs or hyper.epochs)
        self.resume_from = resume_from
        self.on_events = on_events
        self.max_steps = int(max_steps)
        self.trainer = None
        self.model = None
        self.bundle = None
        self._stop = threading.Event()
        self._pause = threading.Event()        # asked for before the trainer exists: it pauses from its start
        self.snapshot_interval = 1.0 / hyper.snapshot_hz if hyper.snapshot_hz > 0 else 0.0
        self.want_snapshots = True
        self.probe_index = 0
        self._probe_changed = False
        self._last_snapshot = 0.0
        self._events: list = []
        self._last_flush = 0.0
        self._error_reported = False
        self.done = None

    # -- control (any thread) -----------------------------------------------------------
    # The Trainer pauses between batches and keeps calling our between-batches hook, so
    # queued jobs (a prediction, feature maps for a new probe) still run while paused.
    def pause(self):
        self._pause.set()
        if self.trainer is not None:
            self.trainer.pause()

    def resume(self):
        self._pause.clear()
        if self.trainer is not None:
            self.trainer.resume()

    def stop(self):
        self._stop.set()
        if self.trainer is not None:
            self.trainer.stop()

    @property
    def stopping(self) -> bool:
        """Whether the run was asked to stop."""
        return self._stop.is_set()

    def set_probe(self, index: int):
        self.probe_index = int(index)
        self._probe_changed = True

    # -- engine thread ------------------------------------------------------------------
    def _emit(self, ev):
        self._events.append(ev)
        if time.perf_counter() - self._last_flush > self.FLUSH_SECONDS or not isinstance(ev, BatchEnd):
            self._flush()

    def _flush(self):
        if self._events:
            evs, self._events = self._events, []
            self._last_flush = time.perf_counter()
            self.engine.post(self.on_events, self.run_id, evs)

    def settings(self) -> recipe.Settings:
        """The recipe settings of this run."""
        return backend.run_settings(self.data, self.model_settings, self.hyper, epochs=self.epochs)

    def build(self):
        """The run from the recipe (a resumed run: the checkpoint's model and state), its
        data as the views draw it, and the Trainer."""
        ck = load_checkpoint(self.resume_from) if self.resume_from else None
        run = recipe.build(self.settings(), self.directory, model=None if ck is None else ck.build_model())
        self.model = run.model
        self.bundle = backend.DataBundle(self.data, self.hyper, run.data)
        run.metadata["studio"] = jsonable({"data": vars(self.data), "model": vars(self.model_settings),
                                           "hyper": vars(self.hyper)})
        _, probe, _ = self.bundle.probe(self.probe_index)
        self.trainer = run.trainer(probe=probe, between_batches=self._between_batches)
        if self._pause.is_set():
            self.trainer.pause()
        if ck is not None:
            self.trainer.restore(ck)
            self.trainer.set_probe(probe)
        return self.trainer

    def run(self):
        """The job: everything from the data to the final checkpoint."""
        set_threads(int(self.hyper.threads) or None)
        try:
            trainer = self.build()                       # data and model first: a run that cannot start
            self.directory.mkdir(parents=True, exist_ok=True)     # leaves no run folder behind
            self.engine.models[self.run_id] = (self.model, self.bundle, trainer)
            trainer.subscribe(self._on_event)
            if self._stop.is_set():          # stopped while the data and model were being built
                last = self.directory / "last.npz"
                if not last.exists():            # the run folder holds a run that resumes
                    self._emit(CheckpointSaved(trainer.save_checkpoint(str(last))))
                self.done = Done(reason="stopped", step=trainer.step, epoch=trainer.epoch,
                                 message="stopped before the first step", history=list(trainer.history))
                self._emit(self.done)
                return
            self.done = trainer.fit(self.epochs)
        except BaseException as e:  # noqa: BLE001 - the app lives on; the run keeps what it has
            tb = traceback.format_exc()
            msg = one_line(e)
            if not self._error_reported:
                self._emit(Error(message=msg))
            self._save_after_error()
            self._flush()
            self.engine.post(reraise, TrainingError(self.run_id, msg, tb))
        finally:
            self._flush()
            self.engine.session = None

    def _save_after_error(self):
        """After an exception the last good files stay as they are; the weights as they
        were when it happened go to error.npz beside them."""
        if self.trainer is None:
            return
        path = self.directory / "error.npz"
        try:
            self.trainer.save_checkpoint(str(path))
        except Exception:  # noqa: BLE001 - nothing more can be saved; the error is reported already
            return
        self._emit(CheckpointSaved(str(path)))

    def _on_event(self, ev):
        """The trainer's listener, on the engine thread."""
        if isinstance(ev, Error):
            self._error_reported = True
            self._emit(Error(message=ev.message))          # without the live exception object
            return
        self._emit(ev)
        if isinstance(ev, BatchEnd):
            if self.max_steps and ev.step >= self.max_steps:
                self.trainer.stop()
        elif isinstance(ev, (EpochEnd, Done)):
            last = self.directory / "last.npz"
            if last.exists():
                self._emit(CheckpointSaved(str(last)))
        elif isinstance(ev, TrainStart) and self._stop.is_set():
            self.trainer.stop()                  # fit() clears a stop asked for before it began

    def _between_batches(self):
        """The Trainer's hook (before every batch, and while paused): the queued jobs, the
        events so far, and a feature-map snapshot when one is due."""
        self.engine.service_between_batches()
        self._flush()
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
            t.request_snapshot()           # after the next batch, or at once while paused

