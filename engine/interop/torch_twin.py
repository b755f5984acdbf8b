"""The PyTorch twin of an engine model, built from its JSON spec (``model.spec()``):
the same layers, shapes and state_dict keys (Sequential -> torch.nn.Sequential;
Residual -> a module with ``body`` and ``shortcut``; Concat -> a module whose children
are "0", "1", ...; leaf layers by their torch.nn class name and arguments), so both
engines run exactly the same network and weights move between them by name.

The one translator of specs into torch, used by the benchmark's ``--torch``,
``benchmarks/`` and the parity tests. It needs torch (the ``ref`` extra,
``pip install torch==2.13.0``) and imports nothing of the engine, so a process that
runs only the torch side of a benchmark can load this file alone and carry none of the
engine's memory.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["TorchResidual", "TorchConcat", "from_spec", "load_weights", "to_torch"]


class TorchResidual(torch.nn.Module):
    """body(x) + shortcut(x) (identity without a shortcut), as the engine's Residual."""

    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        return self.body(x) + (x if self.shortcut is None else self.shortcut(x))


class TorchConcat(torch.nn.Module):
    """The branches' outputs concatenated along channels, as the engine's Concat."""

    def __init__(self, *branches):
        super().__init__()
        for i, b in enumerate(branches):
            self.add_module(str(i), b)

    def forward(self, x):
        return torch.cat([b(x) for b in self.children()], dim=1)


def from_spec(spec: dict) -> torch.nn.Module:
    """The torch.nn module tree an engine spec dict describes (fresh weights); TypeError
    for a layer type torch.nn has no twin of."""
    kind = spec["type"]
    args = {k: v for k, v in spec.items() if k != "type"}
    if kind == "Sequential":
        return torch.nn.Sequential(*[from_spec(s) for s in args["layers"]])
    if kind == "Residual":
        short = args.get("shortcut")
        return TorchResidual(from_spec(args["body"]), None if short is None else from_spec(short))
    if kind == "Concat":
        return TorchConcat(*[from_spec(s) for s in args["branches"]])
    layer = getattr(torch.nn, kind, None)
    if not isinstance(layer, type) or not issubclass(layer, torch.nn.Module):
        raise TypeError(f"torch_twin: torch.nn has no twin of layer type {kind!r}")
    return layer(**{k: tuple(v) if isinstance(v, list) else v for k, v in args.items()})


def load_weights(twin: torch.nn.Module, arrays: dict) -> None:
    """Copies ``{key: array}`` (an engine state_dict, or numpy arrays by its keys) into ``twin``."""
    twin.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()})


def to_torch(model) -> torch.nn.Module:
    """The torch twin of the engine ``model`` holding a copy of its weights and buffers, in
    the same train/eval mode and float dtype (float64 after ``model.double()``, else float32)."""
    double = any(p.dtype == np.float64 for p in model.parameters())
    twin = from_spec(model.spec())
    twin = twin.double() if double else twin.float()
    load_weights(twin, model.state_dict())
    twin.train(model.training)
    return twin
