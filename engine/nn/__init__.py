"""The layer engine, shaped like torch.nn."""
from . import functional, init, utils
from .containers import Concat, Identity, ModuleDict, ModuleList, Residual, Sequential
from .data_parallel import DataParallel
from .layers import *  # noqa: F401,F403
from .layers import __all__ as _layers
from .loss import CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module, Parameter, ShapeError
from .spec import from_spec, layer_types
from .summary import Summary, summary
from ..autograd import inference_mode

__all__ = ["Module", "Parameter", "ShapeError", "Sequential", "ModuleList", "ModuleDict", "Identity",
           "Residual", "Concat", "DataParallel", "CrossEntropyLoss", "NLLLoss", "MSELoss", "inference_mode",
           "from_spec", "layer_types", "summary", "Summary", "init", "functional", "utils", *_layers]
