"""Operations with a forward and a backward, as ``torch.autograd.Function``.

The engine's own operations subclass :class:`ArrayFunction`: two static methods over raw
arrays (numpy on the CPU, device arrays on CUDA; the tensors given to ``apply`` arrive
unwrapped), so no tensor is built inside a kernel call::

    class Mul(ArrayFunction):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a * b
        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            return g * b, g * a          # one gradient (or None) per positional input

A user's :class:`Function` is written the same way over tensors, as in PyTorch.
``Mul.apply(x, y)`` runs forward and, when grad mode is on and an input requires grad,
returns tensors whose ``grad_fn`` is the call's context: a :class:`Node` that keeps what
that one call saved (so a module used twice in one forward is differentiated right) and
the edges to the nodes that made its inputs. ``ctx.needs_input_grad[i]`` tells backward
which gradients are wanted; it may return None for the others.
"""
from __future__ import annotations

import contextlib
import threading

from .. import kernels
from . import grad_mode, tensor

RELEASED = ("backward through a part of the graph that was already freed: the first "
            "backward() released what the forward saved; pass retain_graph=True to the first "
            "backward() to run a second one through the same graph")


class Node:
    """One recorded call: the Function, what it saved, and where input gradients go.

    ``next_edges[i]`` is ``(node, output_index)`` for an input made by another op,
    ``(tensor, 0)`` for a leaf tensor that requires grad, or None."""

    def __init__(self, fn, next_edges, needs_input_grad):
        self.fn = fn
        self.next_edges = next_edges
        self.needs_input_grad = needs_input_grad
        self.saved = ()
        self.out_meta = ()          # (shape, dtype, device) per output, for zero gradients
        self.pre_hooks = None       # {output_index: [hook(grad) -> grad or None]}
        self.released = False

    def name(self) -> str:
        return self.fn.__name__ + "Backward"

    def __repr__(self) -> str:
        return f"<{self.name()}>"

    def save_for_backward(self, *arrays) -> None:
        self.saved = arrays

    @property
    def saved_tensors(self):
        if self.released:
            raise RuntimeError(RELEASED)
        return self.saved

    def release(self) -> None:
        self.saved = ()
        self.released = True
        for k in [k for k in self.__dict__ if k not in _NODE_FIELDS]:
            del self.__dict__[k]   # what forward put on ctx (ctx.mask = ...) goes too


_NODE_FIELDS = frozenset(("fn", "next_edges", "needs_input_grad", "saved", "out_meta", "pre_hooks",
                          "released"))


