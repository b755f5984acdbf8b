"""The PyTorch twin of an engine model, built from its JSON spec (``model.spec()``):
same layers, same shapes, same state_dict keys, so both engines run exactly the same
network and weights move between them by name.

This module imports only torch (not the engine, not Numba), so a process that runs
the torch side of a benchmark carries none of the engine's memory. Needs the ``ref``
extra (``pip install torch==2.13.0``).
"""
from __future__ import annotations

_SIMPLE = ("MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "ReLU", "LeakyReLU", "Sigmoid", "Tanh",
           "Dropout", "LocalResponseNorm", "Flatten", "Conv2d", "Linear", "BatchNorm2d", "BatchNorm1d")


def from_spec(spec):
    """A torch.nn.Module for an engine spec dict (Sequential / Residual / Concat / leaves)."""
    import torch
    from torch import nn

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

    def build(s):
        kind = s["type"]
        args = {k: v for k, v in s.items() if k != "type"}
        if kind == "Sequential":
            return nn.Sequential(*[build(c) for c in args["layers"]])
        if kind == "Residual":
            short = args.get("shortcut")
            return Residual(build(args["body"]), None if short is None else build(short))
        if kind == "Concat":
            return Concat(*[build(c) for c in args["branches"]])
        if kind in _SIMPLE:
            return getattr(nn, kind)(**args)
        raise TypeError(f"torch_twin: no torch twin for layer type {kind}")

    return build(spec)


def load_weights(tmodel, arrays) -> None:
    """Copies ``{key: numpy array}`` (an engine state_dict) into the torch twin."""
    import numpy as np
    import torch
    tmodel.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()})


def torch_twin(model):
    """The torch twin of the engine ``model``, holding a copy of its weights."""
    tm = from_spec(model.spec())
    load_weights(tm, model.state_dict())
    return tm
