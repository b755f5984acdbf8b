"""DistributedSampler and DataLoader(sampler=...), in one process (ranks given explicitly,
so no MPI is needed): shards, padding, epochs, and the batches of R ranks of batch B
being the batches of one loader of batch R*B."""
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datasets import VisionDataset
from engine.data import DataLoader
from engine.data import transforms as T
from engine.distributed import DistributedSampler


def images(n, transform=None):
    """uint8 8x8 images whose first pixel is the sample's index."""
    data = np.random.default_rng(n).integers(0, 256, (n, 8, 8), dtype=np.uint8)
    data[:, 0, 0] = np.arange(n)
    return VisionDataset(data, np.arange(n) % 10, [str(c) for c in range(10)], transform)


def ids(x):
    return np.rint(np.asarray(x)[:, 0, 0, 0] * 255).astype(int)


@settings(max_examples=150, deadline=None)
@given(n=st.integers(0, 60), replicas=st.integers(1, 7), drop_last=st.booleans(), shuffle=st.booleans(),
       epoch=st.integers(0, 3))
def test_shards_are_disjoint_equal_and_cover_the_dataset(n, replicas, drop_last, shuffle, epoch):
    shards = []
    for r in range(replicas):
        s = DistributedSampler(list(range(n)), num_replicas=replicas, rank=r, shuffle=shuffle, seed=9,
                               drop_last=drop_last)
        s.set_epoch(epoch)
        shards.append(s.indices())
        assert len(s) == len(shards[-1]) == len(list(s))
        assert shards[-1].dtype == np.int64
    lengths = {len(s) for s in shards}
    assert len(lengths) == 1
    every = np.concatenate(shards)
    if drop_last:
        assert len(every) == n - n % replicas and len(np.unique(every)) == len(every)
    else:
        assert len(every) == -(-n // replicas) * replicas and set(every.tolist()) == set(range(n))
    assert all(0 <= i < n for i in every)


def test_every_rank_draws_the_same_permutation_per_epoch():
    a = DistributedSampler(range(20), num_replicas=2, rank=0, seed=4)
    b = DistributedSampler(range(20), num_replicas=2, rank=1, seed=4)
    first = np.concatenate([a.indices(), b.indices()])
    a.set_epoch(1)
    b.set_epoch(1)
    assert set(first.tolist()) == set(range(20))
    assert not np.array_equal(np.concatenate([a.indices(), b.indices()]), first)   # a new epoch, a new order
    unshuffled = DistributedSampler(range(5), num_replicas=2, rank=1, shuffle=False)
    assert unshuffled.indices().tolist() == [1, 3, 0]                                  # padded from the start


def test_ranks_of_batch_b_read_the_batches_of_one_loader_of_batch_rb():
    ds = images(48)
    one = DataLoader(ds, batch_size=12, shuffle=True, seed=5)
    for epoch in (0, 1):
        one.set_epoch(epoch)
        ranks = []
        for r in range(3):
            loader = DataLoader(ds, batch_size=4, sampler=DistributedSampler(ds, num_replicas=3, rank=r, seed=5))
            loader.set_epoch(epoch)                      # passed on to the sampler
            assert loader.sampler.epoch == epoch and len(loader) == 4
            ranks.append([ids(x) for x, _ in loader])
        for b, (x, _) in enumerate(one):
            together = np.concatenate([ranks[r][b] for r in range(3)])
            assert sorted(together.tolist()) == sorted(ids(x).tolist())


def test_resuming_a_loader_passes_the_epoch_to_its_sampler():
    ds = images(16)
    loader = DataLoader(ds, batch_size=2, sampler=DistributedSampler(ds, num_replicas=2, rank=1, seed=1))
    loader.set_epoch(2)
    it = iter(loader)
    next(it)
    state = loader.state_dict()
    rest = [ids(x).tolist() for x, _ in it]
    again = DataLoader(ds, batch_size=2, sampler=DistributedSampler(ds, num_replicas=2, rank=1, seed=1))
    again.load_state_dict(state)
    assert again.sampler.epoch == 2
    assert [ids(x).tolist() for x, _ in again] == rest


def test_each_rank_augments_with_its_own_random_stream():
    ds = images(8, T.Compose([T.RandomCrop(8, padding=3), T.ToTensor()]))
    ds.data[:] = np.arange(64, dtype=np.uint8).reshape(8, 8)      # every sample alike: only the crops differ
    xs = [next(iter(DataLoader(ds, batch_size=4, sampler=DistributedSampler(ds, num_replicas=2, rank=r),
                               seed=3)))[0].numpy() for r in (0, 1)]
    assert not np.array_equal(xs[0], xs[1])
    plain = next(iter(DataLoader(ds, batch_size=4, seed=3)))[0].numpy()
    np.testing.assert_array_equal(xs[0], plain)                   # rank 0: the stream of a plain loader


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="rank must be in \\[0, 2\\), got 2"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas must be an int >= 1, got 0"):
        DistributedSampler(range(4), num_replicas=0, rank=0)
    with pytest.raises(ValueError, match="seed must be an int >= 0, got -1"):
        DistributedSampler(range(4), num_replicas=1, rank=0, seed=-1)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(images(4), batch_size=2, shuffle=True, sampler=range(4))
    with pytest.raises(IndexError, match="sampler gave index 9, outside the dataset's 4 samples"):
        next(iter(DataLoader(images(4), batch_size=2, sampler=[0, 9])))


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 60), saved=st.integers(1, 4), ranks=st.integers(1, 5), batch=st.integers(1, 5),
       drop_last=st.booleans(), data=st.data())
