"""The loader on the real shared data: MNIST as in the course, CIFAR-10 from the JPEG archive's hold-out."""

import os
from pathlib import Path

import numpy as np
import pytest

import datasets
from engine.data import DataLoader
from engine.data import transforms as T

SHARED_DATA = Path(os.environ.get("NUMBACNN_SHARED_DATA",
                                  Path(__file__).resolve().parents[2].parent / "shared" / "data"))
pytestmark = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"{SHARED_DATA} not present")


def test_mnist_as_in_the_course():
    ds = datasets.MNIST(SHARED_DATA, train=True,
                        transform=T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))]))
    loader = DataLoader(ds, batch_size=64, shuffle=True, num_workers=2, seed=0)
    total, mean, sq = 0, 0.0, 0.0
    for xt, y in loader:
        x = np.asarray(xt)
        assert x.shape[1:] == (1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
        total += len(x)
        mean += float(x.sum(dtype=np.float64))
        sq += float((x.astype(np.float64) ** 2).sum())
    n = total * 28 * 28
    assert total == 60000 and len(loader) == 938
    assert abs(mean / n) < 1e-3 and abs(np.sqrt(sq / n - (mean / n) ** 2) - 1) < 1e-3  # normalized


def test_cifar10_validation_split_with_augmentation():
    val = datasets.get("cifar10", SHARED_DATA, train=False)
    val.transform = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                               T.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))])
    loader = DataLoader(val, batch_size=128, shuffle=True, num_workers=2, seed=0)
    assert loader._plan() is not None
    x, y = next(iter(loader))
    assert x.shape == (128, 3, 32, 32) and set(np.unique(y)) <= set(range(10))
    assert -2.5 < x.mean() < 2.5 and x.min() >= -2.0 and x.max() <= 2.2
