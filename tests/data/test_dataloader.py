"""DataLoader: fast and per-sample paths, shuffling, determinism across workers, resume, subsets."""

import numpy as np
import pytest

from engine.autograd import Tensor
import engine
from engine.data import DataLoader, Subset, random_split
from engine.data import transforms as T
from engine.utils.data import TensorDataset

AUGMENT = T.Compose([T.RandomCrop(8, padding=2), T.RandomHorizontalFlip(), T.ToTensor(),
                     T.Normalize((0.5, 0.4, 0.3), (0.2, 0.25, 0.3))])


def batches(loader):
    """Host copies of every (x, y) the loader yields, as arrays."""
    return [(x.numpy().copy(), y.numpy().copy()) for x, y in loader]


def first_pixels(x):
    """Recover sample ids from un-augmented ToTensor output (first pixel = id % 256)."""
    return np.rint(x[:, 0, 0, 0] * 255).astype(int)


def test_course_style_usage(make_dataset):
    ds = make_dataset(100, (28, 28), T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))]))
    loader = DataLoader(ds, batch_size=64, shuffle=True, num_workers=2)
    first = next(iter(loader))
    assert all(isinstance(t, Tensor) for t in first) and not first[0].requires_grad
    out = batches(loader)
    assert len(loader) == len(out) == 2
    x, y = out[0]
    assert x.shape == (64, 1, 28, 28) and x.dtype == np.float32 and x.flags.c_contiguous
    assert y.shape == (64,) and y.dtype == np.int64
    assert out[1][0].shape == (36, 1, 28, 28)
    assert loader._plan() is not None


def test_fast_path_matches_the_per_sample_path(make_dataset):
    normalize = [T.ToTensor(), T.Normalize((0.5, 0.4, 0.3), (0.2, 0.25, 0.3))]
    fast = make_dataset(50, transform=T.Compose(normalize))
    slow = make_dataset(50, transform=T.Compose([lambda im: im] + normalize))
    lf, ls = DataLoader(fast, 16, shuffle=True, seed=3), DataLoader(slow, 16, shuffle=True, seed=3)
    assert lf._plan() is not None and ls._plan() is None
    for (xf, yf), (xs, ys) in zip(lf, ls):
        np.testing.assert_allclose(xf, xs, atol=1e-6)
        np.testing.assert_array_equal(yf, ys)


def test_a_changed_dataset_transform_counts_from_the_next_epoch(make_dataset):
    ds = make_dataset(8, (4, 4), T.ToTensor())
    loader = DataLoader(ds, batch_size=8)
    x0, _ = next(iter(loader))
    ds.transform = T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))])
    x1, _ = next(iter(loader))
    np.testing.assert_allclose(x1, (x0 - 0.5) / 0.5, atol=1e-6)


def test_no_transform_gives_tensors(make_dataset):
    x, y = next(iter(DataLoader(make_dataset(10, (5, 5)), batch_size=4)))
    assert x.shape == (4, 1, 5, 5) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert first_pixels(x).tolist() == [0, 1, 2, 3] and y.tolist() == [0, 1, 2, 3]


def test_shuffle_covers_everything_and_reshuffles_each_epoch(make_dataset):
    loader = DataLoader(make_dataset(256, (2, 2)), batch_size=32, shuffle=True, seed=0)
    epochs = [np.concatenate([first_pixels(x) for x, _ in loader]) for _ in range(3)]
    for ids in epochs:
        assert sorted(ids) == list(range(256))
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[1], epochs[2])
    assert loader.epoch == 3


