"""Stopping a run inside a training step: once the run is asked to stop, a long step (a
big batch through a big model) is abandoned between two module calls of its forward pass
or two parameter gradients of its backward pass, and undone, so the model is what it was
after the last completed step: the weights untouched (the optimizer never ran), the
buffers (batch norm's running statistics) and the dropout counters put back. A
checkpoint written then is one of a completed step, and resuming it repeats the
abandoned step exactly.

    guard = StepGuard(model, stop_event.is_set)
    with guard:                          # hooks on every module and parameter
        guard.begin()                    # before each step: keeps the buffers and counters
        try:
            loss = criterion(model(x), y)
            loss.backward()
        except StepCancelled:
            guard.undo()                 # the model as it was before the step
        finally:
            guard.end()

The checks cost one flag test per module call and per parameter; outside ``begin`` /
``end`` (evaluation, snapshots, predictions between steps) they never fire.
"""
from __future__ import annotations

from .. import kernels
from .run_state import _dropouts

__all__ = ["StepCancelled", "StepGuard"]


class StepCancelled(Exception):
    """The step in progress was abandoned because the run was asked to stop."""


class StepGuard:
    """Makes the steps of ``model`` cancellable by ``should_stop()`` (a function of no
    arguments, e.g. ``threading.Event.is_set``, called on the training thread); None
    makes every method a no-op (a distributed run, whose ranks must stop together)."""

    def __init__(self, model, should_stop=None):
        self.model = model
        self.should_stop = should_stop
        self.armed = False
        self._handles: list = []
        self._kept: dict = {}              # buffer name -> (the live array, a copy kept before the step)
        self._counters: list = []          # (dropout module, its RNG state before the step)

    # -- hooks ----------------------------------------------------------------------------
    def __enter__(self) -> "StepGuard":
        if self.should_stop is not None:
            for _, module in self.model.named_modules():
                self._handles.append(module.register_forward_pre_hook(self._check))
            for p in self.model.parameters():
                self._handles.append(p.register_post_accumulate_grad_hook(self._check))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self._kept.clear()
        self.armed = False

    def _check(self, *_):
        if self.armed and self.should_stop():
            self.armed = False             # raised once; the unwinding and the undo run unchecked
            raise StepCancelled("the step was abandoned: the run was asked to stop")

    # -- a step -----------------------------------------------------------------------------
    def begin(self) -> None:
        """A step begins: keeps what its forward pass changes besides the weights."""
        if self.should_stop is None:
            return
        for name, buf in self.model.named_buffers():
            live, copy = self._kept.get(name, (None, None))
            ops = kernels.ops(kernels.device_of(buf))
            if live is not buf or copy.shape != buf.shape or copy.dtype != buf.dtype:
                copy = ops.zeros_like(buf)
            ops.copy_into(copy, buf)
            self._kept[name] = (buf, copy)
        self._counters = [(m, m.get_rng_state()) for _, m in _dropouts(self.model)]
        self.armed = True

    def end(self) -> None:
        """The step is over (completed or undone): the checks rest until the next one."""
        self.armed = False

    def undo(self) -> None:
        """After StepCancelled: the buffers and dropout counters as ``begin`` found them,
        and no gradients left over from the abandoned backward pass."""
        self.armed = False
        for live, copy in self._kept.values():
            kernels.ops(kernels.device_of(live)).copy_into(live, copy)
        for module, state in self._counters:
            module.set_rng_state(state)
        self.model.zero_grad()
