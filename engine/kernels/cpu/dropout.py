"""Inverted dropout with a counter-based RNG (splitmix64), identical on every device.

Element i of call ``seed`` is kept when u(seed, i) >= p, with u uniform in [0, 1)
from a hash of (seed, i); kept elements are scaled by 1 / (1 - p). No generator
state lives in the kernel, so the GPU twin draws exactly the same mask.
"""
from __future__ import annotations

import numpy as np
from numba import njit, uint64

from .. import contracts
from ..checks import NUMPY
from .parallel import kernel, parallel_for


@njit(inline="always", cache=True)
def _uniform(seed, i):
    """u in [0, 1) from splitmix64 of seed*2^32 + i."""
    z = (uint64(seed) << uint64(32)) + uint64(i) + uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> uint64(30))) * uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> uint64(27))) * uint64(0x94D049BB133111EB)
    z = z ^ (z >> uint64(31))
    return (z >> uint64(11)) * (1.0 / 9007199254740992.0)


@kernel
def _dropout(x, p, scale, seed, y, mask, lo, hi):
    # indexes the block's slices from 0 (see activation.py); the hash takes the global index
    x, y, mask = x[lo:hi], y[lo:hi], mask[lo:hi]
    zero = y.dtype.type(0)
    for i in range(x.size):
        keep = _uniform(seed, lo + i) >= p
        m = scale if keep else zero
        mask[i] = m
        y[i] = x[i] * m


def dropout_forward(x, p, seed):
    """Returns (y, mask) with mask = scale where kept, 0 where dropped; y = x * mask."""
    contracts.dropout_forward(NUMPY, x, p, seed)
    y = np.empty(x.shape, x.dtype)  # C order: reshape(-1) below must be a view
    mask = np.empty(x.shape, x.dtype)
    scale = x.dtype.type(1.0 / (1.0 - p)) if p < 1 else x.dtype.type(0)
    parallel_for(_dropout, x.size, np.ascontiguousarray(x).reshape(-1), p, scale, np.uint64(seed),
                 y.reshape(-1), mask.reshape(-1))
    return y, mask


def dropout_backward(grad_y, mask):
    contracts.unary_backward(NUMPY, "dropout_backward", "mask", mask, grad_y)
    return grad_y * mask
