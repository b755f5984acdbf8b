"""Checkpoints: pickle-free, self-describing, atomic; a crash during a save leaves the
previous checkpoint whole."""
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import engine
from engine import nn
from engine.train import CheckpointError, load_checkpoint, load_model, save_checkpoint
from engine.train import checkpoint as ck

from train_helpers import make_trainer, tiny_model


def test_pack_unpack_round_trip():
    arrays = {}
    obj = {"a": np.arange(3), "b": [1, 2.5, None, "x", (np.float32(1.5), True)], 3: {"inf": float("inf")},
           "rng": np.random.default_rng(1).bit_generator.state}
    packed = ck.pack(obj, arrays, "m")
    text = json.dumps(packed, allow_nan=False)
    back = ck.unpack(json.loads(text), arrays)
    np.testing.assert_array_equal(back["a"], np.arange(3))
    assert back["b"] == [1, 2.5, None, "x", [1.5, True]]
    assert back[3] == {"inf": float("inf")}
    assert back["rng"] == obj["rng"]


def test_save_load_model_from_spec_alone(tmp_path):
    engine.manual_seed(3)
    m = tiny_model()
    path = save_checkpoint(tmp_path / "m.npz", m, {"input_shape": [1, 8, 8], "metadata": {"class_names": list("abcd")}})
    # a plain npz of numeric arrays and one string, readable with pickles disabled
    with np.load(path, allow_pickle=False) as z:
        assert ck.META_KEY in z.files
        assert all(z[k].dtype != object for k in z.files)
    c = load_checkpoint(path)
    assert c.input_shape == (1, 8, 8) and c.class_names == list("abcd")
    m2 = load_model(path)                     # built from the spec: no Python of the sender runs
    assert m2.spec() == json.loads(json.dumps(m.spec()))
    x = np.random.default_rng(0).random((2, 1, 8, 8)).astype(np.float32)
    m.eval()
    np.testing.assert_array_equal(m(x), m2(x))


def test_checkpoint_refuses_pickles(tmp_path):
    bad = tmp_path / "evil.npz"
    np.savez(bad, **{ck.META_KEY: np.array(json.dumps({"format": ck.FORMAT, "version": 1, "spec": {}})),
                     "model/x": np.array([object()], dtype=object)})
    with pytest.raises(CheckpointError, match="is damaged: array 'model/x' has dtype object"):
        load_checkpoint(bad)


@pytest.mark.parametrize("content,match", [
    (b"not a zip at all", "not a numbacnn checkpoint"),
    (None, "does not exist"),
])
def test_bad_files_are_clear_errors(tmp_path, content, match):
    p = tmp_path / "x.npz"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(p)


def test_foreign_npz_is_clear_error(tmp_path):
    p = tmp_path / "w.npz"
    np.savez(p, w=np.zeros(3))
    with pytest.raises(CheckpointError, match="not a numbacnn checkpoint"):
        load_checkpoint(p)


def test_truncated_checkpoint_is_clear_error(tmp_path):
    engine.manual_seed(0)
    path = save_checkpoint(tmp_path / "m.npz", tiny_model())
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="is damaged"):
        load_checkpoint(path)


def test_crash_between_write_and_rename_keeps_previous(tmp_path, monkeypatch):
    engine.manual_seed(0)
    m = tiny_model()
    path = tmp_path / "last.npz"
    save_checkpoint(path, m, {"history": [{"epoch": 0}]})
    before = open(path, "rb").read()
    for p in m.parameters():
        p.data += 1

    def crash(src, dst):
        assert os.path.getsize(src) > 0          # the new file was written and synced
        raise KeyboardInterrupt("killed")
    monkeypatch.setattr(ck, "_replace", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, m, {"history": [{"epoch": 0}, {"epoch": 1}]})
    assert open(path, "rb").read() == before
    assert load_checkpoint(path).history == [{"epoch": 0}]
    assert sorted(os.listdir(tmp_path)) == ["last.npz"]     # no temporary left behind


def test_kill_during_save_in_a_real_process(tmp_path):
    """A process killed (os._exit) after writing the temporary file and before the rename
    leaves the previous checkpoint loadable."""
    path = tmp_path / "last.npz"
    engine.manual_seed(0)
    save_checkpoint(path, tiny_model(), {"history": [{"epoch": 0}]})
    code = f"""
import os, sys
sys.path.insert(0, {os.path.dirname(__file__)!r})
import engine
from engine.train import checkpoint as ck
from train_helpers import tiny_model
def die(src, dst):
    os._exit(9)
ck._replace = die
ck.save_checkpoint({str(path)!r}, tiny_model(), {{"history": [{{"epoch": 0}}, {{"epoch": 1}}]}})
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
                       capture_output=True, timeout=300)
    assert r.returncode == 9, r.stderr.decode()[-2000:]
    c = load_checkpoint(path)
    assert c.history == [{"epoch": 0}]
    c.build_model()
    # the killed save's temporary file is there, but it is never mistaken for the checkpoint
    assert any(n.endswith(".tmp") for n in os.listdir(tmp_path))


def test_zip_members_are_plain_arrays(tmp_path):
    t = make_trainer()
    path = t.save_checkpoint(tmp_path / "c.npz")
    with zipfile.ZipFile(path) as z:
        assert all(n.endswith(".npy") for n in z.namelist())


def test_restore_refuses_another_architecture(tmp_path):
    t = make_trainer()
    path = t.save_checkpoint(tmp_path / "c.npz")
    from engine import optim
    from engine.train import Trainer
    other = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(72, 4))
    t2 = Trainer(other, optim.SGD(other.parameters(), lr=0.1), nn.CrossEntropyLoss(), t.train_loader)
    with pytest.raises(CheckpointError, match="different architecture"):
        t2.restore(path)


def test_restore_refuses_another_optimizer(tmp_path):
    t = make_trainer(opt="adam", scheduler=None)
    path = t.save_checkpoint(tmp_path / "c.npz")
    t2 = make_trainer(opt="sgd", scheduler=None)
    with pytest.raises(CheckpointError, match="Adam"):
        t2.restore(path)
