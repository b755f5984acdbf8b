"""Checkpoints: one ``.npz`` file, opened with ``allow_pickle=False``, holding every array
(weights, buffers, optimizer moments, anything array-valued in a loader's state) plus one
JSON string entry ``__meta__`` with the model spec, optimizer hyperparameters, scheduler
state, RNG states, trainer counters, history and user metadata.

Opening a checkpoint runs no code: the file is numeric arrays and a JSON text, and the
model is rebuilt from its spec by :func:`engine.nn.from_spec`.

Saving writes a temporary file in the same folder, fsyncs it, and renames it over the
target (then fsyncs the folder), so a crash at any moment leaves either the previous
checkpoint or the new one, whole.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import zipfile
from dataclasses import dataclass, field

import numpy as np

FORMAT = "numbacnn-checkpoint"
VERSION = 1
META_KEY = "__meta__"

__all__ = ["CheckpointError", "Checkpoint", "save_checkpoint", "load_checkpoint", "load_model", "pack", "unpack",
           "atomic_write_bytes"]


class CheckpointError(ValueError):
    """A file that is not a readable numbacnn checkpoint, or one that does not fit."""


# --- nested data <-> JSON + arrays -----------------------------------------------------------
def pack(obj, arrays: dict, prefix: str):
    """Returns a JSON-able copy of ``obj`` where each numpy array is moved into ``arrays``
    (under a key starting with ``prefix``) and replaced by ``{"__array__": key}``."""
    if isinstance(obj, np.ndarray):
        key = f"{prefix}"
        n = 0
        while key in arrays:
            n += 1
            key = f"{prefix}#{n}"
        arrays[key] = np.require(obj, requirements="C")
        return {"__array__": key}
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, (str, int, np.integer)):
                raise TypeError(f"checkpoint: dict key {k!r} is not a string or an int")
            sk = str(k)
            out[sk] = pack(v, arrays, f"{prefix}/{sk}")
        if any(isinstance(k, (int, np.integer)) for k in obj):
            out = {"__intkeys__": out}
        return out
    if isinstance(obj, (list, tuple)):
        return [pack(v, arrays, f"{prefix}/{i}") for i, v in enumerate(obj)]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        if math.isfinite(f):
            return f
        return {"__float__": repr(f)}
    if obj is None or isinstance(obj, str):
        return obj
    raise TypeError(f"checkpoint: cannot store a {type(obj).__name__} ({prefix})")


def unpack(obj, arrays):
    """Inverse of :func:`pack`; ``arrays`` maps keys to arrays (an NpzFile works)."""
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return np.array(arrays[obj["__array__"]])
        if set(obj) == {"__float__"}:
            return float(obj["__float__"])
        if set(obj) == {"__intkeys__"}:
            return {(int(k) if k.lstrip("-").isdigit() else k): unpack(v, arrays)
                    for k, v in obj["__intkeys__"].items()}
        return {k: unpack(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [unpack(v, arrays) for v in obj]
    return obj


# --- atomic file writes ------------------------------------------------------------------------
def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_replace = os.replace   # the rename step; tests patch it to simulate a crash before it


def _atomic_write(path: str, write) -> None:
    """Calls ``write(fileobj)`` on a temporary file next to ``path``, fsyncs it and renames it
    over ``path``. On an exception the temporary file is removed and ``path`` is untouched."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        _replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)


def atomic_write_bytes(path: str, data: bytes) -> None:
    _atomic_write(path, lambda f: f.write(data))


# --- the checkpoint ----------------------------------------------------------------------------
@dataclass
class Checkpoint:
    """A loaded checkpoint: ``meta`` (the JSON part, with arrays restored in place) and
    ``model_state`` (state_dict arrays by torch-style key)."""

    path: str
    meta: dict
    model_state: dict = field(default_factory=dict)

    @property
    def spec(self) -> dict:
        return self.meta["spec"]

    @property
    def input_shape(self):
        s = self.meta.get("input_shape")
        return None if s is None else tuple(s)

    @property
    def class_names(self) -> list:
        return list(self.meta.get("metadata", {}).get("class_names") or [])

    @property
    def history(self) -> list:
        return list(self.meta.get("history", []))

    @property
    def metadata(self) -> dict:
        return dict(self.meta.get("metadata", {}))

    def build_model(self):
        """The model, rebuilt from its spec (no Python from whoever saved it), with its weights."""
        from ..nn import from_spec
        try:
            model = from_spec(self.spec)
        except ValueError as e:
            raise CheckpointError(f"{self.path}: the model spec does not build: {e}") from None
        try:
            model.load_state_dict(self.model_state)
        except (KeyError, ValueError) as e:
            raise CheckpointError(f"{self.path}: weights do not fit the spec: {e}") from None
        model.eval()
        return model


def save_checkpoint(path: str, model, meta: dict | None = None, extra_arrays: dict | None = None) -> str:
    """Writes ``model``'s spec and state_dict plus ``meta`` (nested dicts/lists of JSON
    values and numpy arrays) to ``path`` atomically. Returns the path."""
    arrays: dict = {}
    for k, v in model.state_dict().items():
        arrays[f"model/{k}"] = np.require(v, requirements="C")
    full = {"format": FORMAT, "version": VERSION, "spec": model.spec()}
    full.update(meta or {})
    packed = pack(full, arrays, "meta")
    for k, v in (extra_arrays or {}).items():
        arrays[k] = np.require(v, requirements="C")
    text = json.dumps(packed, allow_nan=False, separators=(",", ":"))
    arrays[META_KEY] = np.array(text)

    def write(f):
        np.savez(f, **arrays)
    _atomic_write(path, write)
    return os.fspath(path)


def load_checkpoint(path: str) -> Checkpoint:
    """Reads a checkpoint without running any code from it; raises CheckpointError (one
    clear sentence) for a missing, truncated or foreign file."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist")
    if os.path.isdir(path):
        for name in ("best.npz", "last.npz"):
            if os.path.exists(os.path.join(path, name)):
                return load_checkpoint(os.path.join(path, name))
        raise CheckpointError(f"{path!r} is a folder with no best.npz or last.npz in it")
    try:
        with np.load(path, allow_pickle=False) as z:
            if META_KEY not in z.files:
                raise CheckpointError(f"{path!r} is an .npz file but not a numbacnn checkpoint (no {META_KEY} entry)")
            packed = json.loads(str(z[META_KEY]))
            if not isinstance(packed, dict) or packed.get("format") != FORMAT:
                raise CheckpointError(f"{path!r} is not a numbacnn checkpoint")
            if int(packed.get("version", 0)) > VERSION:
                raise CheckpointError(f"{path!r} is a checkpoint of a newer format (version {packed['version']}); "
                                      "update numbacnn to read it")
            arrays = {k: z[k] for k in z.files if k != META_KEY}
    except CheckpointError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path!r} is not a readable checkpoint ({type(e).__name__}: {e})") from None
    meta = unpack(packed, arrays)
    model_state = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    return Checkpoint(path=path, meta=meta, model_state=model_state)


def load_model(path: str):
    """The model a checkpoint holds, built from its spec, weights loaded, in eval mode."""
    return load_checkpoint(path).build_model()
