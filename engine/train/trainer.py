"""The Trainer: fit a model with an optimizer, a loss and loaders, emitting events.

    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), train_loader, val_loader,
                      scheduler=sched, callbacks=[ModelCheckpoint("runs/a"), CSVLogger("runs/a/metrics.csv")])
    trainer.subscribe(print)                   # any callable gets every event
    done = trainer.fit(5)                      # trains until 5 epochs are complete
    ev = trainer.evaluate(test_loader)         # loss, accuracy, top-5, per-class, confusion

Every engine call of a run happens on the thread that calls ``fit``; ``pause``,
``resume``, ``stop`` and ``request_snapshot`` may be called from any thread and
act between batches (a pause emits Paused events when it begins and ends, and keeps
calling ``between_batches`` meanwhile); ``stop`` also abandons a step in progress
between two of its layers and undoes it (interrupt.py), so a long step does not
delay it. ``fit(epochs)`` counts epochs from the start
of the run, so after ``restore(checkpoint)`` it trains only the epochs that remain.

What a checkpoint holds besides the weights, and its checks on restore, are in
run_state.py; evaluation in evaluation.py; feature-map snapshots in snapshots.py.
"""
from __future__ import annotations

import collections
import math
import threading
import time

import numpy as np

from ..autograd import Tensor
from ..data import DataLoader
from ..distributed.training import DistributedRun
from ..errors import one_line
from ..nn import Module
from ..nn.summary import summary
from ..optim import ReduceLROnPlateau
from . import checkpoint as ckpt
from . import run_state
from .callbacks import Callback
from .evaluation import device_ops, evaluate_model
from .events import BatchEnd, Done, EpochEnd, Error, Paused, Snapshot, TrainStart
from .interrupt import StepCancelled, StepGuard
from .snapshots import take_snapshot

__all__ = ["Trainer"]

_HOOKS = {TrainStart: "on_train_start", BatchEnd: "on_batch_end", EpochEnd: "on_epoch_end",
          Snapshot: "on_snapshot", Paused: "on_pause", Done: "on_done", Error: "on_error"}

# the loss guard stops a run whose loss exceeds this many times its reference (see Trainer)
DIVERGENCE = 1e4


