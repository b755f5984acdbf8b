"""Reading a state_dict from a weights file of either format the engine takes in."""
from __future__ import annotations

import os

from .safetensors import is_safetensors, read_safetensors
from .state import state_dict_from
from .torch_pickle import torch_load

__all__ = ["read_state_dict"]


def read_state_dict(path, key: str | None = None) -> dict:
    """The state_dict ``{torch key: array}`` in a PyTorch checkpoint (torch.save's zip
    format) or a safetensors file, told apart by their first bytes; see
    :func:`engine.interop.state.state_dict_from` for ``key`` and the wrappers it sees through."""
    path = os.fspath(path)
    obj = read_safetensors(path)[0] if is_safetensors(path) else torch_load(path)
    return state_dict_from(obj, key, source=path)
