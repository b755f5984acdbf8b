"""Weights in and out without pickles and without PyTorch: PyTorch checkpoints
(``torch.save``'s zip format) read by a restricted reader, safetensors files read and
written, all keyed by torch's state_dict names.

    state = engine.interop.read_state_dict("resnet20.pt")      # or .safetensors
    model.load_state_dict(state)
    engine.interop.save_safetensors(model, "resnet20.safetensors")
"""
from .errors import WeightsError
from .safetensors import load_safetensors, read_safetensors, save_safetensors
from .state import load_into, state_dict_from
from .torch_file import torch_load
from .weights import read_state_dict, read_weights

__all__ = ["WeightsError", "torch_load", "state_dict_from", "load_into", "read_state_dict", "read_weights", "save_safetensors",
           "load_safetensors", "read_safetensors"]
