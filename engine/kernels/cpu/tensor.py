"""Array plumbing every device set provides: allocation, transfer, joins and sums.

On the CPU the arrays are numpy arrays, so most of these are thin.
"""
from __future__ import annotations

import numpy as np

from .. import contracts
from ..checks import NUMPY
from .parallel import kernel, parallel_for


def as_ncl(a, dims):
    """a as a C-contiguous (N, C, L) array (a view when it can be); dims = (N, C, L)
    (contracts.ncl of a's shape). The per-channel kernels (batch norm, LRN) read this way."""
    return np.ascontiguousarray(a).reshape(dims)


def asarray(a, dtype=None):
    """A device (here: host) array holding ``a``."""
    return contracts.asarray(a, dtype)


def synchronize() -> None:
    """Waits for queued work: CPU kernels return when they are done, so nothing to wait for."""


def to_host(a):
    """A numpy array holding ``a``."""
    return np.asarray(a)


def zeros(shape, dtype=np.float32):
    return np.zeros(contracts.zeros(NUMPY, shape, dtype), dtype)


def zeros_like(a):
    contracts.zeros_like(NUMPY, a)
    return np.zeros(a.shape, a.dtype)


def fill(a, value):
    contracts.fill(NUMPY, a, value)
    a.fill(value)


def copy_into(dst, src):
    """dst[...] = src (same shape; src's dtype converts to dst's)."""
    contracts.copy_into(NUMPY, dst, src)
    np.copyto(dst, src)


@kernel
def _add(a, b, relu, out, lo, hi):
    # indexes the block's slices from 0, so LLVM can vectorise (see activation.py)
    a, b, out = a[lo:hi], b[lo:hi], out[lo:hi]
    if relu:
        for i in range(out.size):
            out[i] = max(a[i] + b[i], 0)
    else:
        for i in range(out.size):
            out[i] = a[i] + b[i]


def add(a, b, relu=False):
    """a + b, same shapes (the residual join); max(a + b, 0) with relu."""
    contracts.add(NUMPY, a, b, relu)
    out = np.empty(a.shape, a.dtype)  # C order, so out.reshape(-1) is a view
    parallel_for(_add, a.size, np.ascontiguousarray(a).reshape(-1), np.ascontiguousarray(b).reshape(-1),
                 relu, out.reshape(-1))
    return out


def add_(a, b):
    """a += b in place (gradient accumulation)."""
    contracts.add_(NUMPY, a, b)
    parallel_for(_add, a.size, a.reshape(-1), np.ascontiguousarray(b).reshape(-1), False, a.reshape(-1))


def concat_channels(xs):
    """Joins (N, C_i, H, W) arrays along channels."""
    contracts.concat_channels(NUMPY, xs)
    return np.concatenate(xs, axis=1)


def split_channels(g, sizes):
    """Inverse of concat_channels: contiguous (N, C_i, H, W) slices of g."""
    contracts.split_channels(NUMPY, g, sizes)
    out, start = [], 0
    for c in sizes:
        out.append(np.ascontiguousarray(g[:, start:start + c]))
        start += c
    return out


def argmax_rows(logits):
    """Row-wise argmax of (N, K) logits: int64 (N,)."""
    contracts.argmax_rows(NUMPY, logits)
    return logits.argmax(axis=1)
