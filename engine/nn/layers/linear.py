"""Linear and Flatten, as torch.nn: Linear weight (out_features, in_features), y = x @ W.T + b."""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from .. import init
from ..module import Module, Parameter, ShapeError
from ._args import positive_int


class Linear(Module):
    """x (N, in_features) -> y (N, out_features) (more leading axes are taken as rows)."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features = positive_int("in_features", in_features, "Linear")
        self.out_features = positive_int("out_features", out_features, "Linear")
        self.weight = Parameter(np.empty((out_features, in_features), np.float32))
        self.bias = Parameter(np.empty(out_features, np.float32)) if bias else None
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def config(self):
        return dict(in_features=self.in_features, out_features=self.out_features,
                    bias=self.bias is not None)

    def output_shape(self, shape):
        if tuple(shape) != (self.in_features,):
            hint = " (add a Flatten before it)" if len(shape) > 1 else ""
            raise ShapeError(f"Linear got input of shape {tuple(shape)}; it needs ({self.in_features},)"
                             + hint)
        return (self.out_features,)

    def macs(self, shape):
        return self.in_features * self.out_features

    def forward(self, x):
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            self.output_shape(x.shape[1:])
        return F.linear(x, self.weight, self.bias)


class Flatten(Module):
    """(N, C, H, W) -> (N, C*H*W): axes start_dim..end_dim joined (torch's defaults 1, -1)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def config(self):
        return {} if (self.start_dim, self.end_dim) == (1, -1) else dict(start_dim=self.start_dim,
                                                                         end_dim=self.end_dim)

    def output_shape(self, shape):
        full = (1,) + tuple(shape)
        s, e = self.start_dim % len(full), self.end_dim % len(full)
        return full[1:s] + (int(np.prod(full[s:e + 1])),) + full[e + 1:]

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)
