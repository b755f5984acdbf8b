"""BatchNorm2d, BatchNorm1d and LocalResponseNorm, as torch.nn (same state_dict keys)."""
from __future__ import annotations

import numpy as np

from ..fusion import NO_GRAPH
from ..module import Module, Parameter, ShapeError
from ._args import positive_int


class _BatchNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias per channel (axis 1).

    Training uses the batch's statistics and updates running_mean/running_var with
    momentum (running = (1 - momentum) running + momentum batch, unbiased variance);
    eval uses the running statistics."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features = positive_int("num_features", num_features, type(self).__name__)
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.weight = Parameter(np.ones(num_features, np.float32))
        self.bias = Parameter(np.zeros(num_features, np.float32))
        self.register_buffer("running_mean", np.zeros(num_features, np.float32))
        self.register_buffer("running_var", np.ones(num_features, np.float32))
        self.register_buffer("num_batches_tracked", np.zeros((), np.int64))

    def reset_parameters(self):
        self.ops.fill(self.weight.data, 1)
        self.ops.fill(self.bias.data, 0)

    def config(self):
        return dict(num_features=self.num_features, eps=self.eps, momentum=self.momentum)

    def forward(self, x, relu=False):
        """The normalised x; with relu, max(that, 0) (a ReLU fused in, see nn.fusion)."""
        self.output_shape(x.shape[1:])
        ops = self.ops
        if self.training:
            if x.size // x.shape[1] < 2:
                raise ShapeError(f"{type(self).__name__} in training mode needs more than one value per "
                                 f"channel, got input of shape {tuple(x.shape)} (use a batch > 1, or eval())")
            y, self._cache = ops.batchnorm_forward_train(
                x, self.weight.data, self.bias.data, self.running_mean, self.running_var,
                self.momentum, self.eps, relu=relu)
            self.num_batches_tracked += 1
        else:
            y, self._cache = ops.batchnorm_forward_eval(
                x, self.weight.data, self.bias.data, self.running_mean, self.running_var, self.eps)
            if relu:
                y = ops.relu_forward(y)
        return y

    def backward(self, grad_y, relu_y=None):
        """dx; with relu_y, grad_y is that of a ReLU after this norm (whose output relu_y
        is) and its backward runs here too (see nn.fusion)."""
        if self._cache is None:
            raise RuntimeError(NO_GRAPH)
        ops = self.ops
        dx, dgamma, dbeta = ops.batchnorm_backward(grad_y, self.weight.data, self._cache, relu_y=relu_y)
        ops.add_(self.weight.grad, dgamma)
        ops.add_(self.bias.grad, dbeta)
        return dx


class BatchNorm2d(_BatchNorm):
    """x (N, C, H, W); statistics over N, H, W."""

    def output_shape(self, shape):
        if len(shape) != 3 or shape[0] != self.num_features:
            raise ShapeError(f"BatchNorm2d got input of shape {tuple(shape)}; it needs "
                             f"({self.num_features}, H, W)")
        return tuple(shape)


class BatchNorm1d(_BatchNorm):
    """x (N, C) or (N, C, L); statistics over N (and L)."""

    def output_shape(self, shape):
        if len(shape) not in (1, 2) or shape[0] != self.num_features:
            raise ShapeError(f"BatchNorm1d got input of shape {tuple(shape)}; it needs "
                             f"({self.num_features},) or ({self.num_features}, L)")
        return tuple(shape)


class LocalResponseNorm(Module):
    """AlexNet's normalisation across channels:
    y_c = x_c / (k + alpha/size * sum of x_j^2 over the size channels around c)^beta."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size = positive_int("size", size, "LocalResponseNorm")
        self.alpha, self.beta, self.k = float(alpha), float(beta), float(k)

    def config(self):
        return dict(size=self.size, alpha=self.alpha, beta=self.beta, k=self.k)

    def output_shape(self, shape):
        if len(shape) < 2:
            raise ShapeError(f"LocalResponseNorm got input of shape {tuple(shape)}; it needs (C, H, W)")
        return tuple(shape)

    def forward(self, x):
        self.output_shape(x.shape[1:])
        self._x = x
        self._y, self._s = self.ops.lrn_forward(x, self.size, self.alpha, self.beta, self.k)
        return self._y

    def backward(self, grad_y):
        return self.ops.lrn_backward(self._x, self._y, self._s, grad_y, self.size, self.alpha, self.beta)
