"""numbacnn's engine: tensors and autograd, layers, kernels (Numba CPU / numba.cuda),
optimizers, data, models, trainer.

The top level is shaped like ``torch``, so ``import engine as torch`` serves course code:
``engine.tensor``, ``engine.zeros``, ``engine.randn``, ``engine.no_grad``,
``engine.manual_seed``, ``engine.device``, ``engine.cuda.is_available()``,
``engine.save``/``engine.load``, ``engine.nn``, ``engine.optim``, ``engine.utils.data``.
"""
from . import autograd, cuda, models, nn, optim, utils
from .autograd import (Function, Tensor, device, enable_grad, inference_mode, is_grad_enabled, no_grad,
                       set_grad_enabled)
from .autograd.creation import (abs, allclose, arange, argmax, argmin, as_tensor, cat, clamp, concat, concatenate,
                                empty, eq, equal, exp, eye, flatten, from_numpy, full, is_tensor, linspace, log,
                                log_softmax, matmul, max, mean, min, mm, norm, numel, ones, ones_like, permute, pow,
                                rand, rand_like, randint, randn, randn_like, randperm, relu, reshape, sigmoid, sign,
                                softmax, sqrt, squeeze, stack, sum, tanh, tensor, topk, transpose, unsqueeze, where,
                                zeros, zeros_like)
from .autograd.dtypes import bool, double, float, float32, float64, int, int32, int64, long, uint8
from .autograd.random import manual_seed
from .kernels.cpu import parallel as _parallel
from .nn import summary
from ._version import __version__
from .serialization import load, save

Size = tuple


def cuda_available() -> "bool":
    """True when numba-cuda finds a usable GPU (or its simulator); see ``engine.cuda``."""
    return cuda.is_available()


def cuda_unavailable_reason() -> "str | None":
    """None when CUDA can be used, else what is missing (no numba-cuda, no driver, no GPU...)."""
    return cuda.unavailable_reason()


def set_num_threads(n: "int") -> None:
    """Threads the CPU kernels use (as torch.set_num_threads)."""
    _parallel.set_num_threads(n)


def get_num_threads() -> "int":
    return _parallel.get_num_threads()
