"""Pooling layers, as torch.nn: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d. x (N, C, H, W)."""
from __future__ import annotations

from ..module import Module, ShapeError
from ._args import pair, short


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
        out = [(s + 2 * p - k) // st + 1 for s, k, st, p in
               zip(shape[1:], self.kernel_size, self.stride, self.padding)]
        if min(out) < 1:
            raise ShapeError(f"{name} with kernel {self.kernel_size} does not fit an input of "
                             f"{shape[1]}x{shape[2]}")
        return (shape[0], out[0], out[1])


class MaxPool2d(_Pool2d):
    """y = max over each kernel_size window, stepping by stride (default: kernel_size)."""

    def forward(self, x):
        self.output_shape(x.shape[1:])
        self._y, self._argmax = self.ops.maxpool2d_forward(x, self.kernel_size, self.stride, self.padding)
        self._x_shape = x.shape
        return self._y

    def backward(self, grad_y, relu=False):
        """dx; with relu, when a ReLU feeds this pool, the gradient of that ReLU's input
        (its backward runs here too, see nn.fusion)."""
        return self.ops.maxpool2d_backward(grad_y, self._argmax, self._x_shape, y=self._y if relu else None)


class AvgPool2d(_Pool2d):
    """y = mean over each window; with count_include_pad the zero padding counts in the mean."""

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad=True):
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = bool(count_include_pad)

    def config(self):
        return dict(super().config(), count_include_pad=self.count_include_pad)

    def forward(self, x):
        self.output_shape(x.shape[1:])
        self._x_shape = x.shape
        return self.ops.avgpool2d_forward(x, self.kernel_size, self.stride, self.padding,
                                          self.count_include_pad)

    def backward(self, grad_y):
        return self.ops.avgpool2d_backward(grad_y, self._x_shape, self.kernel_size, self.stride,
                                           self.padding, self.count_include_pad)


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
        self._x_shape = x.shape
        return self.ops.adaptive_avgpool2d_forward(x, self.output_size)

    def backward(self, grad_y):
        return self.ops.adaptive_avgpool2d_backward(grad_y, self._x_shape)
