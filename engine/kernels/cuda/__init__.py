"""The CUDA kernel set: ``numba.cuda`` kernels over device arrays, the twin of
:mod:`engine.kernels.cpu` (same function names, arguments and return structure).

Importing this package never needs a GPU: kernels compile lazily at their first launch.
``require()`` (called by ``engine.kernels.ops("cuda")``) checks that a GPU is usable and
raises one clear RuntimeError naming what is missing otherwise. Under Numba's CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1``) everything runs, slowly, on the CPU.

Everything stays on the device: parameters, gradients, optimizer state, activations and
caches. What comes back to the host: the loss scalar (``cross_entropy_forward``,
``mse_forward``), the row argmax (``argmax_rows``, N integers for accuracy), and whatever
``to_host`` is asked for.

Every entry point checks its arguments first, with the CPU set's rules
(:mod:`engine.kernels.contracts`): the same ShapeError for the same mistake, the same
empty results for a batch of 0. Arrays a kernel only reads may also be numpy arrays
(uploaded); arrays written in place must be C-contiguous device arrays. Index values:
the cross-entropy forward flags targets outside [0, K) in the copy that brings the loss
back and raises, as the CPU set does; the cross-entropy backward (which only compares
targets with class numbers) and max-pool backward (which skips winners outside their
plane) never touch memory outside their arrays, but do not raise for bad values, which
would cost a device-to-host copy and a synchronisation per call.
"""
from __future__ import annotations

import importlib.util

from ..cpu import __all__ as _NAMES  # the two sets expose one list of names

DEVICE = "cuda"

_IMPORT_ERROR: BaseException | None = None

__all__ = list(_NAMES)

try:
    from .activation import (leaky_relu_backward, leaky_relu_forward, relu_backward, relu_forward,
                             sigmoid_backward, sigmoid_forward, tanh_backward, tanh_forward)
    from .batchnorm import batchnorm_backward, batchnorm_fold, batchnorm_forward_eval, batchnorm_forward_train
    from .conv import (conv2d_act_avgpool2x2, conv2d_backward, conv2d_forward, conv2d_relu_maxpool2x2,
                       conv_output_size)
    from .dropout import dropout_backward, dropout_forward
    from .linear import linear_backward, linear_forward
    from .loss import cross_entropy_backward, cross_entropy_forward, mse_backward, mse_forward
    from .lrn import lrn_backward, lrn_forward
    from .memory import release
    from .optim import adam_step, sgd_step
    from .pool import (act_avgpool2x2_backward, adaptive_avgpool2d_backward, adaptive_avgpool2d_forward,
                       avgpool2d_backward, avgpool2d_forward, maxpool2d_backward, maxpool2d_forward)
    from .runtime import SIM, synchronize
    from .tensor import (add, add_, argmax_rows, asarray, concat_channels, copy_into, fill,
                         split_channels, to_host, zeros, zeros_like)
except Exception as _e:  # numba-cuda missing or broken: keep the names, fail in require()
    _IMPORT_ERROR = _e
    SIM = False

    def _unavailable(*args, **kwargs):
        require()
        raise RuntimeError("CUDA kernels are unavailable")  # pragma: no cover

    for _name in _NAMES:
        globals()[_name] = _unavailable


def unusable_reason() -> str | None:
    """None when CUDA kernels can run here; otherwise what is missing, in words."""
    if importlib.util.find_spec("numba_cuda") is None:
        return ("numba-cuda is not installed (install the 'cuda' extra: "
                "pip install 'numbacnn[cuda]', or pip install numba-cuda)")
    if _IMPORT_ERROR is not None:
        return f"numba.cuda could not be loaded ({type(_IMPORT_ERROR).__name__}: {_IMPORT_ERROR})"
    if SIM:
        return None
    try:
        from numba.cuda.cudadrv import driver as drv
        if not drv.driver.is_available:
            err = str(drv.driver.initialization_error or "unknown error").strip()
            first = next((ln.strip() for ln in err.splitlines() if ln.strip()), err).rstrip(".:")
            return f"no usable NVIDIA driver was found ({first})"
        from numba import cuda
        if len(cuda.gpus) == 0:
            return "the NVIDIA driver reports no GPU"
        from numba.cuda.cudadrv import nvvm
        if not nvvm.is_available():
            return ("the CUDA compiler library libNVVM was not found (install the CUDA toolkit "
                    "or the nvidia-cuda-nvcc wheel, or set CUDA_HOME)")
    except Exception as e:  # the driver itself failed
        msg = str(e).strip().splitlines()
        return f"the CUDA driver failed to initialise ({msg[0] if msg else type(e).__name__})"
    return None


def available() -> bool:
    """True when a usable GPU and driver are present (or the simulator is on); never raises."""
    try:
        return unusable_reason() is None
    except Exception:
        return False


_checked = False


def require() -> None:
    """Raises RuntimeError("CUDA was requested but ...") unless CUDA kernels can run;
    the first time it succeeds it installs the caching device allocator."""
    global _checked
    if _checked:
        return
    reason = unusable_reason()
    if reason is not None:
        raise RuntimeError(f"CUDA was requested but {reason}.")
    from .memory import install_allocator
    install_allocator()
    _checked = True


def device_name() -> str:
    """The GPU's name ("CUDA simulator" under the simulator)."""
    if SIM:
        return "CUDA simulator"
    try:
        from numba import cuda
        name = cuda.get_current_device().name
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception:
        return "unknown GPU"
