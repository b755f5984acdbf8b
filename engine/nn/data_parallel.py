"""``DataParallel`` as a pass-through: on one device it runs the wrapped module, and its
state_dict keys carry torch's ``module.`` prefix, so course code that wraps a model keeps
working (numbacnn already runs every core of the CPU in each kernel)."""
from __future__ import annotations

from .module import Module


class DataParallel(Module):
    spec_layer = False  # not in specs: a model using it is described by its Python class

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0):
        super().__init__()
        self.module = module

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)
