"""Data-parallel training as MPI jobs: ``mpirun -n R --oversubscribe`` runs the workers in
tests/distributed/workers (see each one's docstring), every job under a timeout.

- 2 ranks of batch B end with the weights of 1 process of batch 2B after 5 SGD steps
  (without batch norm, with both reductions; with SyncBatchNorm), every rank holding
  bit-identical weights after every step; unused parameters, no_sync, SyncBatchNorm's
  gradients against BatchNorm on the concatenated batch, and argument errors;
- the same with 4 ranks on the 2 cores (a tiny model in several buckets);
- a rank that raises, and a rank that is killed, end the job with a non-zero status;
- CUDA ranks (under the simulator) train through host buffers;
- Trainer(..., distributed=True) (workers/trainer_ranks.py).
"""
import time

import pytest

from mpi_launch import run

pytest.importorskip("mpi4py")


def _ok(result, configs):
    assert result.returncode == 0, result.stderr[-4000:]
    assert [line.split()[1] for line in result.stdout.splitlines() if line.startswith("ok ")] == configs


def test_two_ranks_match_one_process_of_twice_the_batch():
    configs = ["plain-overlap", "plain-end", "syncbn", "unused", "syncbn-grad", "errors"]
    _ok(run(2, ["ddp_checks.py", ",".join(configs)], timeout=300), configs)


def test_four_ranks_on_two_cores():
    configs = ["tiny", "syncbn"]
    _ok(run(4, ["ddp_checks.py", ",".join(configs)], timeout=300), configs)


def test_a_rank_that_raises_ends_the_job_with_its_message():
    start = time.monotonic()
    r = run(2, ["fail.py", "raise"], timeout=120)
    assert r.returncode != 0
    assert "ValueError: rank 1 broke on purpose at step 3" in r.stderr
    assert "rank 1 of 2 failed" in r.stderr
    assert time.monotonic() - start < 120


def test_a_killed_rank_ends_the_job():
    r = run(2, ["fail.py", "kill"], timeout=120)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr           # no rank raised: the launcher ended the job for the kill


def test_cuda_ranks_train_through_host_buffers_under_the_simulator():
    r = run(2, ["cuda_ranks.py"], timeout=300, env={"NUMBA_ENABLE_CUDASIM": "1"})
    assert r.returncode == 0, r.stderr[-4000:]
    assert "ok cuda" in r.stdout


def test_trainer_on_two_ranks(tmp_path):
    """Trainer(..., distributed=True): the weights and history of one process of twice the
    batch, rank 0 alone reporting, resumes across rank counts, batch-norm buffers, stop."""
    r = run(2, ["trainer_ranks.py", tmp_path], timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    assert [line.split()[1] for line in r.stdout.splitlines() if line.startswith("ok ")] == [
        "fit", "resume", "buffers", "stop"]
