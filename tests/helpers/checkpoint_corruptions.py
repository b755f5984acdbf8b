"""A corpus of damaged checkpoints, and what a user does with one (``exercise``), shared by
the fuzz tests and ``benchmarks/audit_checkpoints_cli.py``.

A base checkpoint is a real one: the tiny model of helpers/train.py (BatchNorm, Dropout)
trained one epoch with Adam + OneCycleLR (or SGD + StepLR), with EarlyStopping and
ModelCheckpoint state. The corpus edits it byte by byte (bit flips, truncation) or
structurally (each array's shape, dtype, values, layout; each JSON entry deleted or
replaced by garbage; deep nesting; implausible sizes). ``exercise`` loads a file, builds
and runs its model, restores it into a trainer of the same recipe and trains one more
epoch; the documented endings are a correct run or one CheckpointError whose one line
starts "checkpoint FILE".

Run as a module (``python -m helpers.checkpoint_corruptions`` with tests/ on PYTHONPATH) it
is the worker of the subprocess tests and the audit: it reads "PATH OPT" lines on stdin
and prints "START PATH" then a JSON [path, outcome, message, MB] line for each (MB: how
much the worker's peak resident memory grew), so a crash (a signal) is pinned to the case
that caused it.
"""
import copy
import io
import json
import os
import resource
import sys
import tempfile
import zipfile

import numpy as np

import engine
from engine.train import CheckpointError, EarlyStopping, ModelCheckpoint, load_checkpoint
from engine.train.checkpoint import META_KEY
from helpers.train import make_trainer

RECIPES = {"adam": dict(opt="adam", scheduler="onecycle"), "sgd": dict(opt="sgd", scheduler="step")}
GARBAGE = [None, -1, 2**62, 1e300, "x", True, [], {}, [1, 2, 3], {"__array__": "nope"}, {"__float__": "zz"},
           {"__intkeys__": 5}]


def trainer_for(opt, folder):
    """A trainer of the base checkpoints' recipe ``opt`` ("adam" or "sgd"), saving into ``folder``."""
    return make_trainer(epochs_for_schedule=3, callbacks=[EarlyStopping(patience=5), ModelCheckpoint(folder)],
                        **RECIPES[opt])


def base_checkpoint(folder, opt="adam") -> str:
    """Trains the recipe one epoch and returns its last.npz (in ``folder``)."""
    engine.manual_seed(0)
    t = trainer_for(opt, folder)
    t.fit(1)
    return os.path.join(folder, "last.npz")


def read_parts(path):
    """(JSON part, {key: array}) of a checkpoint, read with numpy's own reader."""
    arrays = {}
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            arrays[name[:-4]] = np.load(io.BytesIO(z.read(name)), allow_pickle=False)
    return json.loads(str(arrays.pop(META_KEY))), arrays


def write_parts(path, packed, arrays, text=None):
    """Writes a checkpoint from its parts (``text`` replaces the JSON part verbatim)."""
    members = dict(arrays)
    members[META_KEY] = np.array(json.dumps(packed) if text is None else text)
    np.savez(path, **members)


def _paths(obj, at=()):
    """Every place in a JSON value, as a tuple of keys and indexes."""
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for k, v in items:
        yield at + (k,)
        yield from _paths(v, at + (k,))


def _set(obj, path, value):
    for k in path[:-1]:
        obj = obj[k]
    if value is _DELETE:
        del obj[path[-1]]
    else:
        obj[path[-1]] = value


_DELETE = object()


def _array_edits(a):
    """(name, replacement) edits of one array: shapes, dtypes, values, layouts."""
    yield "shape+1", np.zeros(tuple(s + 1 for s in a.shape) or (1,), a.dtype)
    yield "extra-dim", a[None]
    yield "scalar", np.zeros((), a.dtype)
    yield "flat", a.reshape(-1)
    yield "float64", a.astype(np.float64)
    yield "int32", a.astype(np.int32)
    yield "complex", a.astype(np.complex64)
    yield "text", np.full(a.shape, "ab")
    yield "object", np.array([None], dtype=object)
    if a.dtype.kind == "f":
        yield "nan", np.full(a.shape, np.nan, a.dtype)
        yield "inf", np.full(a.shape, -np.inf, a.dtype)
    yield "fortran", np.asfortranarray(a)                  # a correct load
    yield "big-endian", a.astype(a.dtype.newbyteorder(">"))  # a correct load


