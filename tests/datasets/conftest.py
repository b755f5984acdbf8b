import os
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("NUMBACNN_SHARED_DATA",
                                  Path(__file__).resolve().parents[2].parent / "shared" / "data"))


@pytest.fixture
def shared_data():
    """The read-only shared data folder (real MNIST, CIFAR-10 JPEG archive); skip without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not present")
    return SHARED_DATA


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A private, empty decode cache for the test."""
    path = tmp_path / "cache"
    monkeypatch.setenv("NUMBACNN_CACHE", str(path))
    return path
