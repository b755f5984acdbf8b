"""Conv2d, as torch.nn.Conv2d: weight (out_channels, in_channels, kh, kw), bias (out_channels,).

Output size per axis: (N + 2*padding - F) // stride + 1.
"""
from __future__ import annotations

import numpy as np

from .. import init
from ..fusion import NO_GRAPH
from ..module import Module, Parameter, ShapeError
from ._args import pair, positive_int, short


class Conv2d(Module):
    """x (N, C_in, H, W) -> y (N, C_out, Ho, Wo)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        name = "Conv2d"
        self.in_channels = positive_int("in_channels", in_channels, name)
        self.out_channels = positive_int("out_channels", out_channels, name)
        self.kernel_size = pair("kernel_size", kernel_size, name)
        self.stride = pair("stride", stride, name)
        self.padding = pair("padding", padding, name, minimum=0)
        self.weight = Parameter(np.empty((out_channels, in_channels) + self.kernel_size, np.float32))
        self.bias = Parameter(np.empty(out_channels, np.float32)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        init.kaiming_uniform_(self.weight.data, fan_in)
        if self.bias is not None:
            init.uniform_(self.bias.data, 1.0 / np.sqrt(fan_in))

    def config(self):
        return dict(in_channels=self.in_channels, out_channels=self.out_channels,
                    kernel_size=short(self.kernel_size), stride=short(self.stride),
                    padding=short(self.padding), bias=self.bias is not None)

    def output_shape(self, shape):
        if len(shape) != 3 or shape[0] != self.in_channels:
            raise ShapeError(f"Conv2d got input of shape {tuple(shape)}; it needs "
                             f"({self.in_channels}, H, W)")
        out = [(s + 2 * p - k) // st + 1 for s, k, st, p in
               zip(shape[1:], self.kernel_size, self.stride, self.padding)]
        if min(out) < 1:
            raise ShapeError(f"Conv2d with kernel {self.kernel_size} and padding {self.padding} "
                             f"does not fit an input of {shape[1]}x{shape[2]}")
        return (self.out_channels, out[0], out[1])

    def macs(self, shape):
        c, h, w = self.output_shape(shape)
        return c * h * w * self.in_channels * self.kernel_size[0] * self.kernel_size[1]

    def forward(self, x):
        self.output_shape(x.shape[1:])
        self._x = x
        b = self.bias.data if self.bias is not None else None
        return self.ops.conv2d_forward(x, self.weight.data, b, self.stride, self.padding)

    def backward(self, grad_y):
        if self._x is None:
            raise RuntimeError(NO_GRAPH)
        ops = self.ops
        dx, dw, db = ops.conv2d_backward(self._x, self.weight.data, grad_y, self.stride, self.padding,
                                         need_input_grad=self.needs_input_grad)
        ops.add_(self.weight.grad, dw)
        if self.bias is not None:
            ops.add_(self.bias.grad, db)
        return dx
