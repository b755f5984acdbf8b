"""Subset and random_split, as in torch.utils.data."""

import numpy as np


class Subset:
    """The samples ``indices`` of ``dataset``: ``subset[k] == dataset[indices[k]]``.

    The DataLoader maps the indices through (nested) subsets to the
    underlying dataset, so a subset keeps the batch-wise fast path.
    """

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, k):
        return self.dataset[int(self.indices[k])]

    @property
    def targets(self):
        """int64 (len(self),): the underlying dataset's targets at ``indices``."""
        return np.asarray(self.dataset.targets)[self.indices]

    @property
    def classes(self):
        return self.dataset.classes

    def __repr__(self):
        return f"Subset({len(self)} of {self.dataset!r})"


def random_split(dataset, lengths, seed=None):
    """Split ``dataset`` into non-overlapping random Subsets.

    lengths: integers summing to ``len(dataset)``, or fractions summing to 1
    (``floor(n f)`` each, the remainder handed out one by one from the
    first). seed: int for a reproducible split (None: fresh randomness).
    """
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(v, float) and 0 <= v <= 1 for v in lengths) and abs(sum(lengths) - 1) < 1e-6:
        counts = [int(np.floor(n * f)) for f in lengths]
        for k in range(n - sum(counts)):
            counts[k % len(counts)] += 1
        lengths = counts
    if any(int(v) != v or v < 0 for v in lengths) or sum(lengths) != n:
        raise ValueError(f"lengths must be non-negative ints summing to {n} or fractions summing to 1; got {lengths}")
    order = np.random.default_rng(seed).permutation(n)
    bounds = np.cumsum([0] + [int(v) for v in lengths])
    return [Subset(dataset, order[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
