"""Fixtures of the interop tests: the PyTorch twin builder, where torch is installed."""
import importlib

import pytest


@pytest.fixture(scope="session")
def torch_twin():
    """(torch, from_spec): from_spec(model.spec()) is the torch module tree with the same
    state_dict keys (engine.interop.torch_twin); skips where torch is not installed."""
    torch = pytest.importorskip("torch")
    return torch, importlib.import_module("engine.interop.torch_twin").from_spec
