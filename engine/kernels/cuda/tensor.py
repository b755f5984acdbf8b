"""Array plumbing on the GPU: allocation, transfer, joins and sums (twin of cpu/tensor.py).

Arrays are numba.cuda device arrays, C-contiguous. ``asarray`` uploads a host array,
``to_host`` downloads one; everything else stays on the device. ``argmax_rows`` is the
one exception by design: it returns a host numpy int64 (N,) array, the only thing the
trainer needs for accuracy (N integers instead of the N x K logits).
"""
from __future__ import annotations

import numpy as np
from numba import cuda

from .. import contracts
from . import memory
from .activation import relu_forward
from .memory import flat
from .runtime import DEVICE, grid1d, is_device_array, scalar


# --- kernels ---------------------------------------------------------------------------
@cuda.jit(fastmath=True)
def _fill(a, v):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, a.size, step):
        a[i] = v


@cuda.jit(fastmath=True)
def _add(a, b, out):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, out.size, step):
        out[i] = a[i] + b[i]


@cuda.jit(fastmath=True)
def _copy_channels(src, dst, N, Cs, Cd, L, offset, to_dst):
    # src (N, Cs, L) <-> dst[:, offset:offset + Cs] of (N, Cd, L); to_dst: src -> dst
    start, step = cuda.grid(1), cuda.gridsize(1)
    total = N * Cs * L
    for e in range(start, total, step):
        n = e // (Cs * L)
        r = e - n * (Cs * L)
        d = n * (Cd * L) + offset * L + r
        if to_dst:
            dst[d] = src[e]
        else:
            src[e] = dst[d]


@cuda.jit
def _argmax_rows(z, N, K, out):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for n in range(start, N, step):
        best = z[n * K]
        arg = 0
        for k in range(1, K):
            v = z[n * K + k]
            if v > best:
                best = v
                arg = k
        out[n] = arg


# --- wrappers --------------------------------------------------------------------------
def asarray(a, dtype=None):
    """A device array holding ``a`` (uploaded from the host; a device array of the right
    dtype is returned as is)."""
    if is_device_array(a):
        if dtype is None or contracts.dtype_arg("asarray", dtype) == a.dtype:
            return a
        a = a.copy_to_host()
    return memory.to_device(contracts.asarray(a, dtype), "an upload")


def to_host(a):
    """A numpy array holding ``a``."""
    if is_device_array(a):
        return a.copy_to_host()
    return np.asarray(a)


def zeros(shape, dtype=np.float32):
    a = memory.empty(contracts.zeros(DEVICE, shape, dtype), dtype)
    fill(a, 0)
    return a


def zeros_like(a):
    contracts.zeros_like(DEVICE, a)
    return zeros(a.shape, a.dtype)


def fill(a, value):
    contracts.fill(DEVICE, a, value)
    if isinstance(a, np.ndarray):  # a host array (e.g. an integer counter buffer)
        a.fill(value)
        return
    f = flat(a)
    if f.size:
        _fill[grid1d(f.size)](f, scalar(a, value))


def copy_into(dst, src):
    """dst[...] = src (same shape, src's dtype converting to dst's; src on the device or
    the host; dst normally on the device)."""
    contracts.copy_into(DEVICE, dst, src)
    if isinstance(dst, np.ndarray):
        np.copyto(dst, to_host(src))
        return
    if is_device_array(src) and src.dtype == dst.dtype:
        if src.size:
            flat(dst).copy_to_device(flat(src))
    else:
        host = np.ascontiguousarray(to_host(src), dtype=dst.dtype)
        if host.size:
            flat(dst).copy_to_device(host.reshape(-1))


def add(a, b, relu=False):
    """a + b, same shapes (the residual join); max(a + b, 0) with relu."""
    contracts.add(DEVICE, a, b, relu)
    out = memory.empty(a.shape, a.dtype, "an add")
    if out.size:
        _add[grid1d(out.size)](flat(a), flat(b), flat(out))
    if relu:
        out = relu_forward(out)
    return out


def add_(a, b):
    """a += b in place (gradient accumulation)."""
    contracts.add_(DEVICE, a, b)
    fa = flat(a)
    if fa.size:
        _add[grid1d(fa.size)](fa, flat(b), fa)


def concat_channels(xs):
    """Joins (N, C_i, H, W) device arrays along channels."""
    contracts.concat_channels(DEVICE, xs)
    N, _, L = contracts.ncl(xs[0].shape)
    Cd = sum(int(x.shape[1]) for x in xs)
    out = memory.empty((N, Cd) + tuple(xs[0].shape[2:]), xs[0].dtype, "a channel concat")
    fo, offset = flat(out), 0
    for x in xs:
        Cs = int(x.shape[1])
        if x.size:
            _copy_channels[grid1d(x.size)](flat(x), fo, N, Cs, Cd, L, offset, True)
        offset += Cs
    return out


def split_channels(g, sizes):
    """Inverse of concat_channels: contiguous (N, C_i, H, W) slices of g."""
    contracts.split_channels(DEVICE, g, sizes)
    N, Cd, L = contracts.ncl(g.shape)
    fg, out, offset = flat(g), [], 0
    for Cs in sizes:
        Cs = int(Cs)
        part = memory.empty((N, Cs) + tuple(g.shape[2:]), g.dtype, "a channel split")
        if part.size:
            _copy_channels[grid1d(part.size)](flat(part), fg, N, Cs, Cd, L, offset, False)
        out.append(part)
        offset += Cs
    return out


def argmax_rows(logits):
    """Row-wise argmax of (N, K) logits, computed on the device; returns a HOST numpy
    int64 array (N,) -- the only transfer accuracy needs."""
    contracts.argmax_rows(DEVICE, logits)
    if not is_device_array(logits):
        return logits.argmax(axis=1)
    N, K = int(logits.shape[0]), int(logits.shape[1])
    out = memory.empty((N,), np.int64, "argmax")
    if N:
        _argmax_rows[grid1d(N)](flat(logits), N, K, out)
    return out.copy_to_host()
