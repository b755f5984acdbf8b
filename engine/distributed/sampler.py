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

Resuming on another number of ranks: a job stopped in the middle of an epoch had trained
positions [0, s) of that epoch's permutation (s = b B R after b batches of R ranks).
``resume(epoch, s, B)`` makes epoch ``epoch`` of a sampler of any number of ranks R'
continue there: its shard is this rank's share of positions [s, n) (positions s + r,
s + r + R', ...; padded from the start of the permutation, as a whole epoch is), after a
head of ``skipped`` whole batches that stand for what was trained before (the first
positions of this rank's whole-epoch shard). The epoch keeps its number of batches, and
a DataLoader resumed at batch ``skipped`` reads every remaining sample exactly once across
the ranks. With s = b B R' (the same number of ranks) the shard is the whole-epoch one.
"""
from __future__ import annotations

import numpy as np

from ..data.loader import shuffle_order
from .comm import world


def shard_length(n: int, replicas: int, drop_last: bool) -> int:
    """Samples per rank of ``n`` positions sharded over ``replicas`` ranks."""
    return n // replicas if drop_last else -(-n // replicas)


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
        self.num_samples = shard_length(n, self.num_replicas, self.drop_last)
        self.total_size = self.num_samples * self.num_replicas
        self.resumed = None      # (epoch, start, skipped batches, head samples) while a resumed epoch is current

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose permutation the next iteration draws (the same on every rank);
        a :meth:`resume` of another epoch ends here."""
        self.epoch = _count("epoch", epoch, 0)
        if self.resumed is not None and self.resumed[0] != self.epoch:
            self.resumed = None

    def skipped_batches(self, start: int, batch_size: int) -> int:
        """The whole batches of ``batch_size`` at the head of this rank's shard of an epoch
        resumed at position ``start`` (see :meth:`resume`): the epoch's batches less those
        that this rank's share of positions [start, n) fills."""
        n = len(self.dataset)
        start = _count("start", start, 0)
        if start > n:
            raise ValueError(f"DistributedSampler: start must be in [0, {n}] (the dataset's length), got {start}")
        batch_size = _count("batch_size", batch_size, 1)
        rest = shard_length(n - start, self.num_replicas, self.drop_last)
        return -(-self.num_samples // batch_size) - -(-rest // batch_size)

    def resume(self, epoch: int, start: int, batch_size: int) -> int:
        """Makes ``epoch`` (the current epoch from now on) continue at position ``start`` of
        its permutation, in batches of ``batch_size``: positions [0, start) were trained by
        a job of any number of ranks. Returns the batch a loader continues at, the number
        of whole batches at the head of the shard (:meth:`skipped_batches`)."""
        skipped = self.skipped_batches(start, batch_size)
        self.set_epoch(epoch)
        self.resumed = (self.epoch, int(start), skipped, min(skipped * int(batch_size), self.num_samples))
        return skipped

    def consumed(self, batches: int, batch_size: int) -> int:
        """The positions of the current epoch's permutation trained once every rank has
        trained ``batches`` batches of ``batch_size`` of this epoch (of a loader that
        began it at batch 0, or, after :meth:`resume`, at the skipped batches)."""
        start, skipped = self.resumed[1:3] if self.resumed else (0, 0)
        return min(len(self.dataset), start + max(batches - skipped, 0) * batch_size * self.num_replicas)

    def __len__(self) -> int:
        if self.resumed is None:
            return self.num_samples
        _, start, _, head = self.resumed
        return head + shard_length(len(self.dataset) - start, self.num_replicas, self.drop_last)

    def indices(self) -> np.ndarray:
        """This rank's shard for the current epoch, as an int64 array."""
        n = len(self.dataset)
        order = shuffle_order(self.seed, self.epoch, n) if self.shuffle else np.arange(n, dtype=np.int64)
        whole = np.resize(order, self.total_size)[self.rank::self.num_replicas]   # pads from the start, as torch
        if self.resumed is None:
            return whole
        _, start, _, head = self.resumed
        count = shard_length(n - start, self.num_replicas, self.drop_last) * self.num_replicas
        rest = np.concatenate([order[start:start + count], np.resize(order, max(count - (n - start), 0))])
        return np.concatenate([whole[:head], rest[self.rank::self.num_replicas]])

    def __iter__(self):
        return iter(self.indices().tolist())
