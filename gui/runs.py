"""The run browser's model, free of Qt: the runs on disk, their curves, a comparison of
their settings, rename and delete (to the trash).

A run is a folder that holds any of what a run writes: ``last.npz`` / ``best.npz``
(checkpoints whose JSON part records the dataset, the settings as ``metadata.args`` and
one history row per finished epoch), ``metrics.csv`` (one row per epoch),
``metrics.jsonl`` (epoch records, batch records every ``log_every`` steps, and a
``done`` record when the run ends), ``studio_metrics.csv`` (the studio's per-batch and
per-epoch rows) and ``error.npz`` (the weights when an exception ended the run). The CLI
writes them under ``runs/`` of its working folder, the studio under
:func:`gui.state.default_runs_dir`; :func:`scan` lists the runs of both.

Status, from the files: the ``done`` record's reason (completed or early stopping:
"completed"; stopped by the user: "stopped"; a loss that was not finite or diverged:
"failed"); without one, "failed" if ``error.npz`` is there, "completed" if the checkpoint
holds every planned epoch, "running" while the process named by metrics.jsonl's
``start`` record is alive on this machine (for a run written on another machine, or
without that record: if a file of the run changed in the last ``live_seconds``), else
"interrupted" (the process ended without saying how: killed, or the machine went down;
``last.npz`` resumes it). A running run cannot be renamed or deleted.

Nothing here raises for a damaged run while scanning: its :class:`RunInfo` carries a
``problem`` sentence and the rest of the list is read. Rename refuses clashes; delete
moves the folder to the freedesktop.org trash (``$XDG_DATA_HOME/Trash`` or
``~/.local/share/Trash``: the folder under ``files/``, a ``.trashinfo`` under ``info/``
saying where it came from and when), never a hard delete, and only when the caller says
the user confirmed it.
"""
from __future__ import annotations

import csv
import errno
import json
import math
import os
import socket
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.train.checkpoint import CheckpointError, read_summary

from .state import default_runs_dir

