"""The layer engine, shaped like torch.nn."""
from . import init
from .containers import Concat, Residual, Sequential
from .fusion import inference_mode
from .layers import *  # noqa: F401,F403
from .layers import __all__ as _layers
from .loss import CrossEntropyLoss, MSELoss
from .module import Module, Parameter, ShapeError
from .spec import from_spec, layer_types
from .summary import Summary, summary

__all__ = ["Module", "Parameter", "ShapeError", "Sequential", "Residual", "Concat", "CrossEntropyLoss",
           "MSELoss", "inference_mode", "from_spec", "layer_types", "summary", "Summary", "init", *_layers]
