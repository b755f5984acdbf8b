"""Parameter initialisation, as torch.nn.init, drawn from one seedable generator."""
from __future__ import annotations

import math

import numpy as np

_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seeds every later initialisation and dropout seed (as torch.manual_seed)."""
    global _rng
    _rng = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    return _rng


def uniform_(a: np.ndarray, bound: float) -> None:
    a[...] = _rng.uniform(-bound, bound, a.shape)


def kaiming_uniform_(w: np.ndarray, fan_in: int) -> None:
    """torch's default for Conv2d/Linear weights: kaiming_uniform(a=sqrt(5)),
    i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    uniform_(w, 1.0 / math.sqrt(fan_in))
