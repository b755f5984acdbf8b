"""Optimizers, argued as torch.optim: SGD, Adam, AdamW; updates run in the device's kernels.
Learning-rate schedules as torch.optim.lr_scheduler (also importable from here)."""
from . import lr_scheduler
from .lr_scheduler import (CosineAnnealingLR, ExponentialLR, LinearLR, LRScheduler, MultiStepLR, OneCycleLR,
                           ReduceLROnPlateau, SequentialLR, StepLR, linear_warmup)
from .optimizers import SGD, Adam, AdamW, Optimizer

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler", "LRScheduler", "StepLR", "MultiStepLR",
           "ExponentialLR", "CosineAnnealingLR", "LinearLR", "SequentialLR", "OneCycleLR", "ReduceLROnPlateau",
           "linear_warmup"]
