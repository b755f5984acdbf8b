"""Launch geometry and argument helpers shared by every CUDA kernel file.

Kernels are ``@cuda.jit`` functions compiled lazily at their first launch, one
specialisation per argument types. Host wrappers pass them flat C-contiguous device
arrays and scalars of the arrays' dtype (``scalar(x, v)``): a Python float would type
the argument float64 and pull the whole kernel into double precision.

Element-wise kernels use grid-stride loops over a capped grid (``grid1d``). Under the
CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), where every GPU thread is a Python thread,
the caps are tiny so a launch costs a few dozen threads whatever the array size.
"""
from __future__ import annotations

import numpy as np
from numba import cuda
from numba.core import config

from ..checks import Arrays

# numba.cuda chose the simulator or the driver when it was first imported
SIM = "simulator" in getattr(cuda.device_array, "__module__", "")

# Numba warns on grids smaller than the GPU; small layers legitimately launch them.
try:
    config.CUDA_LOW_OCCUPANCY_WARNINGS = 0
except Exception:  # pragma: no cover - older numba
    pass

THREADS = 16 if SIM else 256          # threads per block, element-wise kernels
MAX_BLOCKS = 2 if SIM else 8192       # grid cap for grid-stride loops
MAX_GRID_Y = 2 if SIM else 65535      # cap of the second grid dimension (im2col rows)
RED_THREADS = 8 if SIM else 256       # threads per block of the tree reductions (power of two)

# Alignment of the GEMM's shared tiles: 16 bytes, so the compiler may use vector shared
# loads where it can prove them aligned (the simulator takes no alignment).
SHARED_ALIGN = None if SIM else 16


def grid1d(n: int) -> tuple[int, int]:
    """(blocks, threads) for a grid-stride loop over n items."""
    return max(1, min((int(n) + THREADS - 1) // THREADS, MAX_BLOCKS)), THREADS


def is_device_array(a) -> bool:
    """True for a numba.cuda device array (or the simulator's stand-in)."""
    return not isinstance(a, np.ndarray) and hasattr(a, "copy_to_host")


_DEVICE_ARRAY = getattr(cuda.cudadrv.devicearray, "DeviceNDArrayBase", None) or \
    cuda.cudadrv.devicearray.FakeCUDAArray  # the simulator's stand-in


def _owns(a) -> bool:
    return isinstance(a, _DEVICE_ARRAY) and a.is_c_contiguous()


DEVICE = Arrays("CUDA device array", (_DEVICE_ARRAY, np.ndarray), _owns)
"""The CUDA kernel set's arrays: device arrays; a numpy array passed where a kernel only
reads is uploaded (``memory.flat``); arrays written in place must be C-contiguous device arrays."""


def scalar(a, v):
    """v as a scalar of a's dtype (float32 for float32 arrays)."""
    return a.dtype.type(v)


def sm_count() -> int:
    """Streaming multiprocessors of the current GPU (1 under the simulator)."""
    global _SM
    if _SM is None:
        if SIM:
            _SM = 1
        else:
            try:
                _SM = int(cuda.get_current_device().MULTIPROCESSOR_COUNT)
            except Exception:  # pragma: no cover
                _SM = 80
    return _SM


_SM = None


def synchronize() -> None:
    """Waits for every launched kernel (timing, benchmarks)."""
    if not SIM:
        cuda.synchronize()


def inline_device(fn):
    """``@cuda.jit(device=True)``, always inlined on a GPU (NVVM alwaysinline), so local
    arrays passed in stay in registers. The simulator takes no inlining options."""
    if SIM:
        return cuda.jit(device=True)(fn)
    return cuda.jit(device=True, forceinline=True)(fn)



class _SimMath:
    """``math`` for kernels under the simulator: numpy functions, so a float32 (float64)
    argument gives a float32 (float64) result as in compiled CUDA code. (Python's math
    returns Python floats, which NumPy 2 treats as weakly typed: float32(1) / math.sqrt(x)
    would silently drop a float64 kernel to float32 in the simulator only.)"""
    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    sqrt = staticmethod(np.sqrt)
    tanh = staticmethod(np.tanh)
    pow = staticmethod(np.power)


if SIM:
    kmath = _SimMath()
else:
    import math as kmath  # noqa: E402,F401  (the kernels' math functions, as the simulator's stand-in)
