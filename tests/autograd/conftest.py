"""tests/autograd fixtures: both libraries seeded, and a rng (the parity helpers are
helpers/autograd_parity.py)."""
import numpy as np
import pytest

import engine


@pytest.fixture(autouse=True)
def _seed():
    engine.manual_seed(0)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
