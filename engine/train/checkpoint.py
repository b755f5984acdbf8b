"""Checkpoints: one ``.npz`` file holding every array (weights, buffers, optimizer moments,
anything array-valued in a loader's state) plus one JSON string entry ``__meta__`` with the
model spec, optimizer hyperparameters, scheduler state, RNG states, trainer counters,
history and user metadata.

Opening a checkpoint runs no code: the file is numeric arrays and a JSON text, and the
model is rebuilt from its spec by :func:`engine.nn.from_spec`. Everything is checked
before anything uses it: each zip member must be an ``.npy`` array of a plain numeric dtype
whose declared size is what the member holds (and the CRC must match), the JSON part has
a bounded size and depth, and each entry this engine writes has the type, shape, range and
finiteness it is written with (:func:`check_meta`). A file that fails ends in one
:class:`CheckpointError`, "checkpoint FILE is damaged: what"; array contents that must fit
a particular model or optimizer are checked again where they are restored.

Saving writes a temporary file ``.NAME.XXXXXXXX.tmp`` in the same folder (created with the
process umask), fsyncs it, and renames it over the target (then fsyncs the folder), so a
crash at any moment leaves either the previous checkpoint or the new one, whole; a
temporary left by a killed process is removed by :func:`remove_temporaries`.
"""
from __future__ import annotations

import json
import math
import os
import secrets
import struct
import zipfile
import zlib
from dataclasses import dataclass, field

import numpy as np

from ..errors import QUOTE_LIMIT, first_line
from ..nn import from_spec, summary

FORMAT = "numbacnn-checkpoint"
VERSION = 1
META_KEY = "__meta__"

# plausibility limits, checked before anything is allocated
MAX_META_BYTES = 2**26           # the JSON part, as stored (UTF-32): 16 Mi characters
MAX_DEPTH = 64                   # nesting of the JSON part (a zoo spec is < 10 deep)
MAX_MEMBERS = 100_000            # arrays in one file
MAX_EXPANSION = 64               # uncompressed bytes per byte of file (stored members: 1)
MIN_BUDGET = 2**20               # ... but a small file may always hold 1 MiB
MAX_CHANNELS = 4096              # input_shape (C, H, W)
MAX_SIDE = 16384
MAX_INPUT_ELEMENTS = 2**26       # C * H * W of one input image (256 MiB as float32)
MAX_LAYER_SIZE = 2**28           # product of one layer's integer arguments (in*out*k... weights)
MAX_COUNT = 2**53                # epochs, steps, seeds: exact in a float, far beyond any run
MAX_TRIAL_BYTES = 2**26          # build_model runs one zero image through a model whose activations fit this

_DTYPES = {np.dtype(t).str[1:] for t in ("?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8")}

__all__ = ["CheckpointError", "Checkpoint", "save_checkpoint", "load_checkpoint", "load_model", "read_progress",
           "pack", "unpack", "check_meta", "damaged", "atomic_write_bytes", "atomic_copy", "remove_temporaries",
           "write_archive", "read_archive"]


class CheckpointError(ValueError):
    """A file that is not a readable numbacnn checkpoint, or one that does not fit."""


class Bad(ValueError):
    """What is wrong inside a checkpoint (a path into it and the fault); becomes
    ``damaged(path, str(e))``."""


def damaged(path, what: str) -> CheckpointError:
    """The one error every check of a checkpoint's content ends in."""
    return CheckpointError(f"checkpoint {os.fspath(path)} is damaged: {what}")


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