class ArrayFunction:
    """An operation over raw arrays (the engine's own operations): ``forward(ctx, *args,
    **kwargs)`` gets the tensors' arrays, ``backward(ctx, *grads)`` array gradients."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a Function subclass must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("a Function subclass must define backward(ctx, *grads)")

    differentiable_outputs = None
    """Indices of the outputs that carry gradients (None: all); e.g. max's indices don't."""

    @classmethod
    def apply(cls, *args, **kwargs):
        Tensor = tensor.Tensor
        arrays = [a.array if isinstance(a, Tensor) else a for a in args]
        record = grad_mode.is_grad_enabled() and any(
            isinstance(a, Tensor) and a.requires_grad for a in args)
        if not record:
            out = cls._forward(_Unrecorded(), arrays, kwargs)
            result = tuple(Tensor._wrap(o) for o in out) if isinstance(out, tuple) else Tensor._wrap(out)
            if _tracing:
                _traced(cls, args, kwargs, result)
            return result
        edges, needs = [], []
        for a in args:
            if isinstance(a, Tensor) and a.requires_grad:
                edges.append((a.grad_fn, a.output_nr) if a.grad_fn is not None else (a, 0))
                needs.append(True)
            else:
                edges.append(None)
                needs.append(False)
        ctx = Node(cls, edges, tuple(needs))
        out = cls._forward(ctx, arrays, kwargs)
        outs = out if isinstance(out, tuple) else (out,)
        ctx.out_meta = tuple((o.shape, o.dtype, kernels.device_of(o)) for o in outs)
        diff = cls.differentiable_outputs
        wrapped = tuple(Tensor._wrap(o, node=ctx, output_nr=i)
                        if diff is None or i in diff else Tensor._wrap(o)
                        for i, o in enumerate(outs))
        result = wrapped if isinstance(out, tuple) else wrapped[0]
        if _tracing:
            _traced(cls, args, kwargs, result)
        return result

    @classmethod
    def _forward(cls, ctx, arrays, kwargs):
        return cls.forward(ctx, *arrays, **kwargs)

    @classmethod
    def _backward(cls, ctx, grads):
        """The input gradients for output gradients ``grads`` (what the backward pass calls)."""
        return cls.backward(ctx, *grads)


class _TraceHook(threading.local):
    hook = None     # this thread's hook(fn, args, kwargs, outputs), while trace_calls runs


_trace = _TraceHook()
_tracing = 0        # threads in trace_calls now: apply's one check when none is
_tracing_lock = threading.Lock()


@contextlib.contextmanager
def trace_calls(hook):
    """While the block runs, every ``ArrayFunction.apply`` on this thread calls
    ``hook(fn, args, kwargs, outputs)`` after its forward: ``fn`` the Function class,
    ``args`` and ``kwargs`` as given to apply (tensors, raw arrays, plain values),
    ``outputs`` a tuple of the output tensors. Operations the hook runs are not traced;
    what it raises comes out of ``apply``. One tracer per thread at a time."""
    global _tracing
    if _trace.hook is not None:
        raise RuntimeError("trace_calls is already running on this thread")
    with _tracing_lock:
        _tracing += 1
    _trace.hook = hook
    try:
        yield
    finally:
        _trace.hook = None
        with _tracing_lock:
            _tracing -= 1


def _traced(fn, args, kwargs, result) -> None:
    hook = _trace.hook
    if hook is None:
        return
    _trace.hook = None
    try:
        hook(fn, args, kwargs, result if isinstance(result, tuple) else (result,))
    finally:
        _trace.hook = hook


class Function(ArrayFunction):
    """A user's operation, as ``torch.autograd.Function``: ``forward(ctx, *args)`` and
    ``backward(ctx, *grads)`` see tensors and return tensors (or None for an input that
    gets no gradient), run without recording a graph; ``ctx.save_for_backward(*tensors)``
    and ``ctx.saved_tensors`` keep what backward needs. ``MyOp.apply(x, ...)`` runs it."""

    @classmethod
    def _forward(cls, ctx, arrays, kwargs):
        wrap = tensor.Tensor._wrap
        args = [wrap(a) if _is_array(a) else a for a in arrays]
        with grad_mode.no_grad():
            out = cls.forward(ctx, *args, **kwargs)
        return tuple(_unwrap(o) for o in out) if isinstance(out, tuple) else _unwrap(out)

    @classmethod
    def _backward(cls, ctx, grads):
        with grad_mode.no_grad():
            out = cls.backward(ctx, *[tensor.Tensor._wrap(g) for g in grads])
        return tuple(None if g is None else _unwrap(g) for g in (out if isinstance(out, tuple) else (out,)))


def _is_array(a) -> bool:
    return hasattr(a, "shape") and hasattr(a, "dtype") and not isinstance(a, tensor.Tensor)


def _unwrap(t):
    if isinstance(t, tensor.Tensor):
        return t.array
    raise TypeError(f"a Function's forward and backward return tensors, got {type(t).__name__}")


class _Unrecorded:
    """The ctx a forward gets when nothing is recorded: it holds what forward sets on it
    for the call's duration, and saving is a no-op."""

    needs_input_grad = ()

    def save_for_backward(self, *arrays) -> None:
        pass