class Trainer:
    """Trains ``model`` with ``optimizer`` on ``loss`` over ``train_loader`` batches (x, y).

    val_loader: evaluated at each epoch end (val_loss, val_accuracy, val_top5).
    scheduler: an engine.optim scheduler, stepped every ``scheduler.interval``
      ("epoch" or "step"; ``scheduler_interval`` overrides); a ReduceLROnPlateau is
      stepped at epoch end with ``scheduler_monitor`` (val_loss, or train_loss without
      validation).
    callbacks: :class:`engine.train.Callback` objects (ModelCheckpoint, EarlyStopping, ...).
    device: "cpu" or "cuda"; the model and loss are moved there.
    snapshot_every: take a feature-map Snapshot every N optimizer steps (0: only on request).
    probe: the (C, H, W) image snapshots show (default: the first training image seen).
    input_shape: (C, H, W) for the model summary (default: read off the dataset).
    nan_guard: stop with reason "nan" at the first loss that is not finite or has diverged,
      before its update (and at such a validation loss). Diverged: more than DIVERGENCE
      (1e4) times the run's reference loss, which is the loss of its first batch but at
      least ln K for a model of K outputs (the cross-entropy of a uniform guess) and at
      least 1. A cross-entropy that high means logits thousands apart, far past where
      softmax saturates in float32 (about 104): the updates carry no signal any more,
      while the spikes of healthy runs with high learning rates stay within ~100x.
    metadata: JSON-able dict stored in checkpoints (dataset name, class names, normalisation).
    distributed: train data-parallel over the ranks of the MPI job (under mpirun or srun;
      :mod:`engine.distributed.training`): every rank starts from rank 0's weights, gradients
      are averaged in backward, losses and metrics are the whole job's, and only rank 0
      emits events (so only its callbacks print and write files).
    between_batches: a function the training thread calls before every batch and about
      ten times a second while paused (the studio runs its queued jobs there).
    """

    def __init__(self, model, optimizer, loss, train_loader, val_loader=None, scheduler=None, callbacks=(),
                 device: str = "cpu", *, scheduler_interval: str | None = None, scheduler_monitor: str = "val_loss",
                 snapshot_every: int = 0, probe=None, input_shape=None, nan_guard: bool = True,
                 metadata: dict | None = None, class_names=None, distributed: bool = False, between_batches=None):
        self.device = device
        self.ops = device_ops(device)
        self.dist = DistributedRun(model, device) if distributed else None
        self.model = model.to(device)
        self.loss = loss.to(device) if isinstance(loss, Module) else loss
        self.optimizer = optimizer
        self.train_loader = train_loader
        self.val_loader = val_loader
        self.scheduler = scheduler
        if scheduler_interval not in (None, "epoch", "step"):
            raise ValueError(f"scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
        self.scheduler_interval = scheduler_interval
        self.scheduler_monitor = scheduler_monitor
        self.callbacks: list[Callback] = []
        for cb in callbacks:
            self.add_callback(cb)
        self.snapshot_every = int(snapshot_every)
        self.probe = None if probe is None else np.ascontiguousarray(probe, dtype=np.float32)
        self._probe_given = probe is not None
        self.input_shape = None if input_shape is None else tuple(int(s) for s in input_shape)
        self.nan_guard = nan_guard
        self.metadata = dict(metadata or {})
        if class_names is not None:
            self.metadata["class_names"] = list(class_names)
        # run state (what a checkpoint holds)
        self.epoch = 0                 # completed epochs
        self.step = 0                  # optimizer steps taken
        self.batch_in_epoch = 0        # batches of the current epoch already trained
        self.history: list[dict] = []
        self._running = {"loss_sum": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
        self._loader_state = None      # train loader position after the last trained batch
        self._loss_reference = None    # the loss guard's reference (see nan_guard)
        self._batch_lr = None
        # control (any thread)
        self._listeners: list = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pause = threading.Event()
        self._wake = threading.Event()
        self._snap = threading.Event()
        self._stop_reason = None
        self._stop_message = ""
        self._fit_thread = None
        self._between = between_batches
        self.last_done: Done | None = None

    # --- listeners ----------------------------------------------------------------------------
    def subscribe(self, fn):
        """Calls ``fn(event)`` for every event (on the training thread). Returns a function
        that unsubscribes it."""
        with self._lock:
            self._listeners.append(fn)

        def unsubscribe():
            with self._lock:
                if fn in self._listeners:
                    self._listeners.remove(fn)
        return unsubscribe

    def add_callback(self, cb: Callback) -> None:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must be engine.train.Callback objects, got {type(cb).__name__} "
                            "(use trainer.subscribe(fn) for plain functions)")
        self.callbacks.append(cb)

    def _emit(self, event) -> None:
        if self.dist is not None and not self.dist.is_root:
            return
        hook = _HOOKS[type(event)]
        for cb in sorted(self.callbacks, key=lambda c: c.order):
            getattr(cb, hook)(self, event)
        with self._lock:
            listeners = list(self._listeners)
        for fn in listeners:
            fn(event)

    # --- control from any thread ---------------------------------------------------------------
    def pause(self) -> None:
        """Blocks the training thread between batches until resume() or stop(); the pause
        begins and ends with a Paused event."""
        self._pause.set()

    def resume(self) -> None:
        self._pause.clear()
        self._wake.set()

    def stop(self, reason: str = "stopped", message: str = "") -> None:
        """Ends fit() after the current batch (Done(reason)); also wakes a paused run."""
        if self._stop_reason is None:
            self._stop_reason, self._stop_message = reason, message
        self._stop.set()
        self._wake.set()

    def request_snapshot(self) -> None:
        """Asks for a Snapshot event after the current batch (or at once while paused)."""
        self._snap.set()
        self._wake.set()

    def set_probe(self, image) -> None:
        """The (C, H, W) image later snapshots show."""
        self.probe = np.ascontiguousarray(image, dtype=np.float32)
        self._probe_given = True

    @property
    def is_running(self) -> bool:
        return self._fit_thread is not None

    @property
    def is_paused(self) -> bool:
        return self._pause.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    # --- helpers ------------------------------------------------------------------------------
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _interval(self):
        if self.scheduler is None:
            return None
        return self.scheduler_interval or self.scheduler.interval

    def _infer_input_shape(self):
        if self.input_shape is not None:
            return self.input_shape
        if self.probe is not None:
            return tuple(self.probe.shape)
        ds = getattr(self.train_loader, "dataset", None)     # any iterable of batches trains; a loader has one
        try:
            x0 = np.asarray(ds[0][0])
        except Exception:  # noqa: BLE001 - a dataset without a readable first sample: no summary shape
            return None
        if x0.ndim == 2:
            return (1,) + x0.shape
        if x0.ndim == 3 and x0.dtype == np.uint8 and x0.shape[-1] in (1, 3, 4):
            return (x0.shape[2], x0.shape[0], x0.shape[1])
        return tuple(x0.shape) if x0.ndim == 3 else None

    def _summary_text(self):
        shape = self._infer_input_shape()
        if shape is None:
            return repr(self.model)
        self.input_shape = tuple(shape)
        return str(summary(self.model, shape))   # ShapeError if the model does not fit the data

    def _steps_per_epoch(self):
        try:
            return len(self.train_loader)
        except TypeError:
            return 0

    # --- training -----------------------------------------------------------------------------
    def fit(self, epochs: int) -> Done:
        """Trains until ``epochs`` epochs of the run are complete (or stop, early stopping,
        a non-finite loss). Returns the Done event; ``self.history`` has one dict per epoch.
        An exception is reported as an Error event and raised again."""
        if int(epochs) != epochs or epochs < 0:
            raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
        epochs = int(epochs)
        if self._fit_thread is not None:
            raise RuntimeError("fit() is already running on another thread")
        self._fit_thread = threading.current_thread()
        self._stop.clear()
        self._stop_reason, self._stop_message = None, ""
        self._guard = StepGuard(self.model, None if self.dist is not None else self._stop.is_set)
        try:
            with self._guard:
                done = self._fit(epochs)
        except BaseException as e:
            try:
                self._emit(Error(message=one_line(e), exception=e))
            finally:
                self._fit_thread = None
            raise
        self._fit_thread = None
        self.last_done = done
        return done

    def _fit(self, epochs):
        spe = self._steps_per_epoch()
        text = self._summary_text()
        batch_size = int(getattr(self.train_loader, "batch_size", 0) or 0)
        self._emit(TrainStart(epochs=epochs, start_epoch=self.epoch, steps_per_epoch=spe, batch_size=batch_size,
                              model_summary=text))
        self._rate = collections.deque(maxlen=20)      # (images, seconds) of recent batches
        self._run_total = max(epochs * spe, 1)
        reason, message = "completed", ""
        self.model.train()
        while self.epoch < epochs:
            outcome = self._train_epoch(epochs)
            if outcome is not None:
                reason, message = outcome
                break
            outcome = self._end_epoch()
            if outcome is not None:
                reason, message = outcome
                break
            if self._stop_now():
                reason, message = self._stop_reason or "stopped", self._stop_message
                break
        if reason == "completed":
            message = f"trained {self.epoch} epoch{'s' if self.epoch != 1 else ''} ({self.step} steps)"
        elif reason == "stopped" and not message:
            message = f"stopped at epoch {self.epoch + 1}, step {self.step}"
        done = Done(reason=reason, step=self.step, epoch=self.epoch, message=message,
                    history=[dict(h) for h in self.history])
        self._emit(done)
        return done

    def _batches(self):
        loader = self.train_loader
        if self.batch_in_epoch > 0:
            if self._loader_state is not None and isinstance(loader, DataLoader):
                loader.load_state_dict(self._loader_state)
                return iter(loader)
            it = iter(loader)           # a plain iterable: skip what was trained already
            for _ in range(self.batch_in_epoch):
                next(it)
            return it
        if isinstance(loader, DataLoader):
            loader.set_epoch(self.epoch)
        return iter(loader)

    def _train_epoch(self, epochs):
        """Runs the rest of the current epoch; returns (reason, message) to end the run, or None."""
        ops, model, crit, opt = self.ops, self.model, self.loss, self.optimizer
        interval = self._interval()
        spe = self._steps_per_epoch()
        stateful = isinstance(self.train_loader, DataLoader)
        r = self._running
        if spe and self.batch_in_epoch >= spe:     # stopped during validation: only the epoch end is left
            return None
        if self.batch_in_epoch == 0:
            r.update(loss_sum=0.0, correct=0, seen=0, seconds=0.0)
        t_epoch = time.perf_counter() - r["seconds"]
        t_last = time.perf_counter()
        for x, y in self._batches():
            if self.probe is None:
                self.probe = np.array(np.asarray(x)[0], dtype=np.float32)
            waited = time.perf_counter()
            outcome = self._between_batches()
            if outcome is not None:
                return outcome
            if self._waited:                         # a pause does not count as training time
                waited = time.perf_counter() - waited
                t_last += waited
                t_epoch += waited
            y_host = np.asarray(y)
            self._guard.begin()
            try:
                logits = model(Tensor(ops.asarray(np.asarray(x), dtype=np.float32)))
                loss_t = crit(logits, y_host)
                loss = loss_t.item()
                if self.dist is not None:           # the whole job's batch: every rank's guard decides alike
                    loss = self.dist.mean_loss(loss, len(y_host))
                if self.nan_guard:
                    bad = self._loss_fault(loss, logits)
                    if bad:
                        return "nan", (f"the loss became {bad} at step {self.step + 1} (epoch {self.epoch + 1}, "
                                       f"batch {self.batch_in_epoch + 1}); training stopped before that update — "
                                       f"lower the learning rate; {self._kept()}")
                model.zero_grad()
                loss_t.backward()
            except StepCancelled:
                self._guard.undo()
                return self._stop_reason or "stopped", self._stop_message
            finally:
                self._guard.end()
            opt.step()
            lr = self.lr()
            self._batch_lr = lr
            if interval == "step":
                self.scheduler.step()
            pred = np.asarray(ops.to_host(ops.argmax_rows(logits.array)))
            correct = int(np.sum(pred == y_host))
            n = int(y_host.shape[0])
            if self.dist is not None:
                correct, n = self.dist.totals(correct, n)
            self.step += 1
            self.batch_in_epoch += 1
            r["loss_sum"] += loss * n
            r["correct"] += correct
            r["seen"] += n
            if stateful:
                self._loader_state = self.train_loader.state_dict()
            now = time.perf_counter()
            self._rate.append((n, now - t_last))
            t_last = now
            r["seconds"] = now - t_epoch
            imgs, secs = sum(a for a, _ in self._rate), sum(b for _, b in self._rate)
            done_steps = self.epoch * spe + self.batch_in_epoch
            step_time = secs / max(len(self._rate), 1)
            self._emit(BatchEnd(epoch=self.epoch, step=self.step, loss=loss, accuracy=correct / max(n, 1), lr=lr,
                                images_per_sec=imgs / secs if secs > 0 else 0.0,
                                progress=min(done_steps / self._run_total, 1.0),
                                eta_seconds=max(self._run_total - done_steps, 0) * step_time,
                                batch=self.batch_in_epoch, steps_per_epoch=spe))
            if self._snap.is_set() or (self.snapshot_every and self.step % self.snapshot_every == 0):
                self._snap.clear()
                self._emit(self.snapshot())
            if self._stop_now():
                return self._stop_reason or "stopped", self._stop_message
        return None

    def _between_batches(self):
        """Calls ``between_batches``; honours pause (a Paused event at either end, snapshot
        requests served and ``between_batches`` called meanwhile) and stop."""
        if self._between is not None:
            self._between()
        self._waited = self._pause.is_set() and not self._stop.is_set()
        if self._waited:
            self._emit(Paused(step=self.step, paused=True))
            while self._pause.is_set() and not self._stop.is_set():
                if self._snap.is_set():
                    self._snap.clear()
                    self._emit(self.snapshot())
                self._wake.wait(0.1)
                self._wake.clear()
                if self._between is not None:
                    self._between()
            self._emit(Paused(step=self.step, paused=False))
        if self._stop_now():
            return self._stop_reason or "stopped", self._stop_message
        return None

    def _stop_now(self) -> bool:
        """Whether the run stops here; in a distributed run, whether any rank asked to
        (every rank asks at the same points, so all stop at the same batch)."""
        return self._stop.is_set() if self.dist is None else self.dist.any(self._stop.is_set())

    def _loss_fault(self, loss, outputs):
        """None for a healthy loss; else what is wrong with it ("nan", "1e+26, more than
        ..."). The first finite loss of the run sets the reference (see nan_guard)."""
        if not math.isfinite(loss):
            return f"{loss}"
        if self._loss_reference is None:
            shape = () if outputs is None else tuple(outputs.shape)
            k = int(shape[-1]) if len(shape) >= 2 else 1
            self._loss_reference = max(loss, math.log(k), 1.0)
        if loss > DIVERGENCE * self._loss_reference:
            return (f"{loss:.3g}, more than {DIVERGENCE:,.0f} times the run's reference loss "
                    f"{self._loss_reference:.3g} (it has diverged)")
        return None

    def _kept(self) -> str:
        files = [cb.kept_checkpoint for cb in self.callbacks if cb.kept_checkpoint]
        return f"the last good checkpoint {files[-1]} is kept" if files else "no checkpoint had been saved"

    def _end_epoch(self):
        t0 = time.perf_counter()
        r = self._running
        seen = max(r["seen"], 1)
        row = {"epoch": self.epoch, "step": self.step, "train_loss": r["loss_sum"] / seen,
               "train_accuracy": r["correct"] / seen,
               "lr": self._batch_lr if self._batch_lr is not None else self.lr()}   # the rate of the epoch's last batch
        val = None
        if self.val_loader is not None:
            val = self.evaluate(self.val_loader, _interruptible=self.dist is None)
            if val is None:    # stopped during validation: the epoch's weights are trained, validation is not
                return (self._stop_reason or "stopped",
                        self._stop_message or f"stopped during validation of epoch {self.epoch + 1}")
            bad = self._loss_fault(val.loss, None) if self.nan_guard else None
            if bad:
                return "nan", (f"the validation loss became {bad} after epoch {self.epoch + 1} (step {self.step}); "
                               f"training stopped — lower the learning rate; {self._kept()}")
            row.update(val_loss=val.loss, val_accuracy=val.accuracy, val_top5=val.top5)
        row["seconds"] = r["seconds"] + (time.perf_counter() - t0)
        # scheduler at epoch end
        if self.scheduler is not None and self._interval() == "epoch":
            if isinstance(self.scheduler, ReduceLROnPlateau):
                key = self.scheduler_monitor if self.scheduler_monitor in row else "train_loss"
                self.scheduler.step(row[key])
            else:
                self.scheduler.step()
        self.epoch += 1
        self.batch_in_epoch = 0
        self.history.append(row)
        metrics = {k: v for k, v in row.items() if k not in ("epoch", "step", "train_loss", "train_accuracy",
                                                          "val_loss", "val_accuracy", "lr", "seconds")}
        if val is not None:
            metrics["val_per_class"] = val.per_class.copy()
            metrics["val_confusion"] = val.confusion.copy()
        metrics["next_lr"] = self.lr()
        self._emit(EpochEnd(epoch=row["epoch"], step=row["step"], train_loss=row["train_loss"],
                            train_accuracy=row["train_accuracy"], val_loss=row.get("val_loss"),
                            val_accuracy=row.get("val_accuracy"), lr=row["lr"], seconds=row["seconds"],
                            metrics=metrics))
        return None

    # --- evaluation ---------------------------------------------------------------------------
    def evaluate(self, loader, *, _interruptible: bool = False):
        """Loss, accuracy, top-5 accuracy, per-class accuracy and confusion matrix of the
        model on ``loader``'s batches (eval mode; train mode is restored after)."""
        if self._fit_thread is not None and self._fit_thread is not threading.current_thread():
            raise RuntimeError("evaluate() cannot run while fit() runs on another thread; "
                               "pause or stop the run, or evaluate from a callback")
        stop = self._stop.is_set if _interruptible else None
        return evaluate_model(self.model, loader, loss=self.loss, device=self.device,
                              class_names=self.metadata.get("class_names") or (), should_stop=stop)

    # --- snapshots ----------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """The feature maps of the probe image at this step (:func:`.snapshots.take_snapshot`)."""
        if self.probe is None:
            raise RuntimeError("no probe image yet: pass probe= or train one batch first")
        return take_snapshot(self.model, self.probe, self.step)

    # --- checkpoints --------------------------------------------------------------------------
    def state(self) -> dict:
        """Everything but the weights a checkpoint holds (:func:`.run_state.state_of`)."""
        return run_state.state_of(self)

    def save_checkpoint(self, path) -> str:
        """Writes model spec, weights, optimizer, scheduler, RNG and loader states and the
        history to ``path`` (atomically: a crash leaves the previous file whole)."""
        return ckpt.save_checkpoint(path, self.model, self.state())

    def restore(self, path_or_checkpoint) -> "Trainer":
        """Continues the run a checkpoint holds: weights, optimizer and scheduler state, RNG
        and loader positions, counters and history. Every part is checked against this
        trainer first (architecture, optimizer and schedule types, each state's shapes,
        dtypes and ranges) and nothing changes unless all of it fits: CheckpointError
        otherwise ("checkpoint FILE is damaged: ..." for a state that cannot be right)."""
        c = path_or_checkpoint
        if not isinstance(c, ckpt.Checkpoint):
            c = ckpt.load_checkpoint(c)
        run_state.check_restore(self, c)
        run_state.apply_restore(self, c)
        return self

