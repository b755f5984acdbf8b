import numpy as np
import pytest

from datasets import VisionDataset


@pytest.fixture
def make_dataset():
    """make_dataset(n, shape=(8, 8, 3), transform=None, **kw): a VisionDataset of
    random uint8 images whose targets are ``arange(n) % 10`` (so a target
    identifies its sample modulo 10) and whose first pixel is ``i % 256``."""

    def make(n, shape=(8, 8, 3), transform=None, **kw):
        rng = np.random.default_rng(n)
        data = rng.integers(0, 256, (n,) + tuple(shape), dtype=np.uint8)
        data.reshape(n, -1)[:, 0] = np.arange(n) % 256
        return VisionDataset(data, np.arange(n) % 10, [str(c) for c in range(10)], transform, **kw)

    return make
