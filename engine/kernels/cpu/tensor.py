"""Array plumbing every device set provides: allocation, transfer, joins and sums.

On the CPU the arrays are numpy arrays, so most of these are thin.
"""
from __future__ import annotations

import numpy as np

from .parallel import kernel, parallel_for


def asarray(a, dtype=None):
    """A device (here: host) array holding ``a``."""
    return np.ascontiguousarray(a, dtype=dtype)


def to_host(a):
    """A numpy array holding ``a``."""
    return np.asarray(a)


def zeros(shape, dtype=np.float32):
    return np.zeros(shape, dtype)


def zeros_like(a):
    return np.zeros_like(a)


def fill(a, value):
    a.fill(value)


def copy_into(dst, src):
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
    out = np.empty(a.shape, a.dtype)  # C order, so out.reshape(-1) is a view
    parallel_for(_add, a.size, np.ascontiguousarray(a).reshape(-1), np.ascontiguousarray(b).reshape(-1),
                 relu, out.reshape(-1))
    return out


def add_(a, b):
    """a += b in place (gradient accumulation)."""
    parallel_for(_add, a.size, a.reshape(-1), np.ascontiguousarray(b).reshape(-1), False, a.reshape(-1))


def concat_channels(xs):
    """Joins (N, C_i, H, W) arrays along channels."""
    return np.concatenate(xs, axis=1)


def split_channels(g, sizes):
    """Inverse of concat_channels: contiguous (N, C_i, H, W) slices of g."""
    out, start = [], 0
    for c in sizes:
        out.append(np.ascontiguousarray(g[:, start:start + c]))
        start += c
    return out


def argmax_rows(logits):
    return np.asarray(logits).argmax(axis=1)
