"""Pooling layers, as torch.nn: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d. x (N, C, H, W)."""
from __future__ import annotations

from ... import kernels
from .. import functional as F
from ..module import Module, ShapeError
from ._args import pair, short, torch_default


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = pair("kernel_size", kernel_size, name)
        self.stride = pair("stride", stride if stride is not None else kernel_size, name)
        self.padding = pair("padding", padding, name, minimum=0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{name}: padding {self.padding} must be at most half the kernel size "
                             f"{self.kernel_size}")

    def config(self):
        return dict(kernel_size=short(self.kernel_size), stride=short(self.stride),
                    padding=short(self.padding))

    def output_shape(self, shape):
        name = type(self).__name__
        if len(shape) != 3:
            raise ShapeError(f"{name} got input of shape {tuple(shape)}; it needs (C, H, W)")
        out = [kernels.conv_output_size(s, k, st, p) for s, k, st, p in
               zip(shape[1:], self.kernel_size, self.stride, self.padding)]
        if min(out) < 1:
            raise ShapeError(f"{name} with kernel {self.kernel_size} does not fit an input of "
                             f"{shape[1]}x{shape[2]}")
        return (shape[0], out[0], out[1])


class MaxPool2d(_Pool2d):
    """y = max over each kernel_size window, stepping by stride (default: kernel_size)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        torch_default("MaxPool2d", "dilation", dilation, (1, 1), pair)
        torch_default("MaxPool2d", "return_indices", return_indices, False)
        torch_default("MaxPool2d", "ceil_mode", ceil_mode, False)
        super().__init__(kernel_size, stride, padding)

    def forward(self, x):
        self.output_shape(x.shape[1:])
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool2d):
    """y = mean over each window; with count_include_pad the zero padding counts in the mean."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        torch_default("AvgPool2d", "ceil_mode", ceil_mode, False)
        torch_default("AvgPool2d", "divisor_override", divisor_override, None)
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = bool(count_include_pad)

    def config(self):
        return dict(super().config(), count_include_pad=self.count_include_pad)

    def forward(self, x):
        self.output_shape(x.shape[1:])
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding,
                            count_include_pad=self.count_include_pad)


class AdaptiveAvgPool2d(Module):
    """Averages (N, C, H, W) down to (N, C, *output_size); output_size=1 is global average pooling."""

    def __init__(self, output_size=1):
        super().__init__()
        self.output_size = pair("output_size", output_size, "AdaptiveAvgPool2d")

    def config(self):
        return dict(output_size=short(self.output_size))

    def output_shape(self, shape):
        if len(shape) != 3:
            raise ShapeError(f"AdaptiveAvgPool2d got input of shape {tuple(shape)}; it needs (C, H, W)")
        if shape[1] < self.output_size[0] or shape[2] < self.output_size[1]:
            raise ShapeError(f"AdaptiveAvgPool2d to {self.output_size} needs an input at least that "
                             f"large, got {shape[1]}x{shape[2]}")
        return (shape[0],) + self.output_size

    def forward(self, x):
        self.output_shape(x.shape[1:])
        return F.adaptive_avg_pool2d(x, self.output_size)
