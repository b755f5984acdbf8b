"""Callbacks, Keras-style: the Trainer calls ``on_<event>(trainer, event)`` on each.

ModelCheckpoint (best and last), EarlyStopping, CSVLogger, JSONLogger and a
terminal ProgressBar. The NaN/inf guard is built into the Trainer (``nan_guard``),
because it must act before the bad update is applied.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import socket
import sys
import time
import warnings

from .checkpoint import atomic_write_bytes, remove_temporaries
from .events import METRICS
from .jsonable import jsonable

__all__ = ["Callback", "LambdaCallback", "ModelCheckpoint", "EarlyStopping", "CSVLogger", "JSONLogger",
           "ProgressBar"]


class Callback:
    """Base class; override the hooks you need. ``order``: lower runs first (checkpoints
    run last, so the state they save includes the other callbacks' updates).
    ``kept_checkpoint``: the file this callback saved (or resumed) the run's latest good
    state in, which a run stopped by a bad loss keeps; None if there is none."""

    order = 0
    kept_checkpoint = None

    def on_train_start(self, trainer, event): pass

    def on_batch_end(self, trainer, event): pass

    def on_epoch_end(self, trainer, event): pass

    def on_snapshot(self, trainer, event): pass

    def on_pause(self, trainer, event): pass

    def on_done(self, trainer, event): pass

    def on_error(self, trainer, event): pass

    def state_dict(self) -> dict:
        """JSON-able state a checkpoint keeps (for an exact resume)."""
        return {}

    def check_state_dict(self, state: dict) -> None:
        """Raises ValueError, saying what, if ``load_state_dict(state)`` would not fit."""

    def load_state_dict(self, state: dict) -> None:
        pass


class LambdaCallback(Callback):
    """Callback from plain functions: ``LambdaCallback(on_epoch_end=lambda trainer, ev: ...)``."""

    def __init__(self, **hooks):
        for name, fn in hooks.items():
            if not name.startswith("on_") or not hasattr(Callback, name):
                raise ValueError(f"LambdaCallback: unknown hook {name!r}")
            setattr(self, name, fn)


def _resolve_mode(monitor: str, mode: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    return "min" if "loss" in monitor else "max"


def _resolve_monitor(trainer, monitor: str, who: str) -> str:
    if monitor not in METRICS:
        raise ValueError(f"{who}: unknown monitor {monitor!r}; choose one of {', '.join(METRICS)}")
    if monitor.startswith("val_") and trainer.val_loader is None:
        fallback = "train_" + monitor[4:]
        if fallback not in METRICS:
            fallback = "train_loss"
        warnings.warn(f"{who}: no validation loader, monitoring {fallback} instead of {monitor}", stacklevel=3)
        return fallback
    return monitor


class _Monitor:
    def _check_best(self, state: dict) -> None:
        """best: a number or None; best_epoch: a whole number >= 0 or None."""
        who = type(self).__name__
        best, epoch = state.get("best"), state.get("best_epoch")
        if best is not None and (isinstance(best, bool) or not isinstance(best, (int, float))):
            raise ValueError(f"{who} state: best is {best!r}, not a number")
        if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0):
            raise ValueError(f"{who} state: best_epoch is {epoch!r}, not a whole number >= 0")

    def _improved(self, value, best):
        if best is None:
            return True
        if self.mode == "min":
            return value < best - self.min_delta
        return value > best + self.min_delta


class ModelCheckpoint(_Monitor, Callback):
    """Saves ``last.npz`` in ``dirpath`` at every epoch end (and when the run is stopped
    mid-epoch, or before it has a ``last.npz``, so it can resume), and ``best.npz`` whenever
    ``monitor`` improves.
    Nothing is written after a non-finite or diverged loss: the last good files stay.

    best.npz is written before last.npz: last.npz records the best value, so a kill
    between the two writes leaves last.npz one epoch behind a best.npz that the resumed
    run (which repeats that epoch exactly) writes again, never a last.npz that claims a
    best that best.npz does not hold. Temporaries a killed write left are removed at the
    next train start."""

    order = 100

    def __init__(self, dirpath, monitor: str = "val_accuracy", mode: str = "auto", save_best: bool = True,
                 save_last: bool = True, every_n_epochs: int = 1, best_name: str = "best.npz",
                 last_name: str = "last.npz", min_delta: float = 0.0):
        self.dirpath = os.fspath(dirpath)
        self.monitor, self.mode = monitor, _resolve_mode(monitor, mode)
        self.save_best, self.save_last = save_best, save_last
        self.every_n_epochs = max(1, int(every_n_epochs))
        self.best_name, self.last_name = best_name, last_name
        self.min_delta = float(min_delta)
        self.best = None
        self.best_epoch = None
        self._active = monitor

    @property
    def best_path(self):
        return os.path.join(self.dirpath, self.best_name)

    @property
    def last_path(self):
        return os.path.join(self.dirpath, self.last_name)

    def on_train_start(self, trainer, event):
        self._active = _resolve_monitor(trainer, self.monitor, "ModelCheckpoint")
        self.mode = _resolve_mode(self._active, self.mode)
        os.makedirs(self.dirpath, exist_ok=True)
        for path in (self.best_path, self.last_path):
            remove_temporaries(path)
        if trainer.step > 0:         # a resumed run: the file it continues is its latest good state
            self.kept_checkpoint = next((p for p in (self.last_path, self.best_path) if os.path.isfile(p)), None)

    def on_epoch_end(self, trainer, event):
        row = trainer.history[-1]
        value = row.get(self._active)
        improved = value is not None and math.isfinite(value) and self._improved(value, self.best)
        if improved:
            self.best, self.best_epoch = float(value), int(row["epoch"])
        if self.save_best and improved:
            self.kept_checkpoint = trainer.save_checkpoint(self.best_path)
        if self.save_last and (event.epoch + 1) % self.every_n_epochs == 0:
            self.kept_checkpoint = trainer.save_checkpoint(self.last_path)

    def on_done(self, trainer, event):
        if event.reason == "stopped" and self.save_last and (trainer.batch_in_epoch > 0 or
                                                             not os.path.isfile(self.last_path)):
            self.kept_checkpoint = trainer.save_checkpoint(self.last_path)

    def state_dict(self):
        return {"best": self.best, "best_epoch": self.best_epoch, "monitor": self.monitor}

    def check_state_dict(self, state):
        self._check_best(state)

    def load_state_dict(self, state):
        self.check_state_dict(state)
        self.best, self.best_epoch = state.get("best"), state.get("best_epoch")


class EarlyStopping(_Monitor, Callback):
    """Stops the run (Done reason "early_stopping") when ``monitor`` has not improved by
    more than ``min_delta`` for ``patience`` epochs in a row. With restore_best_weights the
    model gets the weights of its best epoch back when it stops."""

    def __init__(self, monitor: str = "val_loss", patience: int = 3, min_delta: float = 0.0, mode: str = "auto",
                 baseline: float | None = None, restore_best_weights: bool = False):
        if int(patience) < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience!r}")
        self.monitor, self.mode = monitor, _resolve_mode(monitor, mode)
        self.patience, self.min_delta = int(patience), abs(float(min_delta))
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.best = baseline
        self.best_epoch = None
        self.wait = 0
        self.stopped_epoch = None
        self._best_weights = None
        self._active = monitor

    def on_train_start(self, trainer, event):
        self._active = _resolve_monitor(trainer, self.monitor, "EarlyStopping")
        self.mode = _resolve_mode(self._active, self.mode)

    def on_epoch_end(self, trainer, event):
        row = trainer.history[-1]
        value = row.get(self._active)
        if value is None:
            return
        if math.isfinite(value) and self._improved(value, self.best):
            self.best, self.best_epoch, self.wait = float(value), int(row["epoch"]), 0
            if self.restore_best_weights:
                self._best_weights = trainer.model.state_dict()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = int(row["epoch"])
            if self.restore_best_weights and self._best_weights is not None:
                trainer.model.load_state_dict(self._best_weights)
            best = "none" if self.best is None else f"{self.best:.4g} at epoch {self.best_epoch + 1}" \
                if self.best_epoch is not None else f"{self.best:.4g} (baseline)"
            epochs = f"{self.wait} epoch{'s' if self.wait != 1 else ''}"
            trainer.stop("early_stopping", f"early stopping after epoch {row['epoch'] + 1}: {self._active} has not "
                                           f"improved for {epochs} (best {best})")

    def state_dict(self):
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def check_state_dict(self, state):
        self._check_best(state)
        wait = state.get("wait", 0)
        if isinstance(wait, bool) or not isinstance(wait, int) or wait < 0:
            raise ValueError(f"EarlyStopping state: wait is {wait!r}, not a whole number >= 0")

    def load_state_dict(self, state):
        self.check_state_dict(state)
        self.best, self.best_epoch, self.wait = state.get("best"), state.get("best_epoch"), int(state.get("wait", 0))


_FIELDS = ["epoch", "step", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_top5", "lr", "seconds"]


def _row_fields(history):
    fields = list(_FIELDS)
    for row in history:
        for k in row:
            if k not in fields:
                fields.append(k)
    return [f for f in fields if any(f in r for r in history)] if history else fields


class CSVLogger(Callback):
    """One row per epoch in ``path`` (epoch is 0-based, as Keras). At train start the file
    is rewritten from the run's history, so a resumed run continues it consistently."""

    def __init__(self, path, separator: str = ","):
        self.path = os.fspath(path)
        self.separator = separator

    def _write(self, history):
        buf = io.StringIO()
        fields = _row_fields(history) if history else _FIELDS
        w = csv.DictWriter(buf, fieldnames=fields, delimiter=self.separator, extrasaction="ignore",
                           lineterminator="\n")
        w.writeheader()
        for row in history:
            w.writerow({k: _fmt(v) for k, v in row.items()})
        atomic_write_bytes(self.path, buf.getvalue().encode())

    def on_train_start(self, trainer, event):
        remove_temporaries(self.path)
        self._write(trainer.history)

    def on_epoch_end(self, trainer, event):
        self._write(trainer.history)


def _fmt(v):
    if isinstance(v, float):
        return repr(v)
    return v


class JSONLogger(Callback):
    """JSON lines in ``path``: one {"event": "epoch", ...} record per finished epoch, then
    {"event": "start", "pid", "host", "time"} (the process writing the run: a run browser
    tells a live run from one whose process was killed), and {"event": "done", ...} at the
    end; ``batch_every`` > 0 adds a batch record every N steps,
    with ``seconds``: the run's wall time so far (the finished epochs' ``seconds`` of a
    resumed run included), the x a batch has on a wall-time axis."""

    def __init__(self, path, batch_every: int = 0):
        self.path = os.fspath(path)
        self.batch_every = int(batch_every)

    def _append(self, record):
        with open(self.path, "a") as f:
            f.write(json.dumps(jsonable(record)) + "\n")

    def on_train_start(self, trainer, event):
        before = sum(v for v in (r.get("seconds") for r in trainer.history) if isinstance(v, float) and math.isfinite(v))
        self._started = time.monotonic() - before
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        with open(self.path, "w") as f:
            for row in trainer.history:
                f.write(json.dumps(jsonable({"event": "epoch", **row})) + "\n")
            f.write(json.dumps({"event": "start", "pid": os.getpid(), "host": socket.gethostname(),
                                "time": time.time()}) + "\n")

    def on_batch_end(self, trainer, event):
        if self.batch_every and event.step % self.batch_every == 0:
            self._append({"event": "batch", "epoch": event.epoch, "step": event.step, "loss": event.loss,
                          "accuracy": event.accuracy, "lr": event.lr, "images_per_sec": event.images_per_sec,
                          "seconds": round(time.monotonic() - self._started, 3)})

    def on_epoch_end(self, trainer, event):
        self._append({"event": "epoch", **trainer.history[-1]})

    def on_done(self, trainer, event):
        self._append({"event": "done", "reason": event.reason, "epoch": event.epoch, "step": event.step,
                      "message": event.message})

    def log(self, record: dict):
        """Appends any extra record (the CLI adds the final test result)."""
        self._append(record)


def _hms(seconds) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class ProgressBar(Callback):
    """A terminal progress bar per epoch: batches, loss, accuracy, images/s, ETA; a summary
    line at each epoch end. On a non-terminal stream it prints a line every ``every``
    percent of an epoch instead of redrawing."""

    def __init__(self, stream=None, width: int = 24, every: int = 10):
        self.stream = stream or sys.stdout
        self.width = width
        self.every = every
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_draw = 0.0
        self._last_pct = -1

    def _line(self, text, final=False):
        if self.tty:
            self.stream.write("\r\x1b[K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def on_train_start(self, trainer, event):
        self.epochs, self.spe = event.epochs, max(event.steps_per_epoch, 1)
        self._loss = self._acc = None
        if event.start_epoch:
            self._line(f"resuming at epoch {event.start_epoch + 1}/{event.epochs} (step {trainer.step})", final=True)

    def on_batch_end(self, trainer, event):
        # smoothed loss / accuracy over the recent batches, as Keras shows
        a = 0.9
        self._loss = event.loss if self._loss is None else a * self._loss + (1 - a) * event.loss
        self._acc = event.accuracy if self._acc is None else a * self._acc + (1 - a) * event.accuracy
        b = trainer.batch_in_epoch
        now = time.monotonic()
        pct = int(100 * b / self.spe)
        if self.tty:
            if now - self._last_draw < 0.1 and b < self.spe:
                return
        else:
            if pct // self.every == self._last_pct // self.every and b < self.spe:
                return
        self._last_draw, self._last_pct = now, pct
        fill = int(self.width * b / self.spe)
        bar = "#" * fill + "." * (self.width - fill)
        self._line(f"epoch {event.epoch + 1}/{self.epochs} [{bar}] {b}/{self.spe}  loss {self._loss:.4f}  "
                   f"acc {100 * self._acc:5.1f}%  {event.images_per_sec:,.0f} img/s  ETA {_hms(event.eta_seconds)}")

    def on_epoch_end(self, trainer, event):
        self._last_pct = -1
        self._loss = self._acc = None
        text = (f"epoch {event.epoch + 1}/{self.epochs}: train loss {event.train_loss:.4f} acc "
                f"{100 * event.train_accuracy:.2f}%")
        if event.val_loss is not None:
            text += f" | val loss {event.val_loss:.4f} acc {100 * event.val_accuracy:.2f}%"
        text += f" | lr {event.lr:.3g} | {event.seconds:.1f} s"
        self._line(text, final=True)

    def on_done(self, trainer, event):
        if event.reason != "completed":
            self._line(f"{event.reason}: {event.message}", final=True)
