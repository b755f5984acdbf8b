"""Data-parallel training over MPI (mpi4py), shaped like ``torch.distributed``.

    # mpirun -n 2 python train.py   (or srun; as root, Open MPI needs --allow-run-as-root)
    import engine.distributed as dist
    dist.init_process_group()                                   # MPI's world
    model = dist.DistributedDataParallel(model)                 # rank 0's weights everywhere
    sampler = dist.DistributedSampler(train, seed=0)            # each rank its shard
    loader = DataLoader(train, batch_size=64, sampler=sampler)

- :mod:`.comm`: the mpi4py wrapper (:class:`Communicator`; one-line install hint without it),
- :mod:`.sampler`: :class:`DistributedSampler`,
- :mod:`.epoch_position`: where a run stands in an epoch, in samples (a checkpoint resumes
  on any number of ranks),
- :mod:`.ddp`: :class:`DistributedDataParallel` and its gradient :class:`Reducer`
  (buckets averaged by Iallreduce while backward runs),
- :mod:`.sync_batchnorm`: :class:`SyncBatchNorm` (statistics over all ranks),
- :mod:`.devices`: :func:`select_gpu` (GPU local rank mod GPU count),
- :mod:`.training`: what ``Trainer(..., distributed=True)`` adds to a run,
- :mod:`.launch`: the command line's side (``numbacnn train --distributed``).
"""
from .comm import Communicator, MPIUnavailable, abort_on_error, initialized, is_available, world
from .ddp import DistributedDataParallel, Reducer, broadcast_module
from .devices import select_gpu
from .sampler import DistributedSampler
from .sync_batchnorm import SyncBatchNorm

__all__ = ["Communicator", "MPIUnavailable", "DistributedDataParallel", "DistributedSampler", "Reducer",
           "SyncBatchNorm", "broadcast_module", "get_rank", "get_world_size", "init_process_group",
           "is_available", "is_initialized", "select_gpu", "world"]


def init_process_group(backend: str = "mpi") -> Communicator:
    """MPI's world (the processes mpirun or srun started; one without them), set up so
    that an exception nothing catches on any rank ends the whole job instead of leaving
    the others waiting (:func:`.comm.abort_on_error`). Only the "mpi" backend exists."""
    if backend != "mpi":
        raise ValueError(f"init_process_group: numbacnn runs on MPI only; backend must be 'mpi', got {backend!r}")
    comm = world()
    abort_on_error(comm)
    return comm


def is_initialized() -> bool:
    return initialized()


def get_rank() -> int:
    return world().rank


def get_world_size() -> int:
    return world().size
