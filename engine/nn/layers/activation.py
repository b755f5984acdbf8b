"""Element-wise activations, as torch.nn: ReLU, LeakyReLU, Sigmoid, Tanh. Any shape in, same out."""
from __future__ import annotations

from ..fusion import NO_GRAPH
from ..module import Module


class ReLU(Module):
    """y = max(x, 0)."""

    def forward(self, x):
        self._y = self.ops.relu_forward(x)
        return self._y

    def backward(self, grad_y):
        if self._y is None:
            raise RuntimeError(NO_GRAPH)
        return self.ops.relu_backward(self._y, grad_y)


class LeakyReLU(Module):
    """y = x for x > 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def config(self):
        return dict(negative_slope=self.negative_slope)

    def forward(self, x):
        self._x = x
        return self.ops.leaky_relu_forward(x, self.negative_slope)

    def backward(self, grad_y):
        return self.ops.leaky_relu_backward(self._x, grad_y, self.negative_slope)


class Sigmoid(Module):
    """y = 1 / (1 + exp(-x))."""

    def forward(self, x):
        self._y = self.ops.sigmoid_forward(x)
        return self._y

    def backward(self, grad_y):
        return self.ops.sigmoid_backward(self._y, grad_y)


class Tanh(Module):
    """y = tanh(x)."""

    def forward(self, x):
        self._y = self.ops.tanh_forward(x)
        return self._y

    def backward(self, grad_y):
        return self.ops.tanh_backward(self._y, grad_y)
