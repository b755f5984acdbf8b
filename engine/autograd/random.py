"""The one seedable random generator: initialisation, dropout seeds, ``randn``/``rand``/
``randperm``, in-place ``normal_``/``uniform_`` (``manual_seed`` as torch's)."""
from __future__ import annotations

import numpy as np

_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seeds every later initialisation, random tensor and dropout seed."""
    global _rng
    _rng = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    return _rng
