"""numbacnn's engine: layers, kernels (Numba CPU / numba.cuda), optimizers, data, models, trainer."""
from . import models, nn, optim
from .nn import summary
from .nn.init import manual_seed

__version__ = "0.1.0"


def cuda_available() -> bool:
    """True when numba-cuda finds a usable GPU, driver and compiler (or runs its simulator,
    NUMBA_ENABLE_CUDASIM=1); False otherwise, never raises. ``cuda_unavailable_reason()``
    says what is missing."""
    try:
        from .kernels import cuda
        return cuda.available()
    except Exception:
        return False


def cuda_unavailable_reason() -> str | None:
    """None when CUDA can be used, else what is missing (no numba-cuda, no driver, no GPU...)."""
    try:
        from .kernels import cuda
        return cuda.unusable_reason()
    except Exception as e:  # pragma: no cover
        return f"numba.cuda could not be loaded ({e})"
