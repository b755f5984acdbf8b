"""``engine.utils.data``, shaped like ``torch.utils.data``: ``Dataset``, ``TensorDataset``,
``DataLoader``, ``Subset``, ``random_split`` (the loader and subsets are
:mod:`engine.data`'s)."""
from __future__ import annotations

import numpy as np

from ..autograd import Tensor
from ..data import DataLoader, Subset, random_split

__all__ = ["Dataset", "TensorDataset", "DataLoader", "Subset", "random_split"]


class Dataset:
    """A map-style dataset: subclasses define ``__getitem__(i)`` and ``__len__()``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(self, index)")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__(self)")


class TensorDataset(Dataset):
    """Sample i is ``tuple(t[i] for t in tensors)``; all tensors share their first dimension.

    ``data``/``targets`` expose the first two as arrays, so the DataLoader batches them by
    indexing (no per-sample Python loop)."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        arrays = [np.asarray(t) for t in tensors]
        n = arrays[0].shape[0] if arrays[0].ndim else None
        if n is None or any(a.ndim == 0 or a.shape[0] != n for a in arrays):
            raise ValueError("TensorDataset: every tensor needs the same size along dimension 0, got "
                             + ", ".join(str(tuple(a.shape)) for a in arrays))
        self.tensors = tuple(t if isinstance(t, Tensor) else Tensor(a) for t, a in zip(tensors, arrays))
        self._arrays = arrays

    def __getitem__(self, index):
        return tuple(Tensor(a[index]) for a in self._arrays)

    def __len__(self):
        return self._arrays[0].shape[0]