RUN_FILES = ("last.npz", "best.npz", "metrics.csv", "metrics.jsonl", "studio_metrics.csv", "error.npz")
CHECKPOINTS = ("last.npz", "best.npz")
STATUSES = ("completed", "stopped", "failed", "running", "interrupted")
KEY_SETTINGS = ("epochs", "batch_size", "optimizer", "lr", "schedule", "augment", "val_split", "weight_decay")
BATCH_KEYS = ("step", "epoch", "loss", "accuracy", "lr", "images_per_sec", "seconds")
EPOCH_KEYS = ("epoch", "step", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")
MAX_METRICS_BYTES = 256 << 20     # a metrics file larger than this is not read (a run logs ~100 bytes a record)
TAIL_BYTES = 1 << 16             # the end of metrics.jsonl read for its done record while scanning
LIVE_SECONDS = 300.0              # a run without a done record whose files changed this recently is running
LINE_BYTES = 1 << 20              # the longest metrics.jsonl line read while looking for the writer's record
HEAD_BYTES = 16 << 20             # how far into metrics.jsonl the writer's record is looked for
DONE_STATUS = {"completed": "completed", "early_stopping": "completed", "stopped": "stopped"}


class RunError(ValueError):
    """A run that cannot be read, renamed or trashed; the message is one sentence."""


@dataclass
class RunInfo:
    """One run as the browser lists it. name: the folder's name; path: the folder;
    dataset, model: as its checkpoint records them (None if unknown); settings: its
    recorded settings (``metadata.args``); status: one of STATUSES; message: the done
    record's message; best_val_accuracy: the best validation accuracy of its epochs (None
    without validation); epochs: finished epochs; duration: seconds of its finished epochs
    (None before the first); modified: the newest of its files' modification times;
    problem: why part of it could not be read ("" if all could)."""

    name: str
    path: Path
    dataset: str | None = None
    model: str | None = None
    settings: dict = field(default_factory=dict)
    status: str = "interrupted"
    message: str = ""
    best_val_accuracy: float | None = None
    epochs: int = 0
    duration: float | None = None
    modified: float = 0.0
    problem: str = ""

    def key_settings(self) -> dict:
        """The settings a list shows: KEY_SETTINGS that the run records."""
        return {k: self.settings[k] for k in KEY_SETTINGS if k in self.settings}


@dataclass
class Curves:
    """A run's curves. batch: BATCH_KEYS -> float64 arrays of one length (NaN where a
    record lacks a value), one entry per logged step; epoch: EPOCH_KEYS -> float64 arrays,
    one entry per finished epoch; skipped: lines of metrics.jsonl that did not parse (a
    killed write leaves at most the last one cut short)."""

    batch: dict
    epoch: dict
    skipped: int = 0


def default_folders(own=None) -> list[Path]:
    """Where runs live: the studio's runs folder (``own``, the Train tab's setting, else
    :func:`gui.state.default_runs_dir`) and the CLI's ``runs/`` in the working folder."""
    studio = Path(own).expanduser() if own else default_runs_dir()
    cli = Path.cwd() / "runs"
    return [studio] if cli == studio else [studio, cli]


def is_run(path) -> bool:
    """True for a folder that holds any of RUN_FILES."""
    p = Path(path)
    return p.is_dir() and any((p / f).is_file() for f in RUN_FILES)


def scan(folders=None, now: float | None = None, live_seconds: float = LIVE_SECONDS) -> list[RunInfo]:
    """Every run folder directly inside ``folders`` (default :func:`default_folders`;
    missing ones are skipped, a folder named twice is read once), newest first."""
    seen, runs = set(), []
    for folder in default_folders() if folders is None else folders:
        try:
            entries = sorted(Path(folder).iterdir())
        except OSError:
            continue
        for p in entries:
            real = os.path.realpath(p)
            if real not in seen and is_run(p):
                seen.add(real)
                runs.append(read_run(p, now=now, live_seconds=live_seconds))
    return sorted(runs, key=lambda r: (-r.modified, r.name))


def _modified(path: Path) -> float:
    times = []
    for f in RUN_FILES:
        try:
            times.append((path / f).stat().st_mtime)
        except OSError:
            pass
    return max(times, default=0.0)


def read_run(path, now: float | None = None, live_seconds: float = LIVE_SECONDS) -> RunInfo:
    """The :class:`RunInfo` of the run folder ``path`` (RunError if it is not one)."""
    path = Path(path)
    if not is_run(path):
        raise RunError(f"{path} is not a run folder (it holds none of {', '.join(RUN_FILES)})")
    info = RunInfo(name=path.name, path=path, modified=_modified(path))
    problems, summary = [], None
    for name in CHECKPOINTS:
        if (path / name).is_file():
            try:
                summary = read_summary(path / name)
                break
            except CheckpointError as e:
                problems.append(str(e))
    history = []
    if summary is not None:
        md = summary["metadata"]
        info.settings = dict(md.get("args") or {})
        info.dataset = md.get("dataset") or info.settings.get("dataset")
        model = info.settings.get("model")
        info.model = model if isinstance(model, str) else None
        history = summary["history"]
    done = None
    try:
        done = _done_record(path / "metrics.jsonl")
        if not history:
            history = [r for r in _jsonl(path / "metrics.jsonl")[0] if r.get("event") == "epoch"]
    except RunError as e:
        problems.append(str(e))
    info.epochs = len(history)
    vals = [_float(r.get("val_accuracy")) for r in history]
    vals = [v for v in vals if not math.isnan(v)]
    info.best_val_accuracy = max(vals) if vals else None
    secs = [_float(r.get("seconds")) for r in history]
    secs = [s for s in secs if not math.isnan(s)]
    info.duration = sum(secs) if secs else None
    now = time.time() if now is None else now
    planned = info.settings.get("epochs")
    if done is not None:
        info.status = DONE_STATUS.get(str(done.get("reason")), "failed")
        info.message = str(done.get("message") or "")
    elif (path / "error.npz").is_file():
        info.status = "failed"
    elif isinstance(planned, int) and planned > 0 and info.epochs >= planned:
        info.status = "completed"
    else:
        writer = _writer(path / "metrics.jsonl")
        live = _alive(writer) if writer is not None else None
        if live is None:                  # written elsewhere, or by a version that did not say
            live = now - info.modified <= live_seconds
        info.status = "running" if live else "interrupted"
    info.problem = "; ".join(problems)
    return info


def _float(v) -> float:
    """v as a float; NaN for None, text and anything else that is not a number."""
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        return math.nan
    try:
        return float(v)
    except ValueError:
        return math.nan


def _readable(path: Path) -> bool:
    """False for a missing file; RunError for one too large to read."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    except OSError as e:
        raise RunError(f"{path} cannot be read: {e.strerror}") from None
    if size > MAX_METRICS_BYTES:
        raise RunError(f"{path} is {size:,} bytes, more than the browser reads ({MAX_METRICS_BYTES:,})")
    return True


def _jsonl(path: Path) -> tuple[list, int]:
    """(the records of metrics.jsonl that are tables, the count of lines that are not)."""
    if not _readable(path):
        return [], 0
    records, skipped = [], 0
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    r = json.loads(line)
                except (ValueError, RecursionError):
                    r = None
                if isinstance(r, dict):
                    records.append(r)
                else:
                    skipped += 1
    except OSError as e:
        raise RunError(f"{path} cannot be read: {e.strerror}") from None
    return records, skipped


def _done_record(path: Path) -> dict | None:
    """The last "done" record of metrics.jsonl, read from its last TAIL_BYTES (a run
    writes it last), or None."""
    if not _readable(path):
        return None
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - TAIL_BYTES))
            lines = f.read().decode("utf-8", errors="replace").splitlines()
    except OSError as e:
        raise RunError(f"{path} cannot be read: {e.strerror}") from None
    for line in reversed(lines):
        try:
            r = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(r, dict) and r.get("event") == "done":
            return r
    return None


def _writer(path: Path) -> dict | None:
    """The "start" record of metrics.jsonl (the process writing the run: pid, host), which
    a run writes after its finished epochs' records at the head of the file; None if there
    is none in the first HEAD_BYTES (lines are read up to LINE_BYTES each)."""
    try:
        with open(path, "rb") as f:
            while f.tell() < HEAD_BYTES and (line := f.readline(LINE_BYTES)):
                try:
                    r = json.loads(line)
                except (ValueError, RecursionError):
                    return None
                if not isinstance(r, dict) or r.get("event") not in ("epoch", "start"):
                    return None
                if r["event"] == "start":
                    return r
    except OSError:
        return None
    return None


def _alive(writer: dict) -> bool | None:
    """Whether the process of a "start" record still runs: True or False on this machine,
    None when the record names another machine (or names no process)."""
    pid, host = writer.get("pid"), writer.get("host")
    if isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid < 2 ** 31 or host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:           # alive, another user's
        return True
    return True


def _csv_rows(path: Path) -> list:
    """The rows of a CSV file with a header, as dicts; [] if it is missing."""
    if not _readable(path):
        return []
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            return [r for r in csv.DictReader(f)]
    except (OSError, csv.Error) as e:
        raise RunError(f"{path} is not a readable CSV file ({e})") from None


def _columns(rows, keys, rename=None) -> dict:
    rename = rename or {}
    return {k: np.array([_float(r.get(rename.get(k, k))) for r in rows], dtype=np.float64) for k in keys}


def load_curves(path) -> Curves:
    """The full curves of the run folder ``path``: per batch from metrics.jsonl's batch
    records (else studio_metrics.csv's batch rows), per epoch from metrics.csv (else
    metrics.jsonl's epoch records, else the checkpoint's history). RunError, one
    sentence, for a file that cannot be read."""
    path = Path(path)
    if not is_run(path):
        raise RunError(f"{path} is not a run folder (it holds none of {', '.join(RUN_FILES)})")
    records, skipped = _jsonl(path / "metrics.jsonl")
    batches = [r for r in records if r.get("event") == "batch"]
    studio = _csv_rows(path / "studio_metrics.csv") if not batches else []
    if not batches:
        batches = [r for r in studio if r.get("kind") == "batch"]
    epochs = _csv_rows(path / "metrics.csv") or [r for r in records if r.get("event") == "epoch"]
    if not epochs:
        for name in CHECKPOINTS:
            if (path / name).is_file():
                try:
                    epochs = read_summary(path / name)["history"]
                except CheckpointError as e:
                    raise RunError(str(e)) from None
                break
    return Curves(batch=_columns(batches, BATCH_KEYS), epoch=_columns(epochs, EPOCH_KEYS), skipped=skipped)


RESULTS = (("status", lambda r: r.status), ("best val accuracy", lambda r: r.best_val_accuracy),
           ("epochs", lambda r: r.epochs), ("duration (s)", lambda r: None if r.duration is None else round(r.duration, 1)),
           ("dataset", lambda r: r.dataset), ("model", lambda r: r.model))


def compare(runs) -> list[tuple[str, list, bool]]:
    """The table that compares ``runs``: rows (name, one value per run, whether the
    values differ): their results first (RESULTS), then the settings that differ, then
    those they share, each group by name. A setting a run does not record is None."""
    runs = list(runs)
    rows = [(name, [get(r) for r in runs]) for name, get in RESULTS]
    keys = sorted({k for r in runs for k in r.settings} - {"dataset", "model"})
    settings = [(k, [r.settings.get(k) for r in runs]) for k in keys]
    differ = [(k, v) for k, v in settings if _differ(v)]
    same = [(k, v) for k, v in settings if not _differ(v)]
    return [(k, v, _differ(v)) for k, v in rows + differ + same]


def _differ(values) -> bool:
    return len({json.dumps(v, sort_keys=True, default=str) for v in values}) > 1


def _check_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise RunError("a run's new name must be a non-empty text")
    if name != name.strip() or "/" in name or "\0" in name or "\\" in name or name in (".", ".."):
        raise RunError(f"{name!r} cannot name a run folder: no slashes, no leading or trailing spaces, not . or ..")
    if name.startswith("."):
        raise RunError(f"{name!r} would hide the run (a name starting with a dot)")
    return name


def _check_idle(info: RunInfo, doing: str) -> None:
    if info.status == "running":
        raise RunError(f"run {info.name} is still being written (its files changed moments ago); "
                       f"stop it before you {doing} it")


def rename(path, new_name: str, now: float | None = None) -> Path:
    """Renames the run folder ``path`` to ``new_name`` beside it and returns the new path;
    RunError if the name is not a plain folder name, is taken, or the run is running."""
    path = Path(path)
    info = read_run(path, now=now)
    target = path.parent / _check_name(new_name)
    if target == path:
        return path
    _check_idle(info, "rename")
    if os.path.lexists(target):
        raise RunError(f"{target} already exists; choose another name")
    try:
        os.rename(path, target)
    except OSError as e:
        raise RunError(f"cannot rename {path} to {new_name}: {e.strerror}") from None
    return target


def trash_dir() -> Path:
    """The home trash of the freedesktop.org spec: $XDG_DATA_HOME/Trash, else ~/.local/share/Trash."""
    base = os.environ.get("XDG_DATA_HOME") or ""
    return (Path(base) if os.path.isabs(base) else Path.home() / ".local" / "share") / "Trash"


def _reserve(trash: Path, name: str, origin: str) -> tuple[Path, Path]:
    """Makes trash/files and trash/info (mode 0700) and claims a free name in them by
    creating its .trashinfo exclusively; returns (info file, where the folder goes)."""
    for sub in ("files", "info"):
        os.makedirs(trash / sub, mode=0o700, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    body = f"[Trash Info]\nPath={urllib.parse.quote(origin)}\nDeletionDate={stamp}\n".encode()
    for i in range(1, 10_000):
        candidate = name if i == 1 else f"{name}.{i}"
        info = trash / "info" / f"{candidate}.trashinfo"
        if os.path.lexists(trash / "files" / candidate):
            continue
        try:
            fd = os.open(info, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        return info, trash / "files" / candidate
    raise RunError(f"the trash {trash} already holds 10,000 items named {name}")


def _topdir_trash(path: Path) -> Path:
    """$topdir/.Trash-$uid of the file system that holds ``path`` (the spec's trash for
    a folder on another device than the home trash)."""
    top = path.resolve()
    while not os.path.ismount(top):
        top = top.parent
    return top / f".Trash-{os.getuid()}"


def trash(path, confirmed: bool, trash_path=None, now: float | None = None) -> Path:
    """Moves the run folder ``path`` to the trash (``trash_path``, default
    :func:`trash_dir`; on another file system, that file system's ``.Trash-$uid``) and
    returns where it went. Only with ``confirmed`` (the user said yes); never deletes:
    RunError, and nothing moved, if the move cannot be made."""
    path = Path(path)
    if confirmed is not True:
        raise RunError(f"moving run {path.name} to the trash needs the user's confirmation (confirmed=True)")
    _check_idle(read_run(path, now=now), "delete")
    origin = str(path.resolve())
    for where in (Path(trash_path) if trash_path is not None else trash_dir(), None):
        where = _topdir_trash(path) if where is None else where
        try:
            info, dest = _reserve(where, path.name, origin)
        except OSError as e:
            raise RunError(f"cannot move {path} to the trash {where}: {e.strerror}") from None
        try:
            os.rename(path, dest)
            return dest
        except OSError as e:
            os.unlink(info)
            if e.errno != errno.EXDEV:
                raise RunError(f"cannot move {path} to the trash: {e.strerror}; nothing was deleted") from None
    raise RunError(f"cannot move {path} to a trash on its own file system; nothing was deleted")
