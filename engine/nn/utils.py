"""``engine.nn.utils``, shaped like ``torch.nn.utils``: gradient clipping."""
from __future__ import annotations

import math

import numpy as np

from .. import kernels
from ..autograd import Tensor


def _grads(parameters):
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad_array for p in params if p.grad_array is not None]


def _host(a) -> np.ndarray:
    return np.asarray(kernels.ops(kernels.device_of(a)).to_host(a))


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False) -> Tensor:
    """Scales the gradients in place so that their joint ``norm_type``-norm is at most
    ``max_norm``; returns the norm before clipping (as torch)."""
    grads = _grads(parameters)
    if not grads:
        return Tensor(np.asarray(0.0, np.float32))
    hosts = [_host(g).astype(np.float64) for g in grads]
    if norm_type == math.inf:
        total = max(float(np.abs(h).max(initial=0)) for h in hosts)
    else:
        total = float(sum(float((np.abs(h) ** norm_type).sum()) for h in hosts) ** (1.0 / norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"the total norm of order {norm_type} of the gradients is {total}")
    scale = max_norm / (total + 1e-6)
    if scale < 1:
        for g, h in zip(grads, hosts):
            ops = kernels.ops(kernels.device_of(g))
            ops.copy_into(g, ops.asarray((h * scale).astype(g.dtype), dtype=g.dtype))
    return Tensor(np.asarray(total, np.float32))


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamps every gradient element into [-clip_value, clip_value] in place."""
    for g in _grads(parameters):
        ops = kernels.ops(kernels.device_of(g))
        ops.copy_into(g, ops.asarray(np.clip(_host(g), -clip_value, clip_value), dtype=g.dtype))
