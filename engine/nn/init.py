"""Parameter initialisation, as torch.nn.init (same names and arguments), drawn from the
one seedable generator (:func:`manual_seed`). Each function fills a tensor (or a numpy
array) in place, outside the graph, and returns it."""
from __future__ import annotations

import math

import numpy as np

from ..autograd import Tensor
from ..autograd.random import generator, manual_seed

__all__ = ["manual_seed", "generator", "calculate_gain", "uniform_", "normal_", "constant_", "zeros_",
           "ones_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_"]


def _fill(t, values):
    """Writes ``values`` into tensor or array ``t`` (on its device) and returns t."""
    if isinstance(t, Tensor):
        t.data.copy_(np.asarray(values, dtype=t.dtype))
    else:
        t[...] = values
    return t


def _fans(t) -> tuple[int, int]:
    shape = tuple(t.shape)
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a tensor of at least 2 dimensions, got shape {shape}")
    field = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * field, shape[0] * field


def calculate_gain(nonlinearity: str, param=None) -> float:
    """torch's recommended gains: 1 (linear, conv, sigmoid), 5/3 (tanh), sqrt(2) (relu),
    sqrt(2 / (1 + slope^2)) (leaky_relu, slope 0.01 by default), 3/4 (selu)."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "sigmoid", "conv_transpose2d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def uniform_(t, a: float = 0.0, b: float = 1.0):
    return _fill(t, generator().uniform(a, b, tuple(t.shape)))


def normal_(t, mean: float = 0.0, std: float = 1.0):
    return _fill(t, generator().normal(mean, std, tuple(t.shape)))


def constant_(t, val: float):
    return _fill(t, np.full(tuple(t.shape), val))


def zeros_(t):
    return constant_(t, 0.0)


def ones_(t):
    return constant_(t, 1.0)


def xavier_uniform_(t, gain: float = 1.0):
    fan_in, fan_out = _fans(t)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound)


def xavier_normal_(t, gain: float = 1.0):
    fan_in, fan_out = _fans(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(t, a, mode, nonlinearity) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(t)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan_in if mode == "fan_in" else fan_out)


def kaiming_uniform_(t, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"):
    """U(-bound, bound), bound = gain * sqrt(3 / fan); torch's default for Conv2d/Linear
    weights is a = sqrt(5), i.e. bound = 1 / sqrt(fan_in)."""
    bound = math.sqrt(3.0) * _kaiming_std(t, a, mode, nonlinearity)
    return uniform_(t, -bound, bound)


def kaiming_normal_(t, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"):
    return normal_(t, 0.0, _kaiming_std(t, a, mode, nonlinearity))
