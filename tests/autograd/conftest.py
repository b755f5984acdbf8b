"""tests/autograd helpers: puts this folder on sys.path (so tests can ``import
autograd_parity`` whatever pytest's import mode), seeds both libraries, and gives a rng."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import engine  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    engine.manual_seed(0)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
