"""`train --resume`: no run is ever overwritten and no option is silently ignored. A resumed
run writes into its checkpoint's folder, or copies itself into a new --out; resuming an
earlier checkpoint over a later last.npz is refused; options that change the data split or
the saved state are refused, the others honoured with a printed line. Damaged checkpoints
end in "checkpoint FILE is damaged: ..." and exit status 2."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from engine import cli, nn
from engine.train import load_checkpoint

from helpers.checkpoint_corruptions import read_parts, write_parts
from helpers.dataset_files import write_noise_folder
from helpers.process import ROOT


def run_cli(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def one_line(rc, err, *needles, code=2):
    assert rc == code, err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def snapshot(folder):
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """An image folder (2 classes of 8x8 RGB), a tiny model spec, and a 2-epoch run of each
    schedule kind the rules look at."""
    base = tmp_path_factory.mktemp("resume")
    rng = np.random.default_rng(0)
    write_noise_folder(base / "data", 12, rng)
    spec = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(64, 2)).spec()
    (base / "tiny.json").write_text(json.dumps(spec))
    common = ["--dataset", base / "data", "--model", base / "tiny.json", "--batch-size", "4", "--workers", "0",
              "--quiet"]
    runs = {}
    for name, extra in (("plain", []), ("stepped", ["--schedule", "step:1:0.5", "--optimizer", "sgd"])):
        assert cli.main([str(a) for a in ["train", *common, *extra, "--epochs", "2", "--out", base / name]]) == 0
        runs[name] = base / name
    return {"base": base, "runs": runs, "common": common}


@pytest.fixture
def run(setup, tmp_path):
    """A copy of the plain 2-epoch run (its own folder)."""
    dst = tmp_path / "run"
    shutil.copytree(setup["runs"]["plain"], dst)
    return dst


# --- where a resumed run writes ---------------------------------------------------------------------
def test_resume_into_a_folder_holding_another_run_is_refused(capsys, run, setup, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(setup["runs"]["stepped"], other)
    before = snapshot(other)
    rc, out, err = run_cli(capsys, "train", "--resume", run / "last.npz", "--epochs", "3", "--out", other)
    one_line(rc, err, f"--out {other} already holds a run", "best.npz, last.npz")
    assert snapshot(other) == before


def test_resume_into_a_new_folder_copies_the_run_and_leaves_the_original(capsys, run, tmp_path):
    before = snapshot(run)
    new = tmp_path / "branch"
    rc, out, err = run_cli(capsys, "train", "--resume", run / "last.npz", "--epochs", "3", "--out", new)
    assert rc == 0, err
    assert f"continuing {run / 'last.npz'} in {new}" in out
    assert snapshot(run) == before
    c = load_checkpoint(new / "last.npz")
    assert c.progress[0] == 3 and len(c.history) == 3
    assert len((new / "metrics.csv").read_text().strip().splitlines()) == 4        # header + 3 epochs


def test_resume_from_best_over_a_later_last_is_refused_unless_it_branches(capsys, run, tmp_path):
    rc, out, err = run_cli(capsys, "train", "--resume", run / "last.npz", "--epochs", "4", "--lr", "5")
    assert rc == 0, err                                  # a high rate: later epochs are not the best
    best, last = load_checkpoint(run / "best.npz").progress, load_checkpoint(run / "last.npz").progress
    assert best[1] < last[1]
    before = snapshot(run)
    rc, out, err = run_cli(capsys, "train", "--resume", run / "best.npz", "--epochs", "5")
    one_line(rc, err, f"goes on to epoch {last[0]}", "would overwrite it and its metrics", "--out NEW_FOLDER")
    assert snapshot(run) == before
    rc, out, err = run_cli(capsys, "train", "--resume", run / "best.npz", "--epochs", str(best[0] + 1),
                           "--out", tmp_path / "from_best")
    assert rc == 0, err
    assert snapshot(run) == before
    assert load_checkpoint(tmp_path / "from_best" / "last.npz").progress[0] == best[0] + 1


def test_a_new_run_never_reuses_a_run_folder(capsys, run, tmp_path, setup):
    rc, out, err = run_cli(capsys, "train", *setup["common"], "--out", run)
    one_line(rc, err, "already holds a run", f"--resume {run / 'last.npz'}")
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "metrics.csv").write_text("epoch\n")             # a run killed before its first epoch ended
    rc, out, err = run_cli(capsys, "train", *setup["common"], "--out", partial)
    one_line(rc, err, "already holds a run (metrics.csv)", "choose another --out")
    assert (partial / "metrics.csv").read_text() == "epoch\n"


# --- what options a resumed run takes ---------------------------------------------------------------
@pytest.mark.parametrize("argv,needles", [
    (["--val-split", "0.3"], ["--val-split 0.3 differs from the run's 0.0",
                              "the images the run trains and validates on"]),
    (["--seed", "5"], ["--seed 5 differs from the run's 0"]),
    (["--train-size", "8"], ["--train-size 8 differs"]),
    (["--val-size", "8"], ["--val-size 8 differs"]),
    (["--subset-seed", "3"], ["--subset-seed 3 differs"]),
    (["--model", "mnist_cnn"], ["--model mnist_cnn is a different architecture"]),
    (["--optimizer", "sgd"], ["--optimizer sgd differs from the run's adam", "cannot follow it"]),
    (["--batch-size", "8"], ["--batch-size 8 differs from the run's 4"]),
    (["--schedule", "cosine"], ["--schedule cosine differs from the run's none"]),
])
def test_options_that_change_the_split_or_the_state_are_refused(capsys, run, argv, needles):
    before = snapshot(run)
    rc, out, err = run_cli(capsys, "train", "--resume", run / "last.npz", "--epochs", "3", *argv)
    one_line(rc, err, *needles)
    assert snapshot(run) == before


def test_lr_is_honoured_without_a_schedule_and_printed(capsys, run):
    rc, out, err = run_cli(capsys, "train", "--resume", run / "last.npz", "--epochs", "3", "--lr", "0.05",
                           "--weight-decay", "0.001")
    assert rc == 0, err
    assert "resuming with --lr 0.05 (the run had 0.001)" in out
    assert "resuming with --weight-decay 0.001 (the run had 0.0)" in out
    c = load_checkpoint(run / "last.npz")
    group = c.meta["optimizer"]["state_dict"]["param_groups"][0]
    assert group["lr"] == 0.05 and group["weight_decay"] == 0.001
    assert c.metadata["args"]["lr"] == 0.05 and c.history[-1]["lr"] == 0.05


def test_lr_under_a_schedule_is_refused(capsys, setup, tmp_path):
    run = tmp_path / "stepped"
    shutil.copytree(setup["runs"]["stepped"], run)
    rc, out, err = run_cli(capsys, "train", "--resume", run / "last.npz", "--epochs", "3", "--lr", "0.5")
    one_line(rc, err, "--lr cannot change when resuming a run with --schedule step:1:0.5", "planned from")


def test_epochs_are_honoured(capsys, run):
    rc, out, err = run_cli(capsys, "train", "--resume", run / "last.npz", "--epochs", "3")
    assert rc == 0, err
    assert load_checkpoint(run / "last.npz").progress[0] == 3


# --- damaged checkpoints -------------------------------------------------------------------------------
def _damage(src, dst, edit):
    packed, arrays = read_parts(src)
    edit(packed, arrays)
    write_parts(dst, packed, arrays)
    return dst


DAMAGE = {
    "spec missing": (lambda p, a: p.pop("spec"), "spec is None"),
    "bad input_shape": (lambda p, a: p.update(input_shape=[3, 100000, 100000]), "input_shape 3x100000x100000"),
    "optimizer type missing": (lambda p, a: p["optimizer"].pop("type"), "optimizer.type is None"),
    "garbage rng": (lambda p, a: p["rng"].update(init={"bit_generator": "PCG64", "state": 7}), "rng.init"),
    "short class names": (lambda p, a: p["metadata"].update(class_names=["a"]), "names 1 classes but"),
    "deep nesting": (None, "nested deeper than 64"),
    "bad saved option": (lambda p, a: p["metadata"]["args"].update(epochs=0), "metadata.args"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_checkpoints_end_in_one_line_and_exit_2(capsys, run, tmp_path, case):
    edit, needle = DAMAGE[case]
    path = tmp_path / "damaged.npz"
    if edit is None:
        packed, arrays = read_parts(run / "last.npz")
        nested = {"__intkeys__": {}}
        for _ in range(70):
            nested = {"x": nested}
        packed["metadata"]["studio"] = nested
        write_parts(path, packed, arrays)
    else:
        _damage(run / "last.npz", path, edit)
    for argv in (["train", "--resume", path, "--epochs", "3"], ["predict", path, run.parent / "x.png"],
                 ["evaluate", path]):
        if argv[0] != "train" and case in ("optimizer type missing", "garbage rng", "bad saved option"):
            continue                   # parts only a resumed run reads
        rc, out, err = run_cli(capsys, *argv)
        one_line(rc, err, f"checkpoint {path} is damaged: ", needle)


def test_an_adam_moment_of_the_wrong_shape_is_refused_by_the_real_command(run, tmp_path):
    """The audit's `double free or corruption`: run as a user would, in its own process."""
    def short(p, a):
        key = next(k for k in a if k.endswith("/exp_avg") and a[k].ndim == 4)
        a[key] = a[key][..., :2].copy()
    path = _damage(run / "last.npz", tmp_path / "short.npz", short)
    r = subprocess.run([sys.executable, "-m", "engine", "train", "--resume", str(path), "--epochs", "3",
                        "--out", str(tmp_path / "new"), "--quiet"], cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 2, r.stderr[-2000:]
    line = one_line(r.returncode, r.stderr, "is damaged: optimizer state: Adam state of parameter '0.weight'")
    assert "exp_avg has shape (4, 3, 3, 2); the parameter has shape (4, 3, 3, 3)" in line


# --- the loss guard ---------------------------------------------------------------------------------
def test_an_exploding_learning_rate_is_stopped_and_says_what_is_kept(capsys, setup, tmp_path):
    rc, out, err = run_cli(capsys, "train", *setup["common"], "--epochs", "2", "--lr", "1e6", "--out", tmp_path / "x")
    line = one_line(rc, err, "the loss became", code=1)
    assert "no checkpoint had been saved" in line or "the last good checkpoint" in line
    if "no checkpoint had been saved" in line:
        assert not (tmp_path / "x" / "last.npz").exists()


def test_resume_beside_another_runs_last_is_refused(capsys, run, setup, tmp_path):
    """A checkpoint saved elsewhere (GUI "Save checkpoint...") dropped into a folder that holds
    another run: resuming it there would overwrite that run's last.npz."""
    shutil.copy(setup["runs"]["stepped"] / "last.npz", tmp_path / "mine.npz")
    before = snapshot(run)
    shutil.copy(tmp_path / "mine.npz", run / "mine.npz")
    before["mine.npz"] = (run / "mine.npz").read_bytes()
    rc, out, err = run_cli(capsys, "train", "--resume", run / "mine.npz", "--epochs", "3")
    one_line(rc, err, f"{run / 'last.npz'} beside {run / 'mine.npz'} is another run's")
    assert snapshot(run) == before


def test_resume_of_a_run_folder_continues_its_last_checkpoint(capsys, run):
    rc, out, err = run_cli(capsys, "train", "--resume", run, "--epochs", "3")
    assert rc == 0, err
    assert load_checkpoint(run / "last.npz").progress[0] == 3
