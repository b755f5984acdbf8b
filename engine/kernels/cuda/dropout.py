"""Inverted dropout on the GPU with the CPU's counter-based RNG, so both draw the same mask.

The CPU keeps element i of call ``seed`` when ``u(seed, i) >= p`` with
``u = (splitmix64(seed*2^32 + i) >> 11) * 2^-53`` (engine/kernels/cpu/dropout.py).
Multiplying by 2^-53 is exact in float64, so ``u >= p`` is the same test as the integer
one ``(splitmix64(...) >> 11) >= ceil(p * 2^53)``, which this kernel does: the GPU mask is
bit-identical to the CPU's, with no float64 arithmetic on the device.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda, uint64

from .. import contracts
from . import memory
from .memory import flat
from .runtime import DEVICE, SIM, grid1d, inline_device, scalar

_MASK64 = (1 << 64) - 1

if SIM:
    # The simulator runs this in Python, where numpy's uint64 warns on the (intended)
    # wrap-around: the same splitmix64 on Python ints, reduced mod 2^64.
    @cuda.jit(device=True)
    def bits53(seed, i):
        z = ((int(seed) << 32) + int(i) + 0x9E3779B97F4A7C15) & _MASK64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        z = z ^ (z >> 31)
        return uint64(z >> 11)
else:
    @inline_device
    def bits53(seed, i):
        """The top 53 bits of splitmix64(seed*2^32 + i), as in cpu/dropout._uniform."""
        z = (uint64(seed) << uint64(32)) + uint64(i) + uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> uint64(30))) * uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> uint64(27))) * uint64(0x94D049BB133111EB)
        z = z ^ (z >> uint64(31))
        return z >> uint64(11)


@cuda.jit(fastmath=True)
def _dropout(x, threshold, scale, seed, y, mask):
    start, step = cuda.grid(1), cuda.gridsize(1)
    zero = scale - scale
    for i in range(start, x.size, step):
        m = scale if bits53(seed, i) >= threshold else zero
        mask[i] = m
        y[i] = x[i] * m


@cuda.jit(fastmath=True)
def _mul(a, b, out):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, out.size, step):
        out[i] = a[i] * b[i]


def _threshold53(p: float) -> int:
    """The integer t with (bits >= t) <=> (bits * 2^-53 >= p) for every 53-bit integer."""
    return int(math.ceil(float(p) * 2.0**53))


def dropout_forward(x, p, seed):
    """Returns (y, mask) with mask = scale where kept, 0 where dropped; y = x * mask."""
    contracts.dropout_forward(DEVICE, x, p, seed)
    y = memory.empty(x.shape, x.dtype, "dropout output")
    mask = memory.empty(x.shape, x.dtype, "dropout mask")
    scale = scalar(x, 1.0 / (1.0 - p)) if p < 1 else scalar(x, 0)
    if y.size:
        _dropout[grid1d(y.size)](flat(x), np.uint64(_threshold53(p)), scale, np.uint64(seed),
                                 flat(y), flat(mask))
    return y, mask


def dropout_backward(grad_y, mask):
    contracts.unary_backward(DEVICE, "dropout_backward", "mask", mask, grad_y)
    dx = memory.empty(grad_y.shape, grad_y.dtype, "dropout gradient")
    if dx.size:
        _mul[grid1d(dx.size)](flat(grad_y), flat(mask), flat(dx))
    return dx
