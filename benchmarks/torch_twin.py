"""Builds the PyTorch twin of an engine model from its module tree (same layers, same
shapes, same state_dict keys), so both engines run exactly the same network.

Needs the ``ref`` extra (``pip install torch==2.13.0``).
"""
from __future__ import annotations

import numpy as np


def torch_twin(model):
    """A torch.nn.Module equivalent to the engine ``model``, holding a copy of its weights."""
    import torch
    from torch import nn

    from engine import nn as enn

    class Residual(nn.Module):
        def __init__(self, body, shortcut):
            super().__init__()
            self.body = body
            self.shortcut = shortcut

        def forward(self, x):
            return self.body(x) + (x if self.shortcut is None else self.shortcut(x))

    class Concat(nn.Module):
        def __init__(self, *branches):
            super().__init__()
            for i, b in enumerate(branches):
                self.add_module(str(i), b)

        def forward(self, x):
            return torch.cat([b(x) for b in self.children()], 1)

    def build(m):
        if isinstance(m, enn.Sequential):
            return nn.Sequential(*[build(c) for c in m])
        if isinstance(m, enn.Residual):
            return Residual(build(m.body), None if m.shortcut is None else build(m.shortcut))
        if isinstance(m, enn.Concat):
            return Concat(*[build(c) for c in m.children()])
        kind = type(m).__name__
        cfg = m.config()
        if kind == "Conv2d":
            return nn.Conv2d(**cfg)
        if kind == "Linear":
            return nn.Linear(**cfg)
        if kind in ("BatchNorm2d", "BatchNorm1d"):
            return getattr(nn, kind)(**cfg)
        if kind in ("MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "ReLU", "LeakyReLU", "Sigmoid",
                    "Tanh", "Dropout", "LocalResponseNorm", "Flatten"):
            return getattr(nn, kind)(**cfg)
        raise TypeError(f"torch_twin: no torch twin for {kind}")

    tm = build(model)
    sd = {k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()}
    tm.load_state_dict(sd)
    return tm