def structural_cases(packed, arrays):
    """[(name, JSON part, arrays, JSON text or None)] edits of a checkpoint's parts."""
    cases = []
    for key, a in arrays.items():
        for edit, b in _array_edits(a):
            cases.append((f"array {key}: {edit}", packed, {**arrays, key: b}, None))
        cases.append((f"array {key}: missing", packed, {k: v for k, v in arrays.items() if k != key}, None))
    cases.append(("extra member", packed, {**arrays, "junk": np.zeros(3)}, None))
    for path in _paths(packed):
        where = ".".join(map(str, path))
        for value in [_DELETE] + GARBAGE:
            if value is _DELETE and isinstance(path[-1], int):
                continue
            p = copy.deepcopy(packed)
            _set(p, path, value)
            cases.append((f"json {where} = {'(deleted)' if value is _DELETE else json.dumps(value)}", p, arrays, None))
    deep = json.dumps(packed)[:-1] + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}"
    cases.append(("json nested 100000 deep", packed, arrays, deep))
    for shape in ([1, 100_000, 100_000], [3, 0, 8], [1, 8]):
        p = copy.deepcopy(packed)
        p["input_shape"] = shape
        p.setdefault("metadata", {})["input_shape"] = shape
        cases.append((f"input_shape {shape}", p, arrays, None))
    p = copy.deepcopy(packed)
    p.setdefault("metadata", {})["class_names"] = ["a", "b"]
    cases.append(("2 class names for 4 outputs", p, arrays, None))
    cases.append(("not JSON", packed, arrays, "{not json"))
    return cases


def byte_edit(data: bytes, flips=(), cut=None) -> bytes:
    """``data`` with bits flipped ((position, bit) pairs) and/or cut to ``cut`` bytes."""
    b = bytearray(data)
    for pos, bit in flips:
        b[pos % len(b)] ^= 1 << bit
    return bytes(b[:cut] if cut is not None else b)


def documented(e: CheckpointError, path) -> bool:
    """A CheckpointError as documented: one line, "checkpoint FILE ..."."""
    text = str(e)
    return "\n" not in text and text.startswith(f"checkpoint {path} ")


def one_line_naming(e: CheckpointError, path) -> bool:
    """A CheckpointError of one line that names the file (older engines' wording too)."""
    text = str(e)
    return "\n" not in text and str(path) in text


def exercise(path, opt="adam"):
    """What a user does with a checkpoint: load it, build and run its model, restore it into
    a trainer of its recipe and train one more epoch. Returns ("ok", how the run ended),
    ("refused", the CheckpointError's line: one line naming the file; ``documented`` says
    whether it has today's wording) or ("wrong", what went wrong instead)."""
    try:
        c = load_checkpoint(path)
        model = c.build_model()
        model(np.zeros((2, 1, 8, 8), np.float32))
        with tempfile.TemporaryDirectory() as folder:
            t = trainer_for(opt, folder)
            t.restore(c)
            done = t.fit(2)
    except CheckpointError as e:
        return ("refused", str(e)) if one_line_naming(e, path) else ("wrong", f"CheckpointError: {e}")
    except Exception as e:  # noqa: BLE001 - anything else is what the corpus looks for
        return "wrong", f"{type(e).__name__}: {str(e)[:300]}"
    return "ok", done.reason


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    for line in sys.stdin:
        path, opt = line.split()
        print("START", path, flush=True)
        before = _peak_mb()
        outcome = exercise(path, opt)
        print(json.dumps([path, *outcome, round(_peak_mb() - before)]), flush=True)
