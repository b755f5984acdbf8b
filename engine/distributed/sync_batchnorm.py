"""SyncBatchNorm: batch normalisation over the global batch of all ranks, shaped like
``torch.nn.SyncBatchNorm``.

By default (as in torch's DDP) each rank's BatchNorm normalises with the statistics of its
own share of the batch. ``SyncBatchNorm.convert_sync_batchnorm(model)`` swaps every
BatchNorm1d/2d for this layer, which in training normalises with those of the whole
global batch, so 2 ranks of batch B compute what one process of batch 2B computes:

forward:  each rank sums, per channel, d = x - K and d^2 over its (N, L) values (K =
          running_mean, the same on every rank, so the variance does not cancel) and
          counts them; one allreduce gives S1, S2, M over all ranks; then
          mean = K + S1/M, var = S2/M - (S1/M)^2 (biased), and the running statistics
          take the unbiased var * M/(M-1), as torch.
backward: with xhat = (x - mean) / sqrt(var + eps) and g = dL/dy of this rank, one
          allreduce of the per-channel sums of g and g * xhat (Sg, Sgx) gives
          dx = gamma / sqrt(var + eps) * (g - Sg/M - xhat * Sgx/M); dgamma and dbeta are
          this rank's own sums (DDP then averages them like every gradient).

The per-channel sums run on host arrays in numpy (float64 accumulation); the
normalisation itself is the kernel set's ``batchnorm_forward_eval`` with the global
statistics. In eval mode, or in a job of one rank, the layer is a BatchNorm. Its spec and
state_dict are those of the BatchNorm it replaced, so checkpoints of converted models load
into plain ones.
"""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..autograd import ArrayFunction
from ..errors import ShapeError
from ..nn import BatchNorm1d, BatchNorm2d, Module
from ..nn.layers.normalization import _BatchNorm
from .comm import Communicator, initialized, world


def _ncl(a: np.ndarray) -> np.ndarray:
    """(N, C, ...) as (N, C, L)."""
    return a.reshape(a.shape[0], a.shape[1], -1)


class _SyncBatchNorm(ArrayFunction):
    @staticmethod
    def forward(ctx, x, gamma, beta, running_mean, running_var, momentum, eps, comm):
        ops = kernels.ops(kernels.device_of(x))
        x3 = _ncl(np.asarray(ops.to_host(x)))
        C = x3.shape[1]
        shift = np.asarray(ops.to_host(running_mean))
        d = x3 - shift.astype(x3.dtype)[None, :, None]
        sums = np.concatenate([d.sum(axis=(0, 2), dtype=np.float64), np.square(d).sum(axis=(0, 2), dtype=np.float64),
                               [x3.shape[0] * x3.shape[2]]])
        comm.allreduce_(sums)
        M = sums[-1]
        if M < 2:
            raise ShapeError(f"SyncBatchNorm in training mode needs more than one value per channel over all ranks, "
                             f"got {int(M)} (use a batch > 1, or eval())")
        m1 = sums[:C] / M
        var = np.maximum(sums[C:2 * C] / M - m1 * m1, 0.0)
        mean = shift + m1
        y, _ = ops.batchnorm_forward_eval(x, gamma, beta, mean.astype(x3.dtype), var.astype(x3.dtype), eps)
        dtype = np.dtype(running_mean.dtype)
        ops.copy_into(running_mean, ((1 - momentum) * shift + momentum * mean).astype(dtype))
        new_var = (1 - momentum) * np.asarray(ops.to_host(running_var)) + momentum * var * (M / (M - 1))
        ops.copy_into(running_var, new_var.astype(dtype))
        ctx.save_for_backward(x, gamma)
        ctx.stats = (mean, 1.0 / np.sqrt(var + eps), M, comm)
        return y

    @staticmethod
    def backward(ctx, g):
        x, gamma = ctx.saved_tensors
        mean, invstd, M, comm = ctx.stats
        ops = kernels.ops(kernels.device_of(g))
        g3 = _ncl(np.asarray(ops.to_host(g)))
        xhat = (_ncl(np.asarray(ops.to_host(x))) - mean[None, :, None]) * invstd[None, :, None]
        sg = g3.sum(axis=(0, 2), dtype=np.float64)
        sgx = np.einsum("ncl,ncl->c", g3, xhat)
        dgamma, dbeta = sgx.astype(g3.dtype), sg.astype(g3.dtype)
        totals = comm.allreduce_(np.concatenate([sg, sgx]))
        C = g3.shape[1]
        k = (np.asarray(ops.to_host(gamma), np.float64) * invstd)[None, :, None]
        dx = (k * (g3 - (totals[:C] / M)[None, :, None] - xhat * (totals[C:] / M)[None, :, None])).astype(g3.dtype)
        return (ops.asarray(dx.reshape(g.shape), dtype=dx.dtype), ops.asarray(dgamma, dtype=dgamma.dtype),
                ops.asarray(dbeta, dtype=dbeta.dtype))


class SyncBatchNorm(_BatchNorm):
    """Batch norm over the global batch (module docstring). Takes (N, C), (N, C, L) or
    (N, C, H, W). process_group: a Communicator (default: every rank of the job, once MPI
    is initialised; before that, a job of one). ``spec_type`` names the BatchNorm class
    its spec rebuilds (BatchNorm2d unless converted from a BatchNorm1d)."""

    spec_layer = True

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 process_group: Communicator | None = None, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        self.process_group = process_group
        self.spec_type = "BatchNorm2d"

    def output_shape(self, shape):
        if len(shape) not in (1, 2, 3) or shape[0] != self.num_features:
            raise ShapeError(f"SyncBatchNorm got input of shape {tuple(shape)}; it needs ({self.num_features},), "
                             f"({self.num_features}, L) or ({self.num_features}, H, W)")
        return tuple(shape)

    def spec(self) -> dict:
        return {"type": self.spec_type, **self.config()}

    def forward(self, x):
        comm = self.process_group if self.process_group is not None else world() if initialized() else None
        if not self.training or comm is None or comm.size == 1:
            return super().forward(x)
        self.output_shape(x.shape[1:])
        self.num_batches_tracked += 1
        x = x.contiguous()
        return _SyncBatchNorm.apply(x, self.weight, self.bias, self.running_mean, self.running_var, self.momentum,
                                    self.eps, comm)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Communicator | None = None) -> Module:
        """``module`` with every BatchNorm1d/2d replaced by a SyncBatchNorm that shares its
        parameters and buffers (the module itself if it is one; containers are changed in
        place)."""
        if isinstance(module, (BatchNorm1d, BatchNorm2d)):
            sync = cls(module.num_features, module.eps, module.momentum, process_group=process_group)
            sync.spec_type = type(module).__name__
            sync.weight, sync.bias = module.weight, module.bias
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                sync.register_buffer(name, getattr(module, name))
            sync.device = module.device
            sync.train(module.training)
            return sync
        for name, child in list(module.named_children()):
            new = cls.convert_sync_batchnorm(child, process_group)
            if new is not child:
                setattr(module, name, new)
        return module
