"""BatchNorm2d, BatchNorm1d and LocalResponseNorm, as torch.nn (same state_dict keys)."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..module import Module, Parameter, ShapeError
from ._args import positive_int, positive_number, torch_default


class _BatchNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias per channel (axis 1).

    Training uses the batch's statistics and updates running_mean/running_var with
    momentum (running = (1 - momentum) running + momentum batch, unbiased variance);
    eval uses the running statistics."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        torch_default(name, "affine", affine, True)
        torch_default(name, "track_running_stats", track_running_stats, True)
        self.num_features = positive_int("num_features", num_features, name)
        self.eps = positive_number("eps", eps, name)
        if momentum is None:
            raise NotImplementedError(f"{name}: momentum=None (a cumulative average) is not supported; "
                                      "give a number such as 0.1")
        self.momentum = float(momentum)
        self.weight = Parameter(np.ones(num_features, np.float32))
        self.bias = Parameter(np.zeros(num_features, np.float32))
        self.register_buffer("running_mean", np.zeros(num_features, np.float32))
        self.register_buffer("running_var", np.ones(num_features, np.float32))
        self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        if device is not None:
            self.to(device)

    def reset_running_stats(self):
        self.ops.fill(self.running_mean, 0)
        self.ops.fill(self.running_var, 1)
        self.num_batches_tracked[...] = 0

    def reset_parameters(self):
        self.reset_running_stats()
        self.ops.fill(self.weight.array, 1)
        self.ops.fill(self.bias.array, 0)

    def config(self):
        return dict(num_features=self.num_features, eps=self.eps, momentum=self.momentum)

    def forward(self, x):
        self.output_shape(x.shape[1:])
        if self.training:
            self.num_batches_tracked += 1
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self.training,
                            self.momentum, self.eps)


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
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)
