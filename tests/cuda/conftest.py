"""tests/cuda: what only the CUDA set has or does: the contract with the CPU set, device
memory and transfers, the GEMM's tiles, PTX, the benchmark, whole models on "cuda"
against the CPU, the dropout mask the CPU draws. (Each kernel of both sets against the
numpy reference: tests/kernels, over the ``ops`` fixture of tests/conftest.py.)

By default they run under Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1, set here
unless the environment already says otherwise) on tiny shapes. On a machine with an
NVIDIA GPU, ``NUMBA_ENABLE_CUDASIM=0 pytest tests/cuda tests/kernels -k cuda`` runs the
same tests on the GPU with larger shapes, plus parity with torch's CUDA convolution when
torch has CUDA (benchmarks/gpu_check.sh does that).

numba reads NUMBA_ENABLE_CUDASIM when numba is imported, and numba.cuda picks the
simulator or the driver when it is first imported, so this file sets the variable,
reloads numba's config, and checks that numba.cuda (if some earlier test already
imported it) is in the mode asked for.
"""
import os
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
WANT_SIM = os.environ["NUMBA_ENABLE_CUDASIM"] not in ("0", "")

import numba  # noqa: E402

numba.core.config.reload_config()

_MODE_PROBLEM = None
if "numba.cuda" in sys.modules:
    from numba import cuda as _cuda  # noqa: E402
    if ("simulator" in getattr(_cuda.device_array, "__module__", "")) != WANT_SIM:
        _MODE_PROBLEM = ("numba.cuda was imported before tests/cuda/conftest.py could select the "
                         f"{'simulator' if WANT_SIM else 'GPU'}; set NUMBA_ENABLE_CUDASIM before running "
                         "pytest (tests/conftest.py should set it), or run tests/cuda on its own")

from engine.kernels import cpu as CPU  # noqa: E402
from engine.kernels import cuda as GPU  # noqa: E402

SIM = bool(GPU.SIM)
REAL_GPU = not SIM and GPU.available()

if WANT_SIM and not SIM and _MODE_PROBLEM is None:
    _MODE_PROBLEM = "the CUDA simulator was requested but numba.cuda is not running it"

if SIM:
    # The simulator's block manager busy-polls its Python threads while holding the GIL;
    # polling with a tiny sleep instead makes barrier-heavy kernels (the GEMM, the
    # reductions) 3-4x faster on small CPUs. Semantics are unchanged.
    try:
        from helpers import simulator_speedup
        simulator_speedup.install()
    except Exception:  # pragma: no cover - a numba-cuda whose internals moved: run slower
        pass


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here not in Path(str(item.fspath)).parents:
            continue
        if _MODE_PROBLEM:
            item.add_marker(pytest.mark.skip(reason=_MODE_PROBLEM))
        elif not SIM and not REAL_GPU:
            item.add_marker(pytest.mark.skip(reason=f"no GPU: {GPU.unusable_reason()}"))


@pytest.fixture
def rng():
    return np.random.default_rng(20240607)


@pytest.fixture(scope="session")
def gpu():
    """The CUDA kernel set (after require())."""
    GPU.require()
    return GPU


@pytest.fixture(scope="session")
def cpu():
    return CPU
