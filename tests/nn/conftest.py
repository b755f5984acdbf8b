"""tests/nn fixtures: a seeded generator, and inputs without ties or kinks."""
import numpy as np
import pytest


def distinct_values(rng, shape, spacing=0.01, dtype=np.float64):
    """Values of ``shape``, pairwise at least ``spacing`` apart and at least spacing/2
    away from 0, in random order: max pooling has no ties and ReLU-like kinks are never
    within a finite-difference step of an input."""
    n = int(np.prod(shape))
    return ((rng.permutation(n) - n / 2 + 0.5) * spacing).reshape(shape).astype(dtype)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def distinct(rng):
    return lambda shape, spacing=0.01, dtype=np.float64: distinct_values(rng, shape, spacing, dtype)
