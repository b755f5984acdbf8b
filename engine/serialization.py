"""``engine.save`` / ``engine.load``, shaped like ``torch.save`` / ``torch.load``, without
pickles: what is saved is a state_dict, an optimizer's state_dict, or any nesting of
dicts, lists and tuples of tensors, arrays, numbers, strings and None, written as one
``.npz`` (the arrays) + JSON (the rest) file, atomically (the checkpoint format of
:mod:`engine.train.checkpoint`, with its checks on reading).

``load`` gives back the same structure with every array as a Tensor (on ``map_location``
if given). It also reads a file ``torch.save`` wrote (its zip format) through the
restricted reader of :mod:`engine.interop` (tensors, containers, numbers and strings only;
nothing in the file runs), and a numbacnn training checkpoint (its model's state_dict).
"""
from __future__ import annotations

import os

import numpy as np

from .autograd import Tensor
from .interop import WeightsError, torch_load
from .train import checkpoint

KEY = "saved"   # where save() puts the object in the file's JSON part


class SaveError(ValueError):
    """An object ``save`` cannot store, or a file ``load`` cannot read (one sentence)."""


def _plain(obj, where: str):
    """``obj`` with tensors as numpy arrays and tuples as lists, checked to be storable."""
    if isinstance(obj, Tensor):
        return np.array(obj.numpy())
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biuf":
            raise SaveError(f"save: {where} is an array of dtype {obj.dtype}; only numeric arrays can be saved")
        return obj
    if isinstance(obj, dict):
        for k in obj:
            if not isinstance(k, (str, int, np.integer)) or isinstance(k, bool):
                raise SaveError(f"save: {where} has the key {k!r}; keys must be strings or ints")
        return {k: _plain(v, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str, np.number, np.bool_)):
        return obj
    raise SaveError(f"save: {where} is a {type(obj).__name__}; numbacnn saves tensors, arrays, numbers, strings "
                    "and dicts/lists of them (save model.state_dict(), not the model: files are never code)")


def save(obj, f, *args, **kwargs) -> None:
    """Writes ``obj`` (a state_dict, or dicts/lists of tensors, numbers, strings) to path ``f``."""
    if not isinstance(f, (str, os.PathLike)):
        raise SaveError("save: give a file path (numbacnn does not write to open file objects)")
    checkpoint.write_archive(f, {KEY: _plain(obj, "the object")})


def _tensors(obj, device):
    if isinstance(obj, np.ndarray):
        return Tensor(obj, device=device)
    if isinstance(obj, dict):
        return {k: _tensors(v, device) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_tensors(v, device) for v in obj]
    return obj


def _device(map_location):
    if map_location is None or isinstance(map_location, str) or type(map_location).__name__ == "device":
        return map_location
    raise SaveError("load: map_location must be a device or a device name such as 'cpu'")


def load(f, map_location=None, weights_only: bool = True, **kwargs):
    """The object in file ``f`` (see the module docstring), arrays as tensors."""
    if not isinstance(f, (str, os.PathLike)):
        raise SaveError("load: give a file path (numbacnn does not read open file objects)")
    device = _device(map_location)
    path = os.fspath(f)
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as e:
        raise SaveError(f"load: {path} cannot be read ({e.strerror})") from None
    if head != b"PK\x03\x04":
        raise SaveError(f"load: {path} is neither a numbacnn file nor a PyTorch zip file (torch.save's format "
                        "since PyTorch 1.6); re-save it with a current PyTorch")
    try:
        meta, arrays = checkpoint.read_archive(path)
    except checkpoint.CheckpointError as e:
        if "not a numbacnn checkpoint" not in str(e):
            raise SaveError(str(e)) from None
        try:
            return _tensors(torch_load(path), device)
        except WeightsError as w:
            raise SaveError(str(w)) from None
    if KEY in meta:
        return _tensors(meta[KEY], device)
    state = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    return _tensors(state, device)
