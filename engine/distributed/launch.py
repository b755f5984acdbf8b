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

