"""Conv2d, as torch.nn.Conv2d: weight (out_channels, in_channels, kh, kw), bias (out_channels,).

Output size per axis: (N + 2*padding - F) // stride + 1.
"""
from __future__ import annotations

import numpy as np

from ... import kernels
from .. import functional as F
from .. import init
from ..module import Module, Parameter, ShapeError
from ._args import pair, positive_int, short, torch_default


class Conv2d(Module):
    """x (N, C_in, H, W) -> y (N, C_out, Ho, Wo). A ReLU (and a MaxPool2d(2)) after it, and
    without a graph a BatchNorm2d in eval mode, fuse into it (see nn.functional)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        name = "Conv2d"
        torch_default(name, "dilation", dilation, (1, 1), pair)
        torch_default(name, "groups", groups, 1)
        torch_default(name, "padding_mode", padding_mode, "zeros")
        self.in_channels = positive_int("in_channels", in_channels, name)
        self.out_channels = positive_int("out_channels", out_channels, name)
        self.kernel_size = pair("kernel_size", kernel_size, name)
        self.stride = pair("stride", stride, name)
        if padding == "same":
            if self.stride != (1, 1) or any(k % 2 == 0 for k in self.kernel_size):
                raise ValueError("Conv2d: padding='same' needs stride 1 and odd kernel sizes; give numbers")
            padding = (self.kernel_size[0] // 2, self.kernel_size[1] // 2)
        self.padding = pair("padding", 0 if padding == "valid" else padding, name, minimum=0)
        self.weight = Parameter(np.empty((out_channels, in_channels) + self.kernel_size, np.float32))
        self.bias = Parameter(np.empty(out_channels, np.float32)) if bias else None
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_parameters(self):
        fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        init.kaiming_uniform_(self.weight, a=np.sqrt(5))
        if self.bias is not None:
            init.uniform_(self.bias, -1.0 / np.sqrt(fan_in), 1.0 / np.sqrt(fan_in))

    def config(self):
        return dict(in_channels=self.in_channels, out_channels=self.out_channels,
                    kernel_size=short(self.kernel_size), stride=short(self.stride),
                    padding=short(self.padding), bias=self.bias is not None)

    def output_shape(self, shape):
        if len(shape) != 3 or shape[0] != self.in_channels:
            raise ShapeError(f"Conv2d got input of shape {tuple(shape)}; it needs "
                             f"({self.in_channels}, H, W)")
        out = [kernels.conv_output_size(s, k, st, p) for s, k, st, p in
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
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)