def test_a_resumed_epoch_reads_the_rest_of_the_permutation_once_on_any_number_of_ranks(n, saved, ranks, batch,
                                                                                       drop_last, data):
    old = DistributedSampler(range(n), num_replicas=saved, rank=0, seed=2, drop_last=drop_last)
    old.set_epoch(3)
    b = data.draw(st.integers(0, -(-len(old) // batch)), label="batches trained")
    start = old.consumed(b, batch)
    order = DistributedSampler(range(n), num_replicas=1, rank=0, seed=2)
    order.set_epoch(3)
    whole = DistributedSampler(range(n), num_replicas=ranks, rank=0, seed=2, drop_last=drop_last)
    batches = -(-len(whole) // batch)
    read, skips = [], set()
    for r in range(ranks):
        s = DistributedSampler(range(n), num_replicas=ranks, rank=r, seed=2, drop_last=drop_last)
        skipped = s.resume(3, start, batch)
        skips.add(skipped)
        shard = s.indices()
        assert len(shard) == len(s) and -(-len(s) // batch) == batches      # the epoch keeps its batches
        assert s.consumed(skipped, batch) == start
        assert s.consumed(batches, batch) == n or drop_last                 # the whole epoch, but a dropped tail
        read += shard[skipped * batch:].tolist()
        if ranks == saved:                                   # the same ranks: the whole epoch's shard
            s2 = DistributedSampler(range(n), num_replicas=ranks, rank=r, seed=2, drop_last=drop_last)
            s2.set_epoch(3)
            assert skipped == b and np.array_equal(shard, s2.indices())
        s.set_epoch(4)
        assert len(s) == len(whole) and s.resumed is None               # the next epoch is whole again
    assert len(skips) == 1
    rest = order.indices()[start:].tolist()
    extra = Counter(read) - Counter(rest)
    assert not Counter(rest) - Counter(read) or drop_last                   # nothing left out but the tail
    assert sum(extra.values()) < ranks and set(extra) <= set(order.indices()[:ranks].tolist())   # padding


def test_resuming_two_ranks_stopped_mid_epoch_on_four():
    two = DistributedSampler(range(48), num_replicas=2, rank=0, seed=5)
    assert two.consumed(5, 2) == 20                 # 5 batches of 2 on 2 ranks: positions [0, 20)
    four = [DistributedSampler(range(48), num_replicas=4, rank=r, seed=5) for r in range(4)]
    assert {s.resume(1, 20, 2) for s in four} == {2}     # 28 left: 7 a rank, 4 batches of the epoch's 6
    order = DistributedSampler(range(48), num_replicas=1, rank=0, seed=5)
    order.set_epoch(1)
    assert sorted(i for s in four for i in s.indices()[4:]) == sorted(order.indices()[20:])
    assert four[3].indices()[4:].tolist() == order.indices()[23::4].tolist()
    with pytest.raises(ValueError, match=r"start must be in \[0, 48\] \(the dataset's length\), got 49"):
        four[0].resume(1, 49, 2)
