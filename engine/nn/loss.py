"""Losses, as torch.nn: ``loss = criterion(output, target)`` is a tensor; ``loss.backward()``
differentiates it."""
from __future__ import annotations

from . import functional as F
from .layers._args import torch_default
from .module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = F._reduction(reduction)

    def config(self):
        return {} if self.reduction == "mean" else dict(reduction=self.reduction)


class CrossEntropyLoss(_Loss):
    """Log-softmax + negative log-likelihood of logits (N, K) for int targets (N,) in [0, K);
    with label_smoothing e the target distribution is (1 - e) onehot + e/K."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__(reduction)
        torch_default("CrossEntropyLoss", "weight", weight, None)
        torch_default("CrossEntropyLoss", "ignore_index", ignore_index, -100)
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1), got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)

    def config(self):
        return dict(super().config(), label_smoothing=self.label_smoothing)

    def forward(self, input, target):
        return F.cross_entropy(input, target, reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (N, K) (e.g. LogSoftmax's) for int targets (N,)."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(reduction)
        torch_default("NLLLoss", "weight", weight, None)
        torch_default("NLLLoss", "ignore_index", ignore_index, -100)

    def forward(self, input, target):
        return F.nll_loss(input, target, reduction=self.reduction)


class MSELoss(_Loss):
    """Mean squared error over every element; output and target of one shape."""

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)