def unpack(obj, arrays, where: str = "meta", used: set | None = None):
    """Inverse of :func:`pack`; ``arrays`` maps keys to arrays. Each array is handed out
    once (``used`` collects the keys); a malformed marker raises :class:`Bad`."""
    used = set() if used is None else used
    if isinstance(obj, dict):
        if "__array__" in obj:
            key = obj["__array__"]
            if len(obj) != 1 or not isinstance(key, str) or key not in arrays or key == META_KEY:
                raise Bad(f"{where} refers to an array {key!r} the file does not hold")
            if key in used:
                raise Bad(f"{where} refers to array {key!r} a second time")
            used.add(key)
            return arrays[key]
        if "__float__" in obj:
            text = obj["__float__"]
            if len(obj) != 1 or text not in ("nan", "inf", "-inf"):
                raise Bad(f"{where} holds a malformed special number {text!r}")
            return float(text)
        if "__intkeys__" in obj:
            inner = obj["__intkeys__"]
            if len(obj) != 1 or not isinstance(inner, dict):
                raise Bad(f"{where} holds a malformed int-keyed table")
            return {_int_key(k): unpack(v, arrays, f"{where}.{k}", used) for k, v in inner.items()}
        return {k: unpack(v, arrays, f"{where}.{k}", used) for k, v in obj.items()}
    if isinstance(obj, list):
        return [unpack(v, arrays, f"{where}[{i}]", used) for i, v in enumerate(obj)]
    return obj


def _int_key(k: str):
    """"12" -> 12 (the keys pack wrote from ints); any other text stays as it is."""
    digits = k[1:] if k.startswith("-") else k
    return int(k) if digits.isascii() and digits.isdigit() and len(digits) < 19 else k


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


