"""Argument checks for the kernels' entry points: device-free helpers that raise
:class:`engine.errors.ShapeError` with one sentence naming the kernel, the argument,
what it got and what it needs ("conv2d_backward: grad_y has shape (8, 4, 5, 5); it must
be (8, 4, 6, 6) for this x, w, stride and padding").

Each kernel set describes the arrays it takes with an :class:`Arrays`; what each kernel
requires is written once, for both sets, in :mod:`.contracts`. The checks read only
``shape``, ``dtype``, ``size`` and the layout flags, so they cost the same whatever the
arrays' size (a few microseconds a kernel call), and work alike on numpy arrays,
numba.cuda device arrays and the CUDA simulator's stand-ins.
"""
from __future__ import annotations

from typing import Callable, NoReturn

import numpy as np

from ..errors import ShapeError

FLOATS = frozenset((np.dtype(np.float32), np.dtype(np.float64)))
"""Float dtypes the kernels compute in: float32, and float64 for gradient checks."""

_INTS = (int, np.integer)
_REALS = (int, float, np.integer, np.floating)
_FLAGS = (bool, np.bool_, int, np.integer)

# How an array may be empty (``floats(empty=...)``):
BATCH = "batch"
"""Empty only as a batch of 0 samples (first dimension 0, the others >= 1): the layer
kernels' inputs; they return the empty result."""
SAMPLES = "samples"
"""Never empty, a batch of 0 included: kernels that average over the batch."""
FULL = "full"
"""Never empty: weights, biases, per-channel parameters."""
ANY = "any"
"""Empty is fine: plumbing and optimizer steps do nothing then."""


def fail(fn: str, message: str) -> NoReturn:
    raise ShapeError(f"{fn}: {message}")


def show(v) -> str:
    """repr(v), cut short: messages stay one line whatever was passed."""
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


class Arrays:
    """The arrays one kernel set takes. ``kind`` names them in messages; ``types``: the
    classes of the arrays it reads (any layout: the kernels copy what they cannot read in
    place); ``owns(a)``: a is one it may write in place (its own C-contiguous, writable
    array); ``advice`` ends the message for a device array the set cannot read."""

    __slots__ = ("kind", "types", "owns", "advice")

    def __init__(self, kind: str, types: tuple, owns: Callable[[object], bool], advice: str = ""):
        self.kind = kind
        self.types = types
        self.owns = owns
        self.advice = advice

    def refuse(self, fn: str, name: str, a) -> NoReturn:
        """Raises: ``a`` (argument ``name``) is not an array this set takes."""
        if hasattr(a, "copy_to_host") and not isinstance(a, np.ndarray):
            advice = f" ({self.advice})" if self.advice else ""
            fail(fn, f"{name} is a CUDA device array; it must be a {self.kind}{advice}")
        fail(fn, f"{name} is {show(a)}; it must be a {self.kind}")


def _numpy_owns(a) -> bool:
    if not isinstance(a, np.ndarray):
        return False
    f = a.flags
    return f.c_contiguous and f.writeable


NUMPY = Arrays("numpy array", (np.ndarray,), _numpy_owns,
               "the CPU kernels do not read device memory: move the module to 'cuda', or the array to the host")
"""The CPU kernel set's arrays."""


def array(arrays: Arrays, fn: str, name: str, a) -> None:
    """a is an array the set takes (any dtype)."""
    if not isinstance(a, arrays.types):
        arrays.refuse(fn, name, a)


def floats(arrays: Arrays, fn: str, *named, dtype=None, empty: str = BATCH, full: tuple = ()) -> np.dtype:
    """``named`` alternates argument names and arrays: each array is one ``arrays`` takes,
    float32 or float64, all of one dtype (of ``dtype`` when given), and empty only as
    ``empty`` allows (those named in ``full``: never). Returns the dtype."""
    types = arrays.types
    for i in range(0, len(named), 2):
        a = named[i + 1]
        if not isinstance(a, types):
            arrays.refuse(fn, named[i], a)
        dt = a.dtype
        if dt not in FLOATS:
            fail(fn, f"{named[i]} has dtype {dt}; it must be float32 (or float64, for gradient checks)")
        if dtype is None:
            dtype = dt
        elif dt != dtype:
            fail(fn, f"{named[i]} has dtype {dt} but the other arrays of this call have {dtype}; "
                     "one call takes one float dtype")
        if a.size == 0 and empty != ANY:
            _empty(fn, named[i], tuple(a.shape), FULL if named[i] in full else empty)
    return dtype


