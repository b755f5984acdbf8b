"""Which GPU a rank uses: GPU (local rank mod GPU count), as one process per GPU is the
usual layout (``mpirun -n 4`` on a node of 4 GPUs gives each rank its own; more ranks
than GPUs share them round-robin)."""
from __future__ import annotations

from .comm import Communicator


def select_gpu(comm: Communicator) -> int:
    """Makes GPU ``comm.local_rank % count`` this process's CUDA device and returns its
    index; call it before any CUDA work (the simulator has one device, so every rank gets
    device 0). RuntimeError when there is no GPU."""
    try:
        from numba import cuda   # numba-cuda is optional: only CUDA ranks load it
    except ImportError as e:
        raise RuntimeError(f"--device cuda needs numba-cuda ({e}); install the 'cuda' extra") from None
    count = len(cuda.gpus)
    if count == 0:
        raise RuntimeError(f"rank {comm.rank} found no GPU to use")
    index = comm.local_rank % count
    cuda.select_device(index)
    return index
