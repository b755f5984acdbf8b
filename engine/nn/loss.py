"""Losses, as torch.nn: ``loss = crit(output, target)`` returns a float and
``crit.backward()`` returns d loss / d output for the last call."""
from __future__ import annotations

import numpy as np

from .module import Module, ShapeError


class CrossEntropyLoss(Module):
    """Fused log-softmax + negative log-likelihood, mean over the batch.

    logits (N, K) float, targets (N,) int in [0, K). With label_smoothing e the
    target distribution is (1 - e) onehot + e/K. ``probs`` keeps the softmax."""

    def __init__(self, label_smoothing=0.0):
        super().__init__()
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1), got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)

    def config(self):
        return dict(label_smoothing=self.label_smoothing)

    def forward(self, logits, targets):
        if logits.ndim != 2:
            raise ShapeError(f"CrossEntropyLoss got logits of shape {tuple(logits.shape)}; it needs (N, classes)")
        host_t = np.asarray(self.ops.to_host(targets))
        if host_t.shape != (logits.shape[0],) or host_t.dtype.kind not in "iu":
            raise ShapeError(f"CrossEntropyLoss got targets of shape {host_t.shape} and dtype {host_t.dtype}; "
                             f"it needs ({logits.shape[0]},) integer class indices")
        if host_t.size and (host_t.min() < 0 or host_t.max() >= logits.shape[1]):
            raise ValueError(f"CrossEntropyLoss: targets must be in [0, {logits.shape[1]}), "
                             f"got values from {host_t.min()} to {host_t.max()}")
        self._targets = self.ops.asarray(host_t, dtype=np.int64)
        loss, self.probs = self.ops.cross_entropy_forward(logits, self._targets, self.label_smoothing)
        return loss

    def __call__(self, logits, targets):
        return self.forward(logits, targets)

    def backward(self, grad_y=None):
        return self.ops.cross_entropy_backward(self.probs, self._targets, self.label_smoothing)


class MSELoss(Module):
    """Mean squared error over every element; output and target of one shape."""

    def forward(self, y, target):
        if tuple(y.shape) != tuple(target.shape):
            raise ShapeError(f"MSELoss got output {tuple(y.shape)} and target {tuple(target.shape)}; "
                             "they must have one shape")
        self._y, self._t = y, target
        return self.ops.mse_forward(y, target)

    def __call__(self, y, target):
        return self.forward(y, target)

    def backward(self, grad_y=None):
        return self.ops.mse_backward(self._y, self._t)
