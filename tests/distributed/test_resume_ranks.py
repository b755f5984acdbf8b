"""A run stopped in the middle of an epoch resumes on another number of ranks, as MPI jobs
(``mpirun -n R --oversubscribe`` of workers/resume_ranks.py): 2 ranks stopped at batch 5
of epoch 2 continue in one process and on 4 ranks, one process continues on 2 ranks.
Across the two jobs every sample of that epoch is trained exactly once (the ids each rank
read), and the learning rate continues its OneCycle curve at the same epoch fraction,
ending where the new job's plan ends."""
import json
from collections import Counter

import numpy as np
import pytest

from engine import nn, optim
from engine.train import load_checkpoint

from mpi_launch import run

pytest.importorskip("mpi4py")

N, B, EPOCHS, STOP_BATCH, LR = 48, 2, 2, 5, 0.05      # as in workers/resume_ranks.py


def job(folder, name, ranks, mode="distributed", source=None) -> list:
    """Runs the worker on ``ranks`` ranks; what each rank that trained wrote, by rank."""
    r = run(ranks, ["resume_ranks.py", folder, name, mode, *([source] if source else [])], timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    files = sorted((folder / name).glob("rank*.json"))
    assert len(files) == (ranks if mode == "distributed" else 1)
    return [json.loads(f.read_text()) for f in files]


def lr_plan(steps_per_epoch):
    sgd = optim.SGD([nn.Parameter(np.zeros(1, np.float32))], lr=LR, momentum=0.9)
    return optim.OneCycleLR(sgd, max_lr=LR, total_steps=EPOCHS * steps_per_epoch).lr_at


def check(folder, before, ranks_before, after):
    epoch_2 = Counter(i for rank in before + after for b in rank["batches"] if b["epoch"] == 1 for i in b["ids"])
    assert epoch_2 == Counter(range(N))                              # every sample exactly once
    samples = STOP_BATCH * B * ranks_before
    assert load_checkpoint(folder / "last.npz").meta["trainer"]["samples_in_epoch"] == samples
    old, spe = before[0]["steps_per_epoch"], after[0]["steps_per_epoch"]
    np.testing.assert_allclose(before[0]["lrs"], [lr_plan(old)(t)[0] for t in range(old + STOP_BATCH)], rtol=1e-12)
    lrs = after[0]["lrs"]
    skipped = spe - len(lrs)                         # the new job's batches of epoch 2 that stand for the old job's
    assert abs(skipped / spe - samples / N) < 1 / spe                 # the same epoch fraction, to a batch
    np.testing.assert_allclose(lrs, [lr_plan(spe)(spe + skipped + i)[0] for i in range(len(lrs))], rtol=1e-12)


@pytest.fixture(scope="module")
def two_ranks_stopped(tmp_path_factory):
    folder = tmp_path_factory.mktemp("resume_ranks")
    return folder, job(folder, "two", 2)


def test_two_ranks_stopped_mid_epoch_continue_in_one_process(two_ranks_stopped):
    folder, before = two_ranks_stopped
    check(folder / "two", before, 2, job(folder, "two-on-one", 1, mode="plain", source="two"))


def test_two_ranks_stopped_mid_epoch_continue_on_four(two_ranks_stopped):
    folder, before = two_ranks_stopped
    check(folder / "two", before, 2, job(folder, "two-on-four", 4, source="two"))


def test_one_process_stopped_mid_epoch_continues_on_two_ranks(tmp_path):
    before = job(tmp_path, "one", 1, mode="plain")
    check(tmp_path / "one", before, 1, job(tmp_path, "one-on-two", 2, source="one"))
