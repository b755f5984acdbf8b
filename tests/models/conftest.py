"""tests/models: share the torch twin helper of tests/nn (``import torch_ref``)."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "nn"))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
