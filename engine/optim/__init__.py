"""Optimizers, argued as torch.optim: SGD, Adam, AdamW; updates run in the device's kernels."""
from .optimizers import SGD, Adam, AdamW, Optimizer

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]
