"""``mpirun -n 2 numbacnn train ... --distributed``: rank 0 alone prints and writes the run
folder; the run resumes in one process (another number of ranks) from its epoch-end
checkpoint, its per-step schedule rescaled to the steps of one process, and says so in one
line (mid-epoch resumes: test_resume_ranks.py, test_resume_layout.py); --sync-bn trains
with SyncBatchNorm and saves the plain model; a user error on the ranks ends the job with
status 2 and the message; without mpi4py, --distributed says in one line what to install."""
import sys

import numpy as np
import pytest

import engine
from engine.cli import main
from engine.train import load_checkpoint
from helpers.dataset_files import write_noise_folder

from mpi_launch import run


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    base = tmp_path_factory.mktemp("distributed_cli")
    rng = np.random.default_rng(0)
    write_noise_folder(base / "imgs", 8, rng)
    return base


TRAIN = ["--model", "resnet20", "--image-size", "8", "--batch-size", "2", "--workers", "0", "--quiet",
         "--optimizer", "sgd"]


def test_two_ranks_train_rank_0_writes_and_one_process_resumes(images, capsys):
    out = images / "run"
    r = run(2, ["-m", "engine", "train", "--distributed", "--sync-bn", "--dataset", images / "imgs", "--epochs", "2",
                "--schedule", "step:1:0.5", "--out", out, *TRAIN], timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("distributed: 2 ranks of batch 2 (global batch 4)") == 1     # rank 1 prints nothing
    assert r.stdout.count("completed: trained 2 epochs (8 steps)") == 1                  # 14 images: 7 per rank
    c = load_checkpoint(out / "last.npz")
    assert c.metadata["ranks"] == 2 and c.meta["trainer"]["epoch"] == 2
    assert c.spec == engine.models.get("resnet20", 3, 2, 8).spec()       # BatchNorm2d layers: loads anywhere
    assert len((out / "metrics.csv").read_text().splitlines()) == 3
    rc = main(["train", "--resume", str(out), "--epochs", "3", "--quiet"])
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    assert ("resuming a run of 2 ranks on 1: 4 batches an epoch become 7; the per-step learning-rate schedule "
            "continues at step 14, the same fraction of its epochs as the run's step 8\n") in printed.out
    c = load_checkpoint(out / "last.npz")
    assert c.metadata["ranks"] == 1 and [row["step"] for row in c.history] == [4, 8, 15]   # 7 steps of batch 2
    lrs = [row["lr"] for row in c.history]                  # halved every epoch, whatever the steps per epoch
    np.testing.assert_allclose(lrs, [lrs[0], lrs[0] / 2, lrs[0] / 4], rtol=1e-12)


def test_sync_bn_needs_distributed(images, capsys):
    rc = main(["train", "--sync-bn", "--dataset", str(images / "imgs"), *TRAIN])
    assert rc == 2 and "--sync-bn synchronises batch norm across the ranks" in capsys.readouterr().err


def test_a_user_error_on_the_ranks_ends_the_job(images):
    r = run(2, ["-m", "engine", "train", "--distributed", "--dataset", images / "missing", *TRAIN], timeout=120)
    assert r.returncode == 2
    assert "numbacnn: error: " in r.stderr and "missing: not a known dataset" in r.stderr


def test_without_mpi4py_distributed_says_what_to_install(images, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    rc = main(["train", "--distributed", "--dataset", str(images / "imgs"), *TRAIN])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and "pip install 'numbacnn[mpi]'" in err

