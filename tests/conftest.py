"""Shared test settings: where the real data lives, and a headless Qt."""
import os
from pathlib import Path

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")  # CUDA kernels run under Numba's simulator unless told otherwise
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from helpers import simulator_speedup  # noqa: E402

SHARED_DATA = Path(os.environ.get("NUMBACNN_SHARED_DATA",
                                  Path(__file__).resolve().parents[1].parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real MNIST IDX files and the CIFAR-10 JPEG archive); skips if absent."""
    if not (SHARED_DATA / "mnist").is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


NO_GPU = "CUDA was requested but no usable NVIDIA driver was found (libcuda.so)."


@pytest.fixture
def no_gpu(monkeypatch):
    """Makes the "cuda" kernel set unavailable (as on a machine without a driver) and
    returns the message the engine raises then; the CPU set stays as it is."""
    from engine import kernels
    real = kernels.ops

    def ops(device):
        if device == "cuda":
            raise RuntimeError(NO_GPU)
        return real(device)
    monkeypatch.setattr(kernels, "ops", ops)
    return NO_GPU


@pytest.fixture(params=["cpu", "cuda"])
def ops(request):
    """Each kernel set in turn, so one kernel test runs on every device (as Caffe's typed
    tests do): the CPU set, then the CUDA set (under Numba's simulator unless
    NUMBA_ENABLE_CUDASIM=0 and a GPU is at hand; skipped where it cannot run)."""
    from engine import kernels
    from engine.kernels import cuda
    if request.param == "cuda" and not cuda.available():
        pytest.skip(f"CUDA kernels cannot run here: {cuda.unusable_reason()}")
    if request.param == "cuda" and cuda.SIM:
        simulator_speedup.install()      # idempotent; tests/cuda/conftest.py installs it too
    return kernels.ops(request.param)



@pytest.fixture
def gui_collector(qapp):
    """Python's cycle collector on the GUI thread's timer for the test (as the studio runs
    it: gui.collector), given back to CPython afterwards, once the test's windows are closed."""
    from gui import collector
    collector.start()
    yield
    collector.stop()
