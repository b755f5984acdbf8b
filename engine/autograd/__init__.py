"""Reverse-mode automatic differentiation over numbacnn's kernels.

:class:`Tensor` records the operation that made it; ``loss.backward()`` runs the
recorded backward functions in reverse (:mod:`.engine`). Operations are
:class:`Function` subclasses: generic tensor math in :mod:`.ops`, the network's layers in
:mod:`engine.nn.functional` (over the Numba CPU and CUDA kernels).
"""
from .tensor import Tensor, ValuesIndices, clear_grad, device, device_type  # first: function.py needs it loaded
from .function import ArrayFunction, Function, Node  # noqa: I001
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, is_inference_mode, no_grad, set_grad_enabled

__all__ = ["ArrayFunction", "Tensor", "clear_grad", "Function", "Node", "device", "device_type", "ValuesIndices", "no_grad",
           "enable_grad", "inference_mode", "set_grad_enabled", "is_grad_enabled", "is_inference_mode"]
