"""Reading a state_dict from a weights file of either format the engine takes in."""
from __future__ import annotations

import json
import os

from .errors import WeightsError
from .safetensors import SPEC_KEY, is_safetensors, read_safetensors
from .state import state_dict_from
from .torch_file import torch_load

__all__ = ["read_weights", "read_state_dict"]


def read_weights(path, key: str | None = None) -> tuple[dict, dict | None]:
    """``(state_dict, spec)`` of a PyTorch checkpoint (torch.save's zip format) or a
    safetensors file, told apart by their first bytes: the state_dict ``{torch key:
    array}`` (see :func:`engine.interop.state.state_dict_from` for ``key`` and the
    wrappers it sees through) and the numbacnn model spec a safetensors file written by
    :func:`engine.interop.save_safetensors` carries (None for other files)."""
    path = os.fspath(path)
    if not is_safetensors(path):
        return state_dict_from(torch_load(path), key, source=path), None
    arrays, meta = read_safetensors(path)
    spec = None
    if SPEC_KEY in meta:
        try:
            spec = json.loads(meta[SPEC_KEY])
        except json.JSONDecodeError:
            raise WeightsError(f"{path}: its {SPEC_KEY} metadata is not valid JSON") from None
    return state_dict_from(arrays, key, source=path), spec


def read_state_dict(path, key: str | None = None) -> dict:
    """The state_dict in a PyTorch checkpoint or a safetensors file (see :func:`read_weights`)."""
    return read_weights(path, key)[0]
