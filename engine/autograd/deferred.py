"""Deferred tensors: an operation's output whose array is computed only when something
reads it, so that the operation after it can take it into one fused kernel instead.

Inside a module call (:func:`enter` / :func:`leave`, which ``Module.__call__`` runs),
:mod:`engine.nn.functional` returns a :class:`Deferred` for a few operations (a
convolution, a training batch norm, the sum of two tensors of one shape) and the next
operation either extends it (``relu`` of a pending convolution is a pending
convolution-with-ReLU; the sum of a pending batch norm and a tensor is a pending
norm-plus-residual, which the norm offers as its ``plus``) or computes a fused kernel
from what it recorded. Anything else
reads ``.array``, ``.grad_fn`` or the like, and the tensor computes itself as recorded,
then behaves as any tensor.

When the outermost module call returns, every deferred tensor made during it that is
still referenced is computed (so none outlives the weights it was made from), and so is
every impure one (a training batch norm updates its running statistics) that no fusion
took in: the result is what an eager forward gives, computed in fewer passes.
"""
from __future__ import annotations

import threading
import weakref

from . import grad_mode, ops
from .tensor import Tensor, device

_ARRAY = Tensor.__dict__["array"]        # the base class's slots, under the properties below
_GRAD_FN = Tensor.__dict__["grad_fn"]
_OUTPUT_NR = Tensor.__dict__["output_nr"]
_REQUIRES = Tensor.__dict__["requires_grad"]

_local = threading.local()


class Deferred(Tensor):
    """A tensor of known shape, dtype and device whose array ``make(spare)`` computes
    (``make`` returns a Tensor; ``spare`` is True when a fusion already consumed this
    output, so an impure computation must not repeat its side effects)."""

    __slots__ = ("kind", "args", "_make", "_meta", "_consumed", "_mode", "_plus")

    def __init__(self, kind: str, args: tuple, make, shape, dtype, device_kind: str, pure: bool = True,
                 plus=None):
        self.kind, self.args, self._make, self._plus = kind, args, make, plus
        self._meta = (tuple(shape), dtype, device_kind)
        self._consumed = False
        self._mode = grad_mode.is_grad_enabled()
        _GRAD_FN.__set__(self, None)
        _OUTPUT_NR.__set__(self, 0)
        _REQUIRES.__set__(self, self._mode and any(isinstance(a, Tensor) and a.requires_grad for a in args))
        self.grad_array = None
        self._spare = None
        self._post_hooks = None
        _local.scope.append(weakref.ref(self))
        if not pure:
            _local.impure[id(self)] = self

    # --- the decision the next operation makes --------------------------------------------
    @property
    def pending(self) -> bool:
        return self._make is not None

    def takes(self, kind: str) -> bool:
        """Whether the caller may fuse this pending ``kind`` output into its own step (it
        must then call :meth:`consume`): same grad mode as when it was made."""
        return self._make is not None and self.kind == kind and self._mode == grad_mode.is_grad_enabled()

    def plus(self, other: Tensor):
        """This output + ``other`` (of its shape) as the pending fused sum its maker offered
        (``plus``, taking this output in), or None where it offered none."""
        if self._plus is None or not self.takes(self.kind):
            return None
        self.consume()
        return self._plus(other)

    def consume(self) -> tuple:
        """What it recorded, for the fusing operation; marks it taken in."""
        self._consumed = True
        _local.impure.pop(id(self), None)
        return self.args

    def resolve(self) -> None:
        """Computes the array as recorded (once)."""
        make = self._make
        if make is None:
            return
        self._make = None
        with grad_mode.set_grad_enabled(self._mode):
            real = make(self._consumed)
        _ARRAY.__set__(self, real.array)
        _GRAD_FN.__set__(self, real.grad_fn)
        _OUTPUT_NR.__set__(self, real.output_nr)
        _REQUIRES.__set__(self, real.requires_grad)
        self.args = ()

    # --- reading it computes it -------------------------------------------------------------
    @property
    def array(self):
        self.resolve()
        return _ARRAY.__get__(self, Tensor)

    @array.setter
    def array(self, value):
        self.resolve()
        _ARRAY.__set__(self, value)

    @property
    def grad_fn(self):
        self.resolve()
        return _GRAD_FN.__get__(self, Tensor)

    @grad_fn.setter
    def grad_fn(self, value):
        self.resolve()
        _GRAD_FN.__set__(self, value)

    @property
    def output_nr(self):
        self.resolve()
        return _OUTPUT_NR.__get__(self, Tensor)

    @output_nr.setter
    def output_nr(self, value):
        _OUTPUT_NR.__set__(self, value)

    @property
    def is_leaf(self) -> bool:
        # pending: an operation's output, with a graph exactly when it requires grad (asked
        # by ``out += x``, which must not compute an output a fusion took in)
        return not self.requires_grad if self._make is not None else self.grad_fn is None

    @property
    def shape(self) -> tuple:
        return self._meta[0] if self._make is not None else tuple(_ARRAY.__get__(self, Tensor).shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self):
        return self._meta[1] if self._make is not None else super().dtype

    @property
    def device(self):
        if self._make is None:
            return Tensor.device.fget(self)
        return device(self._meta[2], 0 if self._meta[2] == "cuda" else None)


def enter() -> int:
    """A module call begins; returns the call depth before it (0: outermost)."""
    depth = getattr(_local, "depth", 0)
    if depth == 0:
        _local.scope, _local.impure = [], {}
    _local.depth = depth + 1
    return depth


def leave(depth: int, failed: bool = False) -> None:
    """A module call ends; the outermost one computes what must be (module docstring)."""
    _local.depth = depth
    if depth:
        return
    scope, impure = _local.scope, _local.impure
    _local.scope, _local.impure = None, None
    if failed:
        return
    for t in impure.values():       # side effects nobody took in: as an eager forward would
        t.resolve()
    impure.clear()
    for ref in scope:               # still referenced: computed before the weights change
        t = ref()
        if t is not None and t.pending:
            t.resolve()


def active() -> bool:
    """Whether operations may defer now (inside a module call)."""
    return getattr(_local, "depth", 0) > 0


def add(a: Tensor, b: Tensor):
    """a + b of two tensors of one shape, dtype and device, by the kernel; pending inside a
    module call (``relu`` then makes it one pass: the residual join), or taken into the
    pass of a pending summand that offers a fused sum (a training batch norm's)."""
    if active():
        for t, other in ((a, b), (b, a)):
            joined = t.plus(other) if isinstance(t, Deferred) else None
            if joined is not None:
                return joined
        return Deferred("add", (a, b), lambda spare: ops.AddSameShape.apply(a, b), a.shape, a.dtype,
                        a.device.type)
    return ops.AddSameShape.apply(a, b)
