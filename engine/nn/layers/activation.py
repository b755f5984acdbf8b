"""Element-wise activations and softmaxes, as torch.nn: ReLU, LeakyReLU, Sigmoid, Tanh,
Softmax, LogSoftmax. Any shape in, same out."""
from __future__ import annotations

from .. import functional as F
from ..module import Module


class ReLU(Module):
    """y = max(x, 0). ``inplace`` is accepted (the output is a new tensor either way)."""

    def __init__(self, inplace: bool = False):
        super().__init__()

    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    """y = x for x > 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope=0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def config(self):
        return dict(negative_slope=self.negative_slope)

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)


class Sigmoid(Module):
    """y = 1 / (1 + exp(-x))."""

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    """y = tanh(x)."""

    def forward(self, x):
        return F.tanh(x)


class _AlongDim(Module):
    """An activation along one axis ``dim`` (None: torch's legacy choice)."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def config(self):
        return dict(dim=self.dim)


class Softmax(_AlongDim):
    """y = exp(x) / sum(exp(x)) along ``dim``."""

    def forward(self, x):
        return F.softmax(x, self.dim)


class LogSoftmax(_AlongDim):
    """y = log(softmax(x)) along ``dim``, computed stably."""

    def forward(self, x):
        return F.log_softmax(x, self.dim)
