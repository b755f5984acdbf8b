"""The state_dict inside what a weights file holds, and loading it into a model.

A training script saves either the bare state_dict (``{"0.weight": array, ...}``) or a
dict that wraps it with other things (``{"net": state_dict, "acc": 91.2, "epoch": 30}``,
``{"model_state_dict": ..., "optimizer_state_dict": ...}``); models wrapped in
``torch.nn.DataParallel`` or compiled with ``torch.compile`` prefix every key with
``module.`` or ``_orig_mod.``. :func:`state_dict_from` finds the state_dict and strips those.
"""
from __future__ import annotations

import numpy as np

from .errors import WeightsError

__all__ = ["WRAPPER_KEYS", "state_dict_from", "load_into"]

WRAPPER_KEYS = ("state_dict", "model_state_dict", "model_state", "model", "net", "network", "weights", "params")
"""Entries of a wrapper dict that name the model's state_dict, most telling first (used when
a file holds several state_dicts, e.g. the model's and an EMA copy's)."""

PREFIXES = ("module.", "_orig_mod.")


def _is_state_dict(obj) -> bool:
    return (isinstance(obj, dict) and len(obj) > 0
            and all(isinstance(k, str) and isinstance(v, np.ndarray) for k, v in obj.items()))


def _candidates(obj, path: str, depth: int, out: dict) -> None:
    """Every state_dict in ``obj`` within two levels of dicts, by dotted path."""
    if _is_state_dict(obj):
        out[path] = obj
    elif isinstance(obj, dict) and depth < 2:
        for k, v in obj.items():
            if isinstance(k, str):
                _candidates(v, f"{path}.{k}" if path else k, depth + 1, out)


def _strip(state: dict) -> dict:
    """Drops a prefix of PREFIXES that every key shares (repeatedly: DataParallel of a compiled model)."""
    while True:
        prefix = next((p for p in PREFIXES if all(k.startswith(p) for k in state)), None)
        if prefix is None:
            return state
        state = {k[len(prefix):]: v for k, v in state.items()}


def state_dict_from(obj, key: str | None = None, source: str = "the weights file") -> dict:
    """The state_dict ``{torch key: array}`` in ``obj`` (what :func:`torch_load` or
    :func:`read_safetensors` gives): ``obj`` itself when it is one; else entry ``key`` of
    the wrapper dict when given; else the one state_dict inside (nested up to two dicts
    deep; when there are several, the first whose name is in WRAPPER_KEYS). A ``module.``
    or ``_orig_mod.`` prefix shared by every key is removed. ``source`` names the file in
    errors (WeightsError)."""
    if isinstance(obj, dict) and not obj:
        return {}
    if key is not None:
        if not isinstance(obj, dict) or key not in obj:
            have = ", ".join(repr(k) for k in obj) if isinstance(obj, dict) else f"a {type(obj).__name__}"
            raise WeightsError(f"{source} has no entry {key!r} (it holds {_clip(have)})")
        if not _is_state_dict(obj[key]):
            raise WeightsError(f"entry {key!r} of {source} is not a state_dict (names mapped to tensors)")
        return _strip(obj[key])
    found: dict = {}
    _candidates(obj, "", 0, found)
    if not found:
        raise WeightsError(f"{source} holds no state_dict (a dict of names mapped to tensors); it holds "
                           f"{_describe(obj)}")
    if len(found) > 1:
        named = sorted((p for p in found if p.split(".")[-1] in WRAPPER_KEYS),
                       key=lambda p: WRAPPER_KEYS.index(p.split(".")[-1]))
        if not named:
            raise WeightsError(f"{source} holds {len(found)} state_dicts ({_clip(', '.join(found))}); "
                               "name the one to use (key= / --key)")
        found = {named[0]: found[named[0]]}
    return _strip(next(iter(found.values())))


def _describe(obj) -> str:
    if isinstance(obj, dict):
        return _clip("a dict of " + ", ".join(f"{k!r}: {type(v).__name__}" for k, v in obj.items()))
    return f"a {type(obj).__name__}"


def _clip(text: str, n: int = 160) -> str:
    return text if len(text) <= n else text[:n - 3] + "..."


def load_into(model, state: dict, source: str = "the weights file"):
    """``model.load_state_dict(state)`` (strict: the same keys and shapes), with a mismatch
    reported as one WeightsError naming ``source``. Returns ``model``."""
    try:
        model.load_state_dict(state)
    except (KeyError, ValueError) as e:
        raise WeightsError(f"{source} does not fit the model: {e.args[0] if e.args else e}") from None
    return model