def _empty(fn: str, name: str, shape: tuple, empty: str) -> None:
    """Raises unless an array of this (empty) shape is allowed by ``empty``."""
    batch = len(shape) > 1 and shape[0] == 0 and all(shape[1:])
    if batch and empty == BATCH:
        return
    if batch and empty == SAMPLES:
        fail(fn, f"{name} has shape {shape}, a batch of 0 samples; it needs at least one")
    if empty == BATCH:
        fail(fn, f"{name} has shape {shape}; only its batch (first) dimension may be 0")
    fail(fn, f"{name} has shape {shape} with no elements; every dimension must be at least 1")


def indices(arrays: Arrays, fn: str, name: str, a, dtype, shape: tuple) -> None:
    """a is an array ``arrays`` takes, of integer ``dtype`` and exactly ``shape``."""
    if not isinstance(a, arrays.types):
        arrays.refuse(fn, name, a)
    if a.dtype != dtype:
        fail(fn, f"{name} has dtype {a.dtype}; it must be {np.dtype(dtype)}")
    if a.shape != shape:
        fail(fn, f"{name} has shape {tuple(a.shape)}; it must be {shape}")


def ndim(fn: str, name: str, a, n: int, layout: str, at_least: bool = False) -> None:
    """a has n dimensions (n or more with ``at_least``); ``layout`` names them, e.g. "(N, C, H, W)"."""
    d = len(a.shape)
    if d != n and not (at_least and d > n):
        fail(fn, f"{name} has shape {tuple(a.shape)}; it must be {layout}")


def shape(fn: str, name: str, a, want: tuple, why: str) -> None:
    """a.shape == want; ``why`` says where want comes from ("for this x and w")."""
    if a.shape != want:
        fail(fn, f"{name} has shape {tuple(a.shape)}; it must be {want} {why}")


def writable(arrays: Arrays, fn: str, name: str, a) -> None:
    """a is an array the set may write in place (checked after its dtype and shape)."""
    if not arrays.owns(a):
        fail(fn, f"{name} is written in place, so it must be a C-contiguous, writable {arrays.kind}")


def pair(fn: str, name: str, v, least: int) -> tuple[int, int]:
    """v is two integers, each >= least; returns them as a tuple."""
    if isinstance(v, (tuple, list)) and len(v) == 2:
        a, b = v
        if isinstance(a, _INTS) and isinstance(b, _INTS) and a >= least and b >= least:
            return v if type(v) is tuple else (a, b)
    fail(fn, f"{name} is {show(v)}; it must be a pair of integers >= {least}")


def shape_arg(fn: str, name: str, v, n: int) -> tuple:
    """v is a shape of n integers (a shape passed as an argument, e.g. x_shape): the first,
    the batch, >= 0 and the others >= 1. Returns it as a tuple of ints."""
    if (isinstance(v, (tuple, list)) and len(v) == n and all(isinstance(s, _INTS) for s in v)
            and v[0] >= 0 and all(s >= 1 for s in v[1:])):
        return tuple(int(s) for s in v)
    fail(fn, f"{name} is {show(v)}; it must be {n} integers, the first >= 0 and the others >= 1")


def integer(fn: str, name: str, v, least: int, below: int | None = None) -> None:
    """v is an integer in [least, below) (no upper bound when below is None)."""
    if not isinstance(v, _INTS) or isinstance(v, bool) or v < least or (below is not None and v >= below):
        bound = f"in [{least}, {below})" if below is not None else f">= {least}"
        fail(fn, f"{name} is {show(v)}; it must be an integer {bound}")


def real(fn: str, name: str, v, lo: float | None = None, hi: float | None = None,
         hi_open: bool = False) -> None:
    """v is a real number (not an array), in [lo, hi] (or [lo, hi) with hi_open) when given."""
    if isinstance(v, _REALS) and not isinstance(v, bool):
        if (lo is None or v >= lo) and (hi is None or (v < hi if hi_open else v <= hi)):
            return
        if hi is None:
            fail(fn, f"{name} is {show(v)}; it must be >= {lo}")
        fail(fn, f"{name} is {show(v)}; it must be in [{lo}, {hi}{')' if hi_open else ']'}")
    fail(fn, f"{name} is {show(v)}; it must be a real number")


def flag(fn: str, name: str, v) -> None:
    """v is a truth value (bool, or an integer used as one)."""
    if not isinstance(v, _FLAGS):
        fail(fn, f"{name} is {show(v)}; it must be True or False")
