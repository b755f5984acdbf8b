"""Damaged checkpoints, fuzzed: any byte-level corruption (bit flips, truncation) and any
structural edit of a real checkpoint (each array's shape, dtype, values and layout; each
JSON entry deleted or replaced by garbage; deep nesting; implausible sizes) ends in the
documented error — one line, "checkpoint FILE ..." — or in a correct load and run. The
cases that reach the optimizer and kernels run in a child process, so a crash shows as a
signal instead of taking the test run down."""
import json
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.train import CheckpointError, load_checkpoint

from helpers.checkpoint_corruptions import (base_checkpoint, byte_edit, documented, read_parts, structural_cases,
                                            write_parts)
from helpers.process import ROOT, child_env

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    folder = tmp_path_factory.mktemp("base")
    path = base_checkpoint(str(folder), "adam")
    packed, arrays = read_parts(path)
    return {"path": path, "bytes": open(path, "rb").read(), "cases": structural_cases(packed, arrays),
            "folder": tmp_path_factory.mktemp("cases")}


def _load_and_build(path):
    """None after a correct load (model built and run), else the CheckpointError's text."""
    try:
        load_checkpoint(path).build_model()
    except CheckpointError as e:
        assert documented(e, path), str(e)
        return str(e)
    return None


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 7)), min_size=1, max_size=3),
       cut=st.one_of(st.none(), st.integers(0, 10**6)))
def test_byte_corruption_is_refused_or_loads(base, flips, cut):
    data = base["bytes"]
    path = base["folder"] / "bytes.npz"
    path.write_bytes(byte_edit(data, flips, None if cut is None else cut % len(data)))
    _load_and_build(path)


@FUZZ
@given(index=st.integers(0, 10**6))
def test_structural_corruption_is_refused_or_loads(base, index):
    name, packed, arrays, text = base["cases"][index % len(base["cases"])]
    path = base["folder"] / "structure.npz"
    write_parts(path, packed, arrays, text)
    _load_and_build(path)


def _run_worker(lines):
    """Runs helpers/checkpoint_corruptions.py on "PATH OPT" lines; returns {path: (outcome, message)}."""
    r = subprocess.run([sys.executable, "-m", "helpers.checkpoint_corruptions"], input="\n".join(lines),
                       capture_output=True, text=True, cwd=ROOT, env=child_env(), timeout=600)
    started = [ln.split(" ", 1)[1] for ln in r.stdout.splitlines() if ln.startswith("START ")]
    assert r.returncode == 0, f"the worker died (status {r.returncode}) on {started[-1:]}: {r.stderr[-2000:]}"
    return {p: (o, m) for p, o, m, _ in (json.loads(ln) for ln in r.stdout.splitlines() if ln.startswith("["))}


def test_restoring_and_training_on_damaged_checkpoints_never_crashes(base):
    """A sample of the structural corpus (every array edit of the optimizer's moments and
    the weights, and a spread of JSON edits) restored into a trainer and trained one more
    epoch, in a child process: each is refused with the documented line or runs."""
    cases = base["cases"]
    picked = [c for c in cases if c[0].startswith("array meta/optimizer") or c[0].startswith("array model/0.")]
    picked += cases[::max(1, len(cases) // 60)]
    lines = []
    for i, (name, packed, arrays, text) in enumerate(picked):
        path = str(base["folder"] / f"w{i}.npz")
        write_parts(path, packed, arrays, text)
        lines.append(f"{path} adam")
    results = _run_worker(lines)
    assert len(results) == len(picked)
    wrong = [(name, results[line.split()[0]][1]) for (name, *_), line in zip(picked, lines)
             if results[line.split()[0]][0] == "wrong"]
    assert not wrong, wrong[:5]
    for path, (outcome, message) in results.items():
        assert outcome == "ok" or message.startswith(f"checkpoint {path} "), message


def test_adam_moment_of_the_wrong_shape_is_refused_naming_the_parameter(base):
    """The audit's heap corruption: exp_avg one element short used to reach the kernel."""
    packed, arrays = read_parts(base["path"])
    key = next(k for k in arrays if k.endswith("/exp_avg") and arrays[k].ndim == 4)
    arrays[key] = arrays[key][:, :, :, :2].copy()
    path = str(base["folder"] / "short_moment.npz")
    write_parts(path, packed, arrays)
    outcome, message = _run_worker([f"{path} adam"])[path]
    assert outcome == "refused"
    assert "is damaged: optimizer state: Adam state of parameter '0.weight': exp_avg has shape (4, 1, 3, 2)" in message
