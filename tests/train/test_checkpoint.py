"""Checkpoints: pickle-free, self-describing, atomic; a crash during a save leaves the
previous checkpoint whole."""
import io
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

from helpers.process import ROOT, child_env
from helpers.train import make_trainer, tiny_model


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
import os
from engine.train import checkpoint as ck
from helpers.train import tiny_model
def die(src, dst):
    os._exit(9)
ck._replace = die
ck.save_checkpoint({str(path)!r}, tiny_model(), {{"history": [{{"epoch": 0}}, {{"epoch": 1}}]}})
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=child_env(), capture_output=True, timeout=300)
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


# --- the checked reader ---------------------------------------------------------------------------
def _rewrite(path, edit):
    """Rewrites checkpoint ``path`` after ``edit(packed, arrays)`` changed its parts in place."""
    from helpers.checkpoint_corruptions import read_parts, write_parts
    packed, arrays = read_parts(path)
    edit(packed, arrays)
    write_parts(path, packed, arrays)
    return path


def _saved(tmp_path, meta=None, name="m.npz"):
    engine.manual_seed(0)
    return save_checkpoint(tmp_path / name, tiny_model(), meta or {"input_shape": [1, 8, 8]})


@pytest.mark.parametrize("edit,match", [
    (lambda p, a: p.pop("spec"), "spec is None, not a layer spec"),
    (lambda p, a: p.update(input_shape=[1, 100000, 100000]), r"input_shape 1x100000x100000 is beyond"),
    (lambda p, a: p.update(input_shape=[1, 8]), r"input_shape is \[1, 8\], not \[C, H, W\]"),
    (lambda p, a: p.update(metadata={"class_names": ["a", "b"]}), "names 2 classes but its model predicts 4"),
    (lambda p, a: p.update(metadata={"class_names": "abcd"}), "class_names is 'abcd', not a list"),
    (lambda p, a: p.update(optimizer={"state_dict": {}}), "optimizer.type is None, not a name"),
    (lambda p, a: p.update(rng={"numpy_global": ["MT19937", 5, 0, 0, 0.0]}), "rng.numpy_global.1. is 5"),
    (lambda p, a: p.update(trainer={"epoch": -1}), "trainer.epoch is -1, not a whole number"),
    (lambda p, a: p.update(history=[{"epoch": "one"}]), r"history\[0\].epoch is 'one'"),
    (lambda p, a: p.update(version=99), "newer format"),
    (lambda p, a: a.update({"model/0.weight": np.full((4, 1, 3, 3), np.nan, np.float32)}), "non-finite"),
    (lambda p, a: a.update({"model/0.weight": np.zeros((4, 1, 3, 3), np.complex64)}), "not a plain numeric"),
    (lambda p, a: a.update({"model/0.weight": np.zeros((4, 1, 3, 4), np.float32)}), "do not fit its model spec"),
    (lambda p, a: a.pop("model/0.bias"), "do not fit its model spec"),
    (lambda p, a: p["spec"]["layers"][0].update(out_channels=2**30), "more than any layer"),
    (lambda p, a: p.update(metadata={"normalize": {"mean": [0.5], "std": [0.0]}}), r"std\[0\] is 0.0"),
], ids=["no-spec", "huge-input", "short-input", "short-class-names", "class-names-text", "no-optimizer-type",
        "garbage-rng", "negative-epoch", "text-epoch", "newer", "nan-weight", "complex-weight", "wrong-shape",
        "missing-weight", "huge-layer", "zero-std"])
def test_damaged_entries_are_named(tmp_path, edit, match):
    path = _rewrite(_saved(tmp_path), edit)
    with pytest.raises(CheckpointError, match=match) as e:
        load_checkpoint(path).build_model()
    assert str(e.value).startswith(f"checkpoint {path} ") and "\n" not in str(e.value)


def test_deep_nesting_and_bare_nan_are_damaged(tmp_path):
    from helpers.checkpoint_corruptions import read_parts, write_parts
    path = _saved(tmp_path)
    packed, arrays = read_parts(path)
    text = json.dumps(packed)
    write_parts(path, packed, arrays, text[:-1] + ', "x": ' + "[" * 50_000 + "]" * 50_000 + "}")
    with pytest.raises(CheckpointError, match="is damaged: its JSON part"):
        load_checkpoint(path)
    write_parts(path, packed, arrays, text[:-1] + ', "x": NaN}')
    with pytest.raises(CheckpointError, match="bare NaN"):
        load_checkpoint(path)


def test_declared_sizes_are_checked_before_reading(tmp_path):
    """An .npy header that declares more than its member holds is refused before numpy
    allocates (a 4-element member, CRC intact, claiming 10^12 elements)."""
    path = _saved(tmp_path)
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)})
    members["model/0.bias.npy"] = head.getvalue() + members["model/0.bias.npy"][-16:]
    with zipfile.ZipFile(path, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    with pytest.raises(CheckpointError, match=r"declares shape \(1000000000000,\)"):
        load_checkpoint(path)


def test_fortran_order_and_big_endian_arrays_load_correctly(tmp_path):
    path = _saved(tmp_path)
    want = load_checkpoint(path).model_state

    def edit(p, a):
        a["model/0.weight"] = np.asfortranarray(a["model/0.weight"])
        a["model/6.weight"] = a["model/6.weight"].astype(">f4")
    c = load_checkpoint(_rewrite(path, edit))
    for k, v in want.items():
        np.testing.assert_array_equal(c.model_state[k], v)
        assert c.model_state[k].flags.c_contiguous and c.model_state[k].dtype.isnative
    c.build_model()


def test_read_progress_reads_the_counters_only(tmp_path):
    t = make_trainer()
    t.fit(1)
    path = t.save_checkpoint(tmp_path / "c.npz")
    assert ck.read_progress(path) == (1, len(t.train_loader)) == load_checkpoint(path).progress


# --- files -------------------------------------------------------------------------------------------
def test_files_honour_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        path = _saved(tmp_path)
        ck.atomic_write_bytes(tmp_path / "notes.txt", b"x")
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert os.stat(tmp_path / "notes.txt").st_mode & 0o777 == 0o640


def test_remove_temporaries_removes_only_a_files_leftovers(tmp_path):
    for name in (".last.npz.0123abcd.tmp", ".last.npz.ffffffff.tmp", ".best.npz.0123abcd.tmp", "last.npz",
                 ".last.npz.notmine.tmp", "x.tmp"):
        (tmp_path / name).write_bytes(b"")
    assert sorted(ck.remove_temporaries(tmp_path / "last.npz")) == [".last.npz.0123abcd.tmp", ".last.npz.ffffffff.tmp"]
    assert sorted(os.listdir(tmp_path)) == [".best.npz.0123abcd.tmp", ".last.npz.notmine.tmp", "last.npz", "x.tmp"]