def test_no_shuffle_is_in_order_and_drop_last(make_dataset):
    ds = make_dataset(10, (2, 2))
    assert [y.tolist() for _, y in DataLoader(ds, 4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    loader = DataLoader(ds, 4, drop_last=True)
    assert len(loader) == 2 and [len(y) for _, y in loader] == [4, 4]


@pytest.mark.parametrize("transform_on", ["dataset", "loader"])
def test_same_seed_same_batches_whatever_num_workers(make_dataset, transform_on):
    ds = make_dataset(200, transform=AUGMENT if transform_on == "dataset" else None)
    kw = {"transform": AUGMENT} if transform_on == "loader" else {}
    runs = [batches(DataLoader(ds, 16, shuffle=True, num_workers=w, seed=11, **kw)) for w in (0, 1, 2, 3)]
    for run in runs[1:]:
        for (x0, y0), (x1, y1) in zip(runs[0], run):
            np.testing.assert_array_equal(x0, x1)
            np.testing.assert_array_equal(y0, y1)
    other = batches(DataLoader(ds, 16, shuffle=True, seed=12, **kw))
    assert not np.array_equal(other[0][0], runs[0][0][0])


def test_per_sample_path_is_deterministic_too(make_dataset):
    ds = make_dataset(60, transform=T.Compose([lambda im: im, T.RandomCrop(6, padding=1), T.ToTensor()]))
    a = batches(DataLoader(ds, 8, shuffle=True, num_workers=0, seed=5))
    b = batches(DataLoader(ds, 8, shuffle=True, num_workers=2, seed=5))
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert a[0][0].shape == (8, 3, 6, 6)


def test_seed_none_draws_a_fresh_seed(make_dataset):
    ds = make_dataset(10)
    assert DataLoader(ds).seed != DataLoader(ds).seed
    with pytest.raises(ValueError):
        DataLoader(ds, seed=-1)
    with pytest.raises(ValueError):
        DataLoader(ds, batch_size=0)


def test_set_epoch_and_exact_resume(make_dataset):
    ds = make_dataset(100, transform=AUGMENT)
    reference = DataLoader(ds, 8, shuffle=True, seed=7, num_workers=2)
    reference.set_epoch(4)
    expected = batches(reference)
    assert reference.state_dict() == {"seed": 7, "epoch": 5, "batch": 0}

    loader = DataLoader(ds, 8, shuffle=True, seed=1, num_workers=2)
    loader.set_epoch(4)
    loader.load_state_dict({"seed": 7, "epoch": 4, "batch": 0})
    it = iter(loader)
    for k in range(5):
        np.testing.assert_array_equal(next(it)[0], expected[k][0])
    state = loader.state_dict()
    assert state == {"seed": 7, "epoch": 4, "batch": 5}

    resumed = DataLoader(ds, 8, shuffle=True, num_workers=0)
    resumed.load_state_dict(state)
    rest = batches(resumed)
    assert len(rest) == len(expected) - 5
    for (x, y), (xe, ye) in zip(rest, expected[5:]):
        np.testing.assert_array_equal(x, xe)
        np.testing.assert_array_equal(y, ye)
    assert resumed.state_dict() == {"seed": 7, "epoch": 5, "batch": 0}
    assert len(batches(resumed)) == len(resumed)  # the next epoch is whole again


def test_subset_and_random_split_keep_the_fast_path(make_dataset):
    ds = make_dataset(100, (2, 2), T.ToTensor())
    train, val = random_split(ds, [80, 20], seed=0)
    assert len(train) == 80 and len(val) == 20
    assert not set(train.indices) & set(val.indices)
    loader = DataLoader(val, batch_size=20)
    assert loader._plan() is not None
    x, y = next(iter(loader))
    np.testing.assert_array_equal(first_pixels(x), val.indices)
    np.testing.assert_array_equal(y, val.indices % 10)
    np.testing.assert_array_equal(val.targets, val.indices % 10)
    nested = Subset(val, [3, 1])
    x, y = next(iter(DataLoader(nested, batch_size=2)))
    np.testing.assert_array_equal(first_pixels(x), val.indices[[3, 1]])
    assert nested[0][1] == val.indices[3] % 10 and nested.classes == ds.classes


def test_random_split_fractions_and_reproducibility(make_dataset):
    ds = make_dataset(11, (2, 2))
    parts = random_split(ds, [0.5, 0.3, 0.2], seed=4)
    assert [len(p) for p in parts] == [6, 3, 2]  # floors 5, 3, 2; remainder to the first
    again = random_split(ds, [0.5, 0.3, 0.2], seed=4)
    assert all(np.array_equal(a.indices, b.indices) for a, b in zip(parts, again))
    assert sorted(np.concatenate([p.indices for p in parts])) == list(range(11))
    with pytest.raises(ValueError):
        random_split(ds, [5, 5])


def test_bad_subset_index(make_dataset):
    with pytest.raises(IndexError, match="outside the dataset"):
        next(iter(DataLoader(Subset(make_dataset(5), [1, 7]))))


def test_target_transform_and_user_callables(make_dataset):
    ds = make_dataset(12, (4, 4, 3), transform=lambda im: im.astype(np.float32).mean(axis=2)[None] / 255,
                      target_transform=lambda t: t * 2)
    x, y = next(iter(DataLoader(ds, batch_size=5)))
    assert x.shape == (5, 1, 4, 4) and y.tolist() == [0, 2, 4, 6, 8] and y.dtype == np.int64
    ds = make_dataset(12, (4, 4), transform=T.ToTensor(), target_transform=lambda t: t + 1)
    loader = DataLoader(ds, batch_size=5)
    assert loader._plan() is not None and next(iter(loader))[1].tolist() == [1, 2, 3, 4, 5]


def test_loader_transform_after_a_per_sample_dataset_transform(make_dataset):
    ds = make_dataset(12, (6, 6, 3), transform=lambda im: im[::-1])  # uint8 out: still an image
    x, _ = next(iter(DataLoader(ds, batch_size=4, transform=T.Compose([T.ToTensor(), T.Normalize(0.5, 0.5)]))))
    expected = (ds.data[:4, ::-1].transpose(0, 3, 1, 2) / 255 - 0.5) / 0.5
    np.testing.assert_allclose(x, expected, atol=1e-6)
    x, _ = next(iter(DataLoader(ds, batch_size=4, transform=lambda batch: batch[:, :2])))
    assert x.shape == (4, 3, 2, 6) and x.dtype == np.float32  # uint8 out of the callable: made a tensor


def test_plain_map_style_dataset(make_dataset):
    class Squares:
        def __len__(self):
            return 7

        def __getitem__(self, i):
            return np.full((1, 2, 2), i, np.float32), i

    x, y = next(iter(DataLoader(Squares(), batch_size=7)))
    assert x.shape == (7, 1, 2, 2) and (x[:, 0, 0, 0] == np.arange(7)).all() and y.dtype == np.int64
    flat = make_dataset(6, (3, 3), transform=lambda im: im.reshape(-1) / 255.0)
    x, _ = next(iter(DataLoader(flat, batch_size=6)))
    assert x.shape == (6, 9) and x.dtype == np.float32


def test_worker_errors_propagate_and_early_break_is_clean(make_dataset):
    def broken(im):
        raise RuntimeError("bad sample")

    with pytest.raises(RuntimeError, match="bad sample"):
        next(iter(DataLoader(make_dataset(20, transform=broken), 4, num_workers=2)))
    loader = DataLoader(make_dataset(2000, (2, 2)), 4, num_workers=2)
    for k, _ in enumerate(loader):
        if k == 3:
            break
    assert loader.state_dict()["batch"] == 4


def test_torch_loader_arguments_seeding_and_collate():
    ds = TensorDataset(engine.arange(10).float().reshape(10, 1), engine.arange(10))
    engine.manual_seed(3)
    first = [y.tolist() for _, y in DataLoader(ds, batch_size=4, shuffle=True, pin_memory=True,
                                                persistent_workers=False, timeout=0)]
    engine.manual_seed(3)
    again = [y.tolist() for _, y in DataLoader(ds, batch_size=4, shuffle=True)]
    assert first == again and sorted(sum(first, [])) == list(range(10))   # manual_seed repeats the order
    batches = list(DataLoader(ds, batch_size=3, collate_fn=lambda samples: [int(s[1]) for s in samples]))
    assert batches == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    with pytest.raises(NotImplementedError, match="worker_init_fn"):
        DataLoader(ds, worker_init_fn=lambda i: None)
