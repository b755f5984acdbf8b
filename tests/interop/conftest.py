"""Fixtures of the interop tests: the PyTorch twin builder (tests/nn/torch_ref.py), where torch is installed."""
import importlib.util
import os

import pytest

TORCH_REF = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "nn", "torch_ref.py")


@pytest.fixture(scope="session")
def torch_twin():
    """(torch, from_spec): from_spec(model.spec()) is the torch module tree with the same
    state_dict keys; skips where torch is not installed."""
    torch = pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("interop_torch_ref", TORCH_REF)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return torch, module.from_spec
