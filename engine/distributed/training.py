"""What ``Trainer(..., distributed=True)`` (and so ``numbacnn train --distributed``) adds
to a run on every rank of an MPI job.

- At the start: an exception that nothing catches on any rank will end the whole job
  (:func:`.comm.abort_on_error`); a CUDA rank takes GPU (local rank mod GPU count); the
  model moves to its device and takes rank 0's parameters and buffers (so a different
  seed per rank cannot make the ranks diverge); a :class:`~engine.distributed.ddp.Reducer`
  averages the gradients of every backward of a training forward.
- Around every forward of the model (hooks): before a training forward, rank 0's buffers
  (batch-norm running statistics) are broadcast, as DDP does; before the first evaluation
  forward after training, again, so that every rank evaluates the same model; after a
  training forward, the reducer finds the parameters its backward will reach.
- The trainer asks it for the global mean loss of a batch (so the loss guard decides the
  same on every rank), the global totals of correct predictions and samples (so the
  metrics, the history and the checkpoints hold whole-job numbers), and whether any rank
  wants to stop (so a stop that one rank's callback asks for ends every rank's run at
  the same batch). Only rank 0 emits events: callbacks print, log and write checkpoints
  there alone.

Every rank must make the same calls in the same order (each is a collective): the
trainer does, as long as every rank trains the same configuration.
"""
from __future__ import annotations

from ..autograd import is_grad_enabled
from ..nn import Module
from .comm import Communicator, abort_on_error, world
from .ddp import DistributedDataParallel, Reducer, broadcast_arrays, broadcast_module
from .devices import select_gpu


class DistributedRun:
    """Data parallelism for one Trainer's ``model`` on ``device`` over ``comm`` (default:
    every rank of the job); ``overlap`` and ``bucket_cap_mb`` as DistributedDataParallel's."""

    def __init__(self, model: Module, device: str, comm: Communicator | None = None, overlap: bool | None = None,
                 bucket_cap_mb: float | None = None):
        if isinstance(model, DistributedDataParallel):
            raise TypeError("Trainer(distributed=True) takes the plain model (it averages the gradients itself); "
                            "pass ddp.module, not the DistributedDataParallel wrapper")
        self.comm = comm if comm is not None else world()
        abort_on_error(self.comm)
        if device == "cuda":
            select_gpu(self.comm)
        model.to(device)
        broadcast_module(model, self.comm)
        self.model = model
        self.reducer = Reducer(model.named_parameters(), self.comm, bucket_cap_mb, overlap)
        self.buffers_changed = False
        self.handles = [model.register_forward_pre_hook(self._before_forward),
                        model.register_forward_hook(self._after_forward)]

    @property
    def is_root(self) -> bool:
        return self.comm.is_root

    def _before_forward(self, module, inputs):
        training = module.training and is_grad_enabled()
        if training or self.buffers_changed:
            broadcast_arrays(self.comm, [b for _, b in module.named_buffers()])
        self.buffers_changed = training

    def _after_forward(self, module, inputs, out):
        self.reducer.prepare(out)

    def mean_loss(self, loss: float, n: int) -> float:
        """The mean loss of the whole job's batch, whose share on this rank had ``n``
        samples and mean ``loss`` (NaN if any rank's is)."""
        total, count = self.comm.sum([loss * n, n])
        return float(total / count)

    def totals(self, correct: int, n: int) -> tuple[int, int]:
        """(correct predictions, samples) summed over the ranks."""
        c, m = self.comm.sum([correct, n])
        return int(c), int(m)

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is true on any rank."""
        return self.comm.any(flag)
