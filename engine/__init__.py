"""numbacnn's engine: layers, kernels (Numba CPU / numba.cuda), optimizers, data, models, trainer."""
from . import models, nn, optim
from .nn import summary
from .nn.init import manual_seed

__version__ = "0.1.0"


def cuda_available() -> bool:
    """True when numba.cuda finds a usable GPU and driver (False under no GPU, never raises)."""
    try:
        from numba import cuda
        return bool(cuda.is_available())
    except Exception:
        return False
