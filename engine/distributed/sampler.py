"""DistributedSampler: the indices of one rank's shard of a dataset, shaped like
``torch.utils.data.distributed.DistributedSampler``::

    sampler = DistributedSampler(train, seed=0)           # rank and replicas from MPI
    loader = DataLoader(train, batch_size=64, sampler=sampler)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)                           # the loader also does this
        for x, y in loader: ...

Every rank draws the same permutation of the dataset's indices from (seed, epoch): the
DataLoader's own shuffle order (:func:`engine.data.loader.shuffle_order`), so one rank
reads what ``DataLoader(shuffle=True, seed=seed)`` reads. The permutation is padded by
repeating its first indices to a multiple of ``num_replicas`` (or its tail is dropped
with ``drop_last``), and rank r takes positions r, r + R, r + 2R... So the ranks' shards
are disjoint and of one length, and batch b of every rank together is batch b of one
process whose batch is R times larger (positions [b B R, (b + 1) B R) of the permutation).
"""
from __future__ import annotations

import numpy as np

from ..data.loader import shuffle_order
from .comm import world


def _count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"DistributedSampler: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


class DistributedSampler:
    """Indices (int64) of rank ``rank``'s shard of ``dataset`` (anything with ``len``).

    num_replicas, rank: the job's size and this process's rank (default: MPI's world);
    shuffle: a new permutation every epoch (else the dataset's order); seed: the same on
    every rank; drop_last: drop the tail that does not divide evenly instead of padding."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False):
        if num_replicas is None or rank is None:
            comm = world()
            num_replicas = comm.size if num_replicas is None else num_replicas
            rank = comm.rank if rank is None else rank
        self.num_replicas = _count("num_replicas", num_replicas, 1)
        self.rank = _count("rank", rank, 0)
        if self.rank >= self.num_replicas:
            raise ValueError(f"DistributedSampler: rank must be in [0, {self.num_replicas}), got {self.rank}")
        self.seed = _count("seed", seed, 0)
        self.dataset = dataset
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        self.num_samples = n // self.num_replicas if self.drop_last else -(-n // self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose permutation the next iteration draws (the same on every rank)."""
        self.epoch = _count("epoch", epoch, 0)

    def __len__(self) -> int:
        return self.num_samples

    def indices(self) -> np.ndarray:
        """This rank's shard for the current epoch, as an int64 array."""
        n = len(self.dataset)
        order = shuffle_order(self.seed, self.epoch, n) if self.shuffle else np.arange(n, dtype=np.int64)
        if self.total_size > n:
            order = np.resize(order, self.total_size)   # repeats from the start, as torch pads
        return order[self.rank:self.total_size:self.num_replicas]

    def __iter__(self):
        return iter(self.indices().tolist())
