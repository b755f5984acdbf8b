"""A run killed while it saves its checkpoints resumes to the same files as a run that was
never killed: best.npz is written before last.npz (which records the best), so no kill
leaves a last.npz claiming a best that best.npz does not hold; the killed write's
temporary file is removed at the next start."""
import os
import subprocess
import sys

import numpy as np
import pytest

from engine.train import ModelCheckpoint, load_checkpoint

from helpers.process import ROOT, child_env
from helpers.train import make_trainer

EPOCHS = 2


def _trainer(folder):
    return make_trainer(epochs_for_schedule=EPOCHS, callbacks=[ModelCheckpoint(folder, monitor="train_loss")])


def _kill_during_save(folder, name):
    """Trains in a child process that is killed (os._exit) just before the last epoch's
    rename of ``name`` (best.npz or last.npz), as a SIGKILL would stop it."""
    code = f"""
import os
from engine.train import ModelCheckpoint, checkpoint as ck
from helpers.train import make_trainer
t = make_trainer(epochs_for_schedule={EPOCHS}, callbacks=[ModelCheckpoint({str(folder)!r}, monitor="train_loss")])
real = ck._replace
def replace(src, dst):
    if dst.endswith({name!r}) and t.epoch == {EPOCHS}:
        os._exit(9)
    real(src, dst)
ck._replace = replace
t.fit({EPOCHS})
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=child_env(), capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 9, r.stderr[-2000:]


def _timeless(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def _best_epoch(path):
    return load_checkpoint(path).meta["callbacks"]["ModelCheckpoint"]["best_epoch"]


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    folder = tmp_path_factory.mktemp("whole")
    _trainer(folder).fit(EPOCHS)
    assert _best_epoch(folder / "last.npz") == EPOCHS - 1      # the last epoch improved: best.npz was written
    return folder


@pytest.mark.parametrize("name", ["best.npz", "last.npz"])
def test_a_kill_between_the_two_writes_resumes_to_the_same_files(whole, tmp_path, name):
    _kill_during_save(tmp_path, name)
    left = os.listdir(tmp_path)
    assert any(n.startswith(f".{name}.") and n.endswith(".tmp") for n in left), left
    # the pair is consistent: last.npz is one epoch behind and claims no best that best.npz lacks
    last = load_checkpoint(tmp_path / "last.npz")
    assert last.progress[0] == EPOCHS - 1
    assert _best_epoch(tmp_path / "last.npz") <= _best_epoch(tmp_path / "best.npz")
    # the next start removes the temporary, repeats the epoch and writes both files again
    t = _trainer(tmp_path)
    t.restore(tmp_path / "last.npz")
    assert t.fit(EPOCHS).reason == "completed"
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    for f in ("best.npz", "last.npz"):
        got, want = load_checkpoint(tmp_path / f), load_checkpoint(whole / f)
        assert got.progress == want.progress and _timeless(got.history) == _timeless(want.history), f
        for k, v in want.model_state.items():
            np.testing.assert_array_equal(got.model_state[k], v, err_msg=f"{f}: {k}")


def test_checkpoints_and_logs_honour_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        make_trainer(epochs_for_schedule=1, callbacks=[ModelCheckpoint(tmp_path)]).fit(1)
    finally:
        os.umask(old)
    for name in ("best.npz", "last.npz"):
        assert os.stat(tmp_path / name).st_mode & 0o777 == 0o600
