"""The mpi4py wrapper's boundary, in one process without starting MPI: the one-line
install hint, the buffer checks, the backend name."""
import sys

import numpy as np
import pytest

import engine.distributed as dist
from engine.distributed import comm


def test_without_mpi4py_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setattr(comm, "_WORLD", None)
    with pytest.raises(dist.MPIUnavailable) as e:
        dist.world()
    text = str(e.value)
    assert "\n" not in text and "pip install 'numbacnn[mpi]'" in text and "mpirun -n N" in text
    assert not dist.is_available()
    with pytest.raises(dist.MPIUnavailable):
        dist.init_process_group()


def test_collectives_take_writable_contiguous_numeric_buffers():
    with pytest.raises(TypeError, match="allreduce_: the buffer must be a writable C-contiguous numpy array"):
        comm._buffer("allreduce_", np.zeros((4, 4), np.float32).T)
    with pytest.raises(TypeError, match="must be float32, float64, int64 or uint8, got int8"):
        comm._buffer("broadcast_", np.zeros(3, np.int8))
    with pytest.raises(TypeError, match="got list"):
        comm._buffer("broadcast_", [1.0])
    ok = np.zeros(3, np.float64)
    assert comm._buffer("allreduce_", ok) is ok


def test_only_the_mpi_backend_exists():
    with pytest.raises(ValueError, match="backend must be 'mpi', got 'nccl'"):
        dist.init_process_group("nccl")
