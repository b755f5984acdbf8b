"""sigmoid and tanh of one float32 as branch-free arithmetic, which LLVM vectorises with
the loop around it; float64 (gradient checks) keeps the C library's functions.

Numba compiles ``math.exp`` and ``math.tanh`` to a call into the C library per element,
which no loop around them vectorises: the sigmoid of LeNet-5's first feature maps (batch
64, 301k elements) took 3.5-9 ms on one core of the development machine, 12-30 ns per
element, and tanh 6-16 ms. These take 0.3-0.9 ms (8 lanes at a time), measured in one
process, interleaved:

    sigmoid(v)   1 / (1 + e^-v), with e^u by Cephes' expf: u clamped to [-87, 88],
                 u = k ln2 + r with |r| <= ln2 / 2 (ln 2 in two parts), e^r by a degree-7
                 polynomial, times 2^k made from its bits (:func:`.simd.bits_float`);
                 relative error < 1e-7 (measured) down to v = -87; below, about 6e-39
                 for the true value's 0 to 6e-39
    tanh(v)      |v| < 0.625: Cephes' tanhf odd polynomial; beyond: 1 - 2 / (e^2|v| + 1)
                 with |v| clamped at 44 (tanh is 1 in float32 from 9 on), the sign of v;
                 relative error < 1e-7 (measured)

A NaN passes through each of them (where the caller's fast-math flags keep NaN checks:
:data:`NAN_PRESERVING`); infinities give the limits.

Call them from kernels and helpers (``vmath.sigmoid(v)``): they are Numba overloads
inlined into the caller, chosen by the argument's type.
"""
from __future__ import annotations

import math

import numpy as np
from numba import types
from numba.extending import overload

from .parallel import helper
from .simd import bits_float

NAN_PRESERVING = {"nsz", "arcp", "contract", "afn", "reassoc"}
"""fastmath without "nnan"/"ninf": a NaN must pass through an activation (as in torch), or
a diverged run would look finite to the trainer's NaN guard."""

_F = np.float32
_LOG2E, _LN2_HI, _LN2_LO = _F(1.44269504088896341), _F(0.693359375), _F(-2.12194440e-4)
_EXP_LO, _EXP_HI = _F(-87.0), _F(88.0)
_TANH_SMALL, _TANH_CLAMP = _F(0.625), _F(44.0)


@helper
def _exp32(v):
    u = _EXP_HI if v > _EXP_HI else v
    u = _EXP_LO if u < _EXP_LO else u
    k = math.floor(u * _LOG2E + _F(0.5))
    r = u - k * _LN2_HI - k * _LN2_LO
    p = _F(1.9875691500e-4)
    p = p * r + _F(1.3981999507e-3)
    p = p * r + _F(8.3334519073e-3)
    p = p * r + _F(4.1665795894e-2)
    p = p * r + _F(1.6666665459e-1)
    p = p * r + _F(5.0000001201e-1)
    p = p * r * r + r + _F(1.0)
    e = p * bits_float(np.int32((np.int64(k) + 127) << 23))  # Numba computes int32 + int32 in int64
    return v if v != v else e


@helper
def _tanh32(v):
    a = abs(v)
    z = v * v
    small = ((((_F(-5.70498872745e-3) * z + _F(2.06390887954e-2)) * z - _F(5.37397155531e-2)) * z
              + _F(1.33314422036e-1)) * z - _F(3.33332819422e-1)) * z * v + v
    c = _TANH_CLAMP if a > _TANH_CLAMP else a
    big = math.copysign(_F(1.0) - _F(2.0) / (_exp32(c + c) + _F(1.0)), v)
    t = small if a < _TANH_SMALL else big
    return v if v != v else t


def sigmoid(v):
    """1 / (1 + e^-v) (see the module docstring)."""
    return 1 / (1 + math.exp(-v))


def tanh(v):
    """tanh(v) (see the module docstring)."""
    return math.tanh(v)


@overload(sigmoid, inline="always")
def _sigmoid(v):
    if v == types.float32:
        return lambda v: _F(1.0) / (_F(1.0) + _exp32(-v))

    def sigmoid64(v):
        if v >= 0:
            return 1 / (1 + math.exp(-v))
        e = math.exp(v)
        return e / (1 + e)
    return sigmoid64


@overload(tanh, inline="always")
def _tanh(v):
    if v == types.float32:
        return lambda v: _tanh32(v)
    return lambda v: math.tanh(v)
