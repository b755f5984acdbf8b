"""The command line's side of a distributed run: ``mpirun -n N numbacnn train ...
--distributed`` (or ``srun``) starts N copies of the same command, one per rank.

Every rank builds the same run and trains its shard (``Trainer(..., distributed=True)``);
rank 0 alone prints and writes the run folder. A rank that fails ends the whole job
with its message and a non-zero status (:func:`end_job`, and the uncaught-exception hook
of :func:`.comm.abort_on_error`), so no rank is left waiting in a collective.
"""
from __future__ import annotations

import os
import sys

from ..train.checkpoint import CheckpointError
from .comm import Communicator, abort_on_error, initialized, world
from .devices import select_gpu


def start(device: str) -> Communicator:
    """The job's communicator for a ``--distributed`` run (MPIUnavailable without MPI):
    a CUDA rank takes its GPU before any CUDA work, an uncaught exception on any rank
    ends the job, and ranks other than 0 print nothing to standard output."""
    comm = world()
    abort_on_error(comm)
    if device == "cuda":
        select_gpu(comm)
    if not comm.is_root:
        sys.stdout = open(os.devnull, "w")
    return comm


def end_job(code: int) -> None:
    """After an error this rank reported (its message printed), in a job of several ranks:
    ends every rank with status ``code`` (MPI_Abort), so none waits for this one."""
    if initialized() and world().size > 1:
        world().abort(code)


def check_resume(ckpt, ranks: int) -> None:
    """CheckpointError unless checkpoint ``ckpt`` (of a run of ``metadata.ranks`` ranks,
    1 if unrecorded) can continue on ``ranks`` ranks. The weights, optimizer and history
    are the job's and fit any number; but a state saved mid-epoch is a batch position of
    that many ranks' shards, and a per-step schedule counts that many ranks' steps."""
    saved = int((ckpt.metadata or {}).get("ranks", 1))
    if saved == ranks:
        return
    trainer = ckpt.meta.get("trainer") or {}
    if trainer.get("batch_in_epoch"):
        raise CheckpointError(f"checkpoint {ckpt.path} was saved in the middle of epoch {trainer.get('epoch', 0) + 1} "
                              f"by {saved} rank{'s' if saved != 1 else ''}: resume it on {saved} (mpirun -n {saved}), "
                              f"or from a checkpoint saved at an epoch end")
    if ckpt.meta.get("scheduler_interval") == "step":
        raise CheckpointError(f"checkpoint {ckpt.path} holds a learning-rate schedule planned over the steps of "
                              f"{saved} rank{'s' if saved != 1 else ''} (each rank's steps per epoch depend on "
                              f"how many there are): resume it on {saved} (mpirun -n {saved})")
