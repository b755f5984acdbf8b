"""Linear and Flatten, as torch.nn: Linear weight (out_features, in_features), y = x @ W.T + b."""
from __future__ import annotations

import math

import numpy as np

from .. import init
from ..module import Module, Parameter, ShapeError
from ._args import positive_int


class Linear(Module):
    """x (N, in_features) -> y (N, out_features)."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features = positive_int("in_features", in_features, "Linear")
        self.out_features = positive_int("out_features", out_features, "Linear")
        self.weight = Parameter(np.empty((out_features, in_features), np.float32))
        self.bias = Parameter(np.empty(out_features, np.float32)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight.data, self.in_features)
        if self.bias is not None:
            init.uniform_(self.bias.data, 1.0 / math.sqrt(self.in_features))

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
        self.output_shape(x.shape[1:])
        self._x = x
        return self.ops.linear_forward(x, self.weight.data, self.bias.data if self.bias is not None else None)

    def backward(self, grad_y):
        ops = self.ops
        dx, dw, db = ops.linear_backward(self._x, self.weight.data, grad_y,
                                         need_input_grad=self.needs_input_grad)
        ops.add_(self.weight.grad, dw)
        if self.bias is not None:
            ops.add_(self.bias.grad, db)
        return dx


class Flatten(Module):
    """(N, C, H, W) -> (N, C*H*W)."""

    def output_shape(self, shape):
        return (int(np.prod(shape)),)

    def forward(self, x):
        self._x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_y):
        return grad_y.reshape(self._x_shape)