def _temporary(path: str):
    """(fd, name) of a new, empty ``.NAME.XXXXXXXX.tmp`` next to ``path``, created with
    mode 0666 less the umask (as ``open`` creates files)."""
    folder, base = os.path.split(os.path.abspath(path))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = os.path.join(folder, f".{base}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def remove_temporaries(path) -> list:
    """Removes the temporary files an atomic write of ``path`` left when its process was
    killed before the rename (``.NAME.XXXXXXXX.tmp``). Returns the names removed."""
    folder, base = os.path.split(os.path.abspath(os.fspath(path)))
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    gone = []
    for name in names:
        middle = name[len(base) + 2:-4]
        if name.startswith(f".{base}.") and name.endswith(".tmp") and len(middle) == 8 and \
                all(c in "0123456789abcdef" for c in middle):
            try:
                os.unlink(os.path.join(folder, name))
                gone.append(name)
            except OSError:
                pass
    return gone


def _atomic_write(path: str, write) -> None:
    """Calls ``write(fileobj)`` on a temporary file next to ``path``, fsyncs it and renames it
    over ``path``. On an exception the temporary file is removed and ``path`` is untouched."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = _temporary(path)
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


def atomic_copy(src, dst) -> None:
    """Copies the file ``src`` to ``dst`` atomically (``dst`` is whole or untouched)."""
    def write(f):
        with open(src, "rb") as s:
            while chunk := s.read(1 << 20):
                f.write(chunk)
    _atomic_write(dst, write)


# --- reading the file --------------------------------------------------------------------------
def _read_member(z: zipfile.ZipFile, info: zipfile.ZipInfo, key: str) -> np.ndarray:
    """One ``.npy`` member as a writable, native-order, C-contiguous array, after checking
    its header (numeric dtype; declared size = the member's size) and its CRC."""
    with z.open(info) as f:
        version = np.lib.format.read_magic(f)
        try:           # numpy parses the header text with Python's tokenizer: any error means damaged
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise Bad(f"array {key!r} has an .npy header of unknown version {version}")
        except (Bad, zipfile.BadZipFile):
            raise
        except Exception as e:  # noqa: BLE001
            raise Bad(f"array {key!r} has an unreadable .npy header ({type(e).__name__})") from None
        if any(s < 0 for s in shape):
            raise Bad(f"array {key!r} declares a negative size {shape}")
        wanted = "U" if key == META_KEY else None
        if (wanted and dtype.kind != "U") or (not wanted and dtype.str[1:] not in _DTYPES):
            raise Bad(f"array {key!r} has dtype {dtype}, not a plain {'text' if wanted else 'numeric'} type")
        nbytes = math.prod(shape) * dtype.itemsize
        if key == META_KEY and (shape != () or nbytes > MAX_META_BYTES):
            raise Bad(f"its JSON part is {'not one string' if shape != () else f'{nbytes:,} bytes, over the limit'}")
        if f.tell() + nbytes != info.file_size:
            raise Bad(f"array {key!r} declares shape {shape} of {dtype} ({nbytes:,} bytes) but its member "
                      f"holds {info.file_size - f.tell():,}")
        data = f.read(nbytes)
        if len(data) != nbytes or f.read(1):
            raise Bad(f"array {key!r} is cut short")
    a = np.frombuffer(data, dtype=dtype)
    a = a.reshape(shape[::-1]).T if fortran else a.reshape(shape)
    return np.array(a, dtype=dtype.newbyteorder("="), order="C")


def _read_arrays(path: str, only: str | None = None) -> dict:
    """The file's arrays by key (only ``only`` if given). CheckpointError for a file that is
    not a checkpoint, Bad for one that is damaged."""
    try:
        f = open(path, "rb")
    except OSError as e:
        raise CheckpointError(f"checkpoint {path} cannot be read: {e.strerror}") from None
    with f:
        if f.read(4) != b"PK\x03\x04":
            raise CheckpointError(f"checkpoint {path} is not a numbacnn checkpoint (not an .npz file)")
        size = os.fstat(f.fileno()).st_size
        try:
            with zipfile.ZipFile(f) as z:
                infos = z.infolist()
                if len(infos) > MAX_MEMBERS:
                    raise Bad(f"it holds {len(infos):,} members, more than {MAX_MEMBERS:,}")
                if META_KEY + ".npy" not in {i.filename for i in infos}:
                    raise CheckpointError(f"checkpoint {path} is not a numbacnn checkpoint (no {META_KEY} entry)")
                total = sum(i.file_size for i in infos)
                if total > max(MIN_BUDGET, MAX_EXPANSION * size):
                    raise Bad(f"its members would expand to {total:,} bytes from a {size:,}-byte file")
                arrays = {}
                for info in infos:
                    if not info.filename.endswith(".npy"):
                        raise Bad(f"member {info.filename!r} is not an .npy array")
                    key = info.filename[:-4]
                    if key in arrays:
                        raise Bad(f"array {key!r} is stored twice")
                    if only is None or key == only:
                        arrays[key] = _read_member(z, info, key)
                return arrays
        except (CheckpointError, Bad):
            raise
        except MemoryError:
            raise Bad("an array does not fit in memory") from None
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, zlib.error, EOFError,
                OSError, ValueError, struct.error, OverflowError, SyntaxError) as e:
            raise Bad(f"{type(e).__name__}: {first_line(e, QUOTE_LIMIT)}") from None


def _refuse_constant(name):
    raise Bad(f"its JSON part holds a bare {name}")


def _parse_meta(path: str, arrays: dict) -> dict:
    """The JSON part, parsed, its depth bounded, its format and version checked."""
    try:
        packed = json.loads(str(arrays[META_KEY][()]), parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as e:
        if isinstance(e, Bad):
            raise
        raise Bad(f"its JSON part does not parse ({type(e).__name__}: {first_line(e, QUOTE_LIMIT)})") from None
    if not isinstance(packed, dict) or packed.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} is not a numbacnn checkpoint (no numbacnn format tag)")
    _check_depth(packed)
    version = packed.get("version")
    if not _is_int(version) or version < 1:
        raise Bad(f"its format version is {version!r}, not a positive whole number")
    if version > VERSION:
        raise CheckpointError(f"checkpoint {path} is of a newer format (version {version}); update numbacnn to read it")
    return packed


def _check_depth(obj) -> None:
    stack = [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if d > MAX_DEPTH:
            raise Bad(f"its JSON part is nested deeper than {MAX_DEPTH} levels")
        if isinstance(o, dict):
            stack.extend((v, d + 1) for v in o.values())
        elif isinstance(o, list):
            stack.extend((v, d + 1) for v in o)


# --- what the JSON part may hold ---------------------------------------------------------------
def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _count(v, where, minimum=0):
    """A whole number in [minimum, MAX_COUNT]."""
    if not _is_int(v) or not minimum <= v <= MAX_COUNT:
        raise Bad(f"{where} is {_show(v)}, not a whole number >= {minimum}")
    return v


def _number(v, where, finite=True, minimum=None):
    if not _is_num(v) or (finite and not math.isfinite(v)) or (minimum is not None and not v >= minimum):
        need = "a finite number" if finite else "a number"
        raise Bad(f"{where} is {_show(v)}, not {need}" + (f" >= {minimum}" if minimum is not None else ""))
    return v


def _table(v, where, optional=True):
    if v is None and optional:
        return {}
    if not isinstance(v, dict):
        raise Bad(f"{where} is {_show(v)}, not a table")
    return v


def _show(v) -> str:
    text = repr(v) if not isinstance(v, np.ndarray) else f"an array of shape {v.shape} and dtype {v.dtype}"
    return text if len(text) <= 60 else text[:57] + "..."


def check_shape(v, where) -> tuple:
    """An input shape: [C, H, W] of whole numbers within the plausibility limits."""
    if not isinstance(v, (list, tuple)) or len(v) != 3 or not all(_is_int(s) and s >= 1 for s in v):
        raise Bad(f"{where} is {_show(v)}, not [C, H, W] of positive whole numbers")
    c, h, w = v
    if c > MAX_CHANNELS or max(h, w) > MAX_SIDE or c * h * w > MAX_INPUT_ELEMENTS:
        raise Bad(f"{where} {c}x{h}x{w} is beyond any image this engine takes (at most {MAX_CHANNELS} channels, "
                  f"{MAX_SIDE} pixels a side, {MAX_INPUT_ELEMENTS:,} values)")
    return tuple(v)


def check_array(v, where, shape=None, kinds="f", finite=True) -> np.ndarray:
    """An array of one of ``kinds`` (numpy dtype kinds), of ``shape`` if given, finite."""
    if not isinstance(v, np.ndarray) or v.dtype.kind not in kinds:
        raise Bad(f"{where} is {_show(v)}, not an array of {'floats' if kinds == 'f' else 'whole numbers'}")
    if shape is not None and v.shape != tuple(shape):
        raise Bad(f"{where} has shape {v.shape}, not {tuple(shape)}")
    if finite and v.dtype.kind == "f" and not np.isfinite(v).all():
        raise Bad(f"{where} holds non-finite values")
    return v


def _check_spec(spec, where="spec") -> None:
    """Layer dicts with a string type; no layer declares an implausible size."""
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise Bad(f"{where} is {_show(spec)}, not a layer spec (a table with a 'type')")
    size = 1
    for k, v in spec.items():
        if isinstance(v, dict):
            _check_spec(v, f"{where}.{k}")
        elif isinstance(v, list) and any(isinstance(x, dict) for x in v):
            for i, s in enumerate(v):
                _check_spec(s, f"{where}.{k}[{i}]")
        else:
            for x in (v if isinstance(v, list) else [v]):
                if _is_int(x) and x > 1:
                    size *= x
    if size > MAX_LAYER_SIZE:
        raise Bad(f"{where} ({spec['type']}) declares sizes whose product is {size:,}, more than any layer "
                  f"this engine builds ({MAX_LAYER_SIZE:,})")


def _check_metadata(md) -> None:
    md = _table(md, "metadata")
    names = md.get("class_names")
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
        raise Bad(f"metadata.class_names is {_show(names)}, not a list of names")
    for key in ("dataset", "data_root", "command"):
        if md.get(key) is not None and not isinstance(md[key], str):
            raise Bad(f"metadata.{key} is {_show(md[key])}, not a text")
    shape = None
    if md.get("input_shape") is not None:
        shape = check_shape(md["input_shape"], "metadata.input_shape")
    norm = md.get("normalize")
    if norm is not None:
        norm = _table(norm, "metadata.normalize", optional=False)
        sizes = set()
        for key, least in (("mean", None), ("std", 1e-12)):
            vals = norm.get(key)
            if not isinstance(vals, list) or not vals:
                raise Bad(f"metadata.normalize.{key} is {_show(vals)}, not a list of numbers")
            for i, x in enumerate(vals):
                _number(x, f"metadata.normalize.{key}[{i}]", minimum=least)
            sizes.add(len(vals))
        if len(sizes) != 1 or (shape is not None and sizes != {1} and sizes != {shape[0]}):
            raise Bad(f"metadata.normalize has {sorted(sizes)} values per list for "
                      f"{shape[0] if shape else '?'} channels")
    if md.get("args") is not None:
        _table(md["args"], "metadata.args", optional=False)


def _check_history(rows) -> None:
    if not isinstance(rows, list):
        raise Bad(f"history is {_show(rows)}, not a list of epoch rows")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise Bad(f"history[{i}] is {_show(row)}, not a table")
        for k, v in row.items():
            where = f"history[{i}].{k}"
            if k in ("epoch", "step"):
                _count(v, where)
            elif v is not None and not isinstance(v, (str, bool, int, float)):
                raise Bad(f"{where} is {_show(v)}, not a number")


def _check_trainer(t) -> None:
    t = _table(t, "trainer")
    for k in ("epoch", "step", "batch_in_epoch"):
        if k in t:
            _count(t[k], f"trainer.{k}")
    run = t.get("running")
    if run is not None:
        run = _table(run, "trainer.running", optional=False)
        for k in ("correct", "seen"):
            _count(run.get(k, 0), f"trainer.running.{k}")
        for k in ("loss_sum", "seconds"):
            _number(run.get(k, 0.0), f"trainer.running.{k}", minimum=0)
    if t.get("loss_reference") is not None:
        _number(t["loss_reference"], "trainer.loss_reference", minimum=0)


def _check_rng(rng) -> None:
    rng = _table(rng, "rng")
    if rng.get("init") is not None:
        _table(rng["init"], "rng.init", optional=False)
    g = rng.get("numpy_global")
    if g is not None:
        if not isinstance(g, list) or len(g) != 5 or g[0] != "MT19937":
            raise Bad(f"rng.numpy_global is {_show(g)}, not a MT19937 state")
        check_array(g[1], "rng.numpy_global[1]", shape=(624,), kinds="iu")
        _count(g[2], "rng.numpy_global[2]")
        _count(g[3], "rng.numpy_global[3]")
        _number(g[4], "rng.numpy_global[4]")
    for name, st in _table(rng.get("dropout"), "rng.dropout").items():
        if not isinstance(st, list) or len(st) != 2:
            raise Bad(f"rng.dropout.{name} is {_show(st)}, not [seed, calls]")
        _count(st[0], f"rng.dropout.{name}[0]")
        _count(st[1], f"rng.dropout.{name}[1]")
    if rng.get("train_loader") is not None:
        st = _table(rng["train_loader"], "rng.train_loader", optional=False)
        for k in ("seed", "epoch", "batch"):
            _count(st.get(k), f"rng.train_loader.{k}")


def _check_typed(meta, key, kind_key, state_key) -> None:
    """optimizer / scheduler: None or {"type": name, state_key: table}."""
    v = meta.get(key)
    if v is None:
        return
    v = _table(v, key, optional=False)
    if not isinstance(v.get(kind_key), str):
        raise Bad(f"{key}.{kind_key} is {_show(v.get(kind_key))}, not a name")
    _table(v.get(state_key), f"{key}.{state_key}", optional=False)


def check_meta(meta: dict, model_state: dict) -> None:
    """Checks what :meth:`engine.train.Trainer.state` (or any caller of
    :func:`save_checkpoint`) writes: every entry present has its type, range and shape;
    raises :class:`Bad` naming the first that does not."""
    _check_spec(meta.get("spec"))
    shape = None if meta.get("input_shape") is None else check_shape(meta["input_shape"], "input_shape")
    _check_metadata(meta.get("metadata"))
    md_shape = (meta.get("metadata") or {}).get("input_shape")
    if shape is not None and md_shape is not None and tuple(md_shape) != shape:
        raise Bad(f"input_shape {list(shape)} and metadata.input_shape {md_shape} differ")
    _check_history(meta.get("history", []))
    _check_trainer(meta.get("trainer"))
    _check_rng(meta.get("rng"))
    _check_typed(meta, "optimizer", "type", "state_dict")
    _check_typed(meta, "scheduler", "type", "state")
    if meta.get("scheduler_interval") not in (None, "epoch", "step"):
        raise Bad(f"scheduler_interval is {_show(meta['scheduler_interval'])}, not 'epoch' or 'step'")
    for key, st in _table(meta.get("callbacks"), "callbacks").items():
        _table(st, f"callbacks.{key}", optional=False)
    for key in ("created", "engine_version"):
        if meta.get(key) is not None and not isinstance(meta[key], str):
            raise Bad(f"{key} is {_show(meta[key])}, not a text")
    if meta.get("probe") is not None:
        probe = check_array(meta["probe"], "probe", shape=shape)
        if probe.ndim != 3:
            raise Bad(f"probe has shape {probe.shape}, not (C, H, W)")
    for key, a in model_state.items():
        check_array(a, f"weight {key!r}", kinds="fiub")


# --- the checkpoint ----------------------------------------------------------------------------
@dataclass
class Checkpoint:
    """A loaded checkpoint: ``meta`` (the JSON part, with arrays restored in place) and
    ``model_state`` (state_dict arrays by torch-style key), both checked by :func:`check_meta`."""

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
        return list((self.meta.get("metadata") or {}).get("class_names") or [])

    @property
    def history(self) -> list:
        return list(self.meta.get("history", []))

    @property
    def metadata(self) -> dict:
        return dict(self.meta.get("metadata") or {})

    @property
    def progress(self) -> tuple[int, int]:
        """(completed epochs, optimizer steps) of the run when it was saved."""
        t = self.meta.get("trainer") or {}
        return int(t.get("epoch", 0)), int(t.get("step", 0))

    def build_model(self):
        """The model, rebuilt from its spec (no Python from whoever saved it), with its
        weights, in eval mode; with an input shape on record it must take that shape, give
        one output per class name, and run one (zero) image (if that needs at most
        MAX_TRIAL_BYTES of activations)."""
        python_class = self.spec.get("python_class")
        if python_class is not None:
            raise CheckpointError(
                f"checkpoint {self.path} holds a {self.spec['type']}, a module class defined in Python "
                f"({python_class}); files are never code, so it cannot be rebuilt from the file: build the model "
                f"in Python and load the weights with model.load_state_dict(engine.load({self.path!r}))")
        try:
            model = from_spec(self.spec)
        except (ValueError, TypeError) as e:
            raise damaged(self.path, f"its model spec does not build: {first_line(e, QUOTE_LIMIT)}") from None
        except MemoryError:
            raise damaged(self.path, "its model spec declares layers too large to build") from None
        try:
            model.load_state_dict(self.model_state)
        except (KeyError, ValueError) as e:
            raise damaged(self.path, f"its weights do not fit its model spec: {first_line(e, QUOTE_LIMIT)}") from None
        model.eval()
        shape = self.input_shape or (self.metadata.get("input_shape") and tuple(self.metadata["input_shape"]))
        if shape:
            try:
                summ = summary(model, shape)
                if summ.activation_bytes <= MAX_TRIAL_BYTES:     # the checked (not the folded) path
                    model(np.zeros((1, *shape), np.float32))
            except ValueError as e:
                raise damaged(self.path, f"its model does not run on its own input shape "
                                         f"{'x'.join(map(str, shape))}: {e}") from None
            names, out = self.class_names, summ.output_shape
            if names and len(out) == 1 and out[0] != len(names):
                raise damaged(self.path, f"it names {len(names)} classes but its model predicts {out[0]}")
        return model


def save_checkpoint(path: str, model, meta: dict | None = None, extra_arrays: dict | None = None) -> str:
    """Writes ``model``'s spec and state_dict plus ``meta`` (nested dicts/lists of JSON
    values and numpy arrays) to ``path`` atomically. Returns the path."""
    arrays: dict = {}
    for k, v in model.state_dict().items():
        arrays[f"model/{k}"] = np.require(v, requirements="C")
    for k, v in (extra_arrays or {}).items():
        arrays[k] = np.require(v, requirements="C")
    return write_archive(path, {"spec": model.spec(), **(meta or {})}, arrays)


def write_archive(path, obj: dict, arrays: dict | None = None) -> str:
    """Writes ``obj`` (a dict of JSON values and numpy arrays, nested) and ``arrays`` (more
    members by key) as one checkpoint-format file, atomically: the arrays as ``.npy``
    members, the rest as the JSON member, tagged with this format and version."""
    arrays = dict(arrays or {})
    packed = pack({"format": FORMAT, "version": VERSION, **obj}, arrays, "meta")
    arrays[META_KEY] = np.array(json.dumps(packed, allow_nan=False, separators=(",", ":")))

    def write(f):
        np.savez(f, **arrays)
    _atomic_write(os.fspath(path), write)
    return os.fspath(path)


def read_archive(path) -> tuple[dict, dict]:
    """(the unpacked JSON part, every array by key) of a file :func:`write_archive` wrote,
    with all of :func:`load_checkpoint`'s checks on the file's structure (not on what a
    training checkpoint must hold); CheckpointError, one sentence, otherwise."""
    path = _resolve(path)
    try:
        arrays = _read_arrays(path)
        return unpack(_parse_meta(path, arrays), arrays), arrays
    except Bad as e:
        raise damaged(path, str(e)) from None


def _resolve(path) -> str:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint {path} does not exist")
    if os.path.isdir(path):
        for name in ("best.npz", "last.npz"):
            if os.path.isfile(os.path.join(path, name)):
                return os.path.join(path, name)
        raise CheckpointError(f"{path} is a folder with no best.npz or last.npz in it")
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path} is not a regular file")
    return path


def load_checkpoint(path) -> Checkpoint:
    """Reads a checkpoint without running any code from it and checks all of it
    (:func:`check_meta`); raises CheckpointError, one sentence, for a missing, foreign or
    damaged file. A folder means its best.npz (else last.npz)."""
    path = _resolve(path)
    try:
        arrays = _read_arrays(path)
        meta = unpack(_parse_meta(path, arrays), arrays)
        model_state = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
        check_meta(meta, model_state)
    except Bad as e:
        raise damaged(path, str(e)) from None
    return Checkpoint(path=path, meta=meta, model_state=model_state)


def read_progress(path) -> tuple[int, int]:
    """(completed epochs, optimizer steps) a checkpoint records, read from its JSON part
    alone (no weights are loaded); CheckpointError as :func:`load_checkpoint`."""
    path = _resolve(path)
    try:
        packed = _parse_meta(path, _read_arrays(path, only=META_KEY))
        t = _table(packed.get("trainer"), "trainer")
        return _count(t.get("epoch", 0), "trainer.epoch"), _count(t.get("step", 0), "trainer.step")
    except Bad as e:
        raise damaged(path, str(e)) from None


def read_summary(path) -> dict:
    """A checkpoint's metadata, history and trainer counters ({"metadata": {...},
    "history": [...], "trainer": {...}}), read from its JSON part alone (no weights are
    loaded) and checked as :func:`load_checkpoint` checks them; CheckpointError likewise."""
    path = _resolve(path)
    try:
        packed = _parse_meta(path, _read_arrays(path, only=META_KEY))
        _check_metadata(packed.get("metadata"))
        _check_history(packed.get("history", []))
        _check_trainer(packed.get("trainer"))
        return {"metadata": dict(packed.get("metadata") or {}), "history": list(packed.get("history", [])),
                "trainer": dict(packed.get("trainer") or {})}
    except Bad as e:
        raise damaged(path, str(e)) from None


def load_model(path):
    """The model a checkpoint holds, built from its spec, weights loaded, in eval mode."""
    return load_checkpoint(path).build_model()
