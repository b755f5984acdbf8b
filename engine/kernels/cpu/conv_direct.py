"""Direct 2-D convolution on the CPU for layers with few channels (no im2col, no BLAS).

Same shapes and results as :mod:`.conv`. For the first layers of small nets
(mnist_cnn's 1->6 and 6->6 5x5 convs, cifar_cnn's 3->6 and 6->16, the 3-channel stems of
ResNet/VGG) the GEMMs of the im2col path are (O x K) @ (K x N*P) with O*K of a few
hundred: BLAS runs them at a fraction of its peak while im2col writes and rereads a
K-times larger copy of the input. Here each thread owns whole samples and keeps one output
row of every channel, acc (O, Wo), in L1; the innermost loop runs along the output row,
so it vectorises (unit stride when stride is 1) and every x row loaded is used by all O
channels while it is in cache.

forward:  y[n,o,oh,:]   = b[o] + sum_{c,i,j} w[o,c,i,j] x[n,c,oh*sh-ph+i, :*sw-pw+j]
weights:  dw[o,c,i,j]   = sum_{n,oh,ow} g[n,o,oh,ow] x[n,c,oh*sh-ph+i, ow*sw-pw+j]
          (per-thread partial sums over its samples, added at the end)
input:    dx[n,c,h,w]  += w[o,c,i,j] g[n,o,oh,ow] (scatter within a sample's own planes)
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

MAX_OK = 0         # O*K up to which the direct kernel is used (0: never; see the module doc)
MAX_K = 160


def suitable(C, O, kh, kw, Ho, Wo) -> bool:
    K = C * kh * kw
    return K <= MAX_K and O * K <= MAX_OK and Wo >= 4


@njit(inline="always")
def _valid_range(j, sw, pw, W, Wo):
    lo = 0
    if pw - j > 0:
        lo = (pw - j + sw - 1) // sw
    hi = (W - 1 + pw - j) // sw + 1
    if hi > Wo:
        hi = Wo
    if hi < lo:
        hi = lo
    return lo, hi


@njit(fastmath=True, cache=True)
def _fwd_sample(x, w, b, n, sh, sw, ph, pw, y, acc):
    # y[n] for one sample; acc (O, Wo) is one output row of every channel
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    O, kh, kw = w.shape[0], w.shape[2], w.shape[3]
    Ho, Wo = y.shape[2], y.shape[3]
    for oh in range(Ho):
        for o in range(O):
            acc[o, :] = b[o]
        for c in range(C):
            for i in range(kh):
                h = oh * sh - ph + i
                if h < 0 or h >= H:
                    continue
                xr = x[n, c, h]
                for j in range(kw):
                    lo, hi = _valid_range(j, sw, pw, W, Wo)
                    off = j - pw
                    if sw == 1:
                        xs = xr[lo + off:hi + off]
                        for o in range(O):
                            wv = w[o, c, i, j]
                            a = acc[o, lo:hi]
                            for k in range(hi - lo):
                                a[k] += wv * xs[k]
                    else:
                        for o in range(O):
                            wv = w[o, c, i, j]
                            for ow in range(lo, hi):
                                acc[o, ow] += wv * xr[ow * sw + off]
        for o in range(O):
            y[n, o, oh, :] = acc[o, :]


@njit(parallel=True, fastmath=True, cache=True)
def _fwd(x, w, b, sh, sw, ph, pw, y):
    N = x.shape[0]
    for n in prange(N):
        acc = np.empty((w.shape[0], y.shape[3]), y.dtype)
        _fwd_sample(x, w, b, n, sh, sw, ph, pw, y, acc)


@njit(parallel=True, fastmath=True, cache=True)
def _bwd_w(x, g, sh, sw, ph, pw, kh, kw, T, parts, dbparts):
    # parts (T, O, C, kh, kw): thread t sums over its block of samples
    N, C, H, W = x.shape
    _, O, Ho, Wo = g.shape
    for t in prange(T):
        n0 = (N * t) // T
        n1 = (N * (t + 1)) // T
        dw = parts[t]
        db = dbparts[t]
        dw[:] = 0
        db[:] = 0
        for n in range(n0, n1):
            for o in range(O):
                s = 0.0
                for oh in range(Ho):
                    for ow in range(Wo):
                        s += g[n, o, oh, ow]
                db[o] += s
            for oh in range(Ho):
                for c in range(C):
                    for i in range(kh):
                        h = oh * sh - ph + i
                        if h < 0 or h >= H:
                            continue
                        for j in range(kw):
                            lo, hi = _valid_range(j, sw, pw, W, Wo)
                            off = j - pw
                            for o in range(O):
                                s = 0.0
                                if sw == 1:
                                    for ow in range(lo, hi):
                                        s += g[n, o, oh, ow] * x[n, c, h, ow + off]
                                else:
                                    for ow in range(lo, hi):
                                        s += g[n, o, oh, ow] * x[n, c, h, ow * sw + off]
                                dw[o, c, i, j] += s


@njit(parallel=True, fastmath=True, cache=True)
def _bwd_x(g, w, sh, sw, ph, pw, dx):
    N, C, H, W = dx.shape
    O, _, kh, kw = w.shape
    _, _, Ho, Wo = g.shape
    for n in prange(N):
        dx[n, :, :, :] = 0
        for oh in range(Ho):
            for c in range(C):
                for i in range(kh):
                    h = oh * sh - ph + i
                    if h < 0 or h >= H:
                        continue
                    for j in range(kw):
                        lo, hi = _valid_range(j, sw, pw, W, Wo)
                        off = j - pw
                        for o in range(O):
                            wv = w[o, c, i, j]
                            if sw == 1:
                                for ow in range(lo, hi):
                                    dx[n, c, h, ow + off] += wv * g[n, o, oh, ow]
                            else:
                                for ow in range(lo, hi):
                                    dx[n, c, h, ow * sw + off] += wv * g[n, o, oh, ow]


def forward(x, w, b, sh, sw, ph, pw, y):
    """Writes conv(x, w) + b into y (N, O, Ho, Wo); x and y C-contiguous."""
    _fwd(x, np.ascontiguousarray(w), b, sh, sw, ph, pw, y)


def backward(x, w, g, sh, sw, ph, pw, need_input_grad=True):
    """(dx or None, dw, db) for y = conv(x, w) + b with output gradient g (C-contiguous)."""
    O, C, kh, kw = w.shape
    N = x.shape[0]
    T = max(1, min(numba.get_num_threads(), N))
    parts = np.empty((T, O, C, kh, kw), x.dtype)
    dbparts = np.empty((T, O), x.dtype)
    _bwd_w(x, g, sh, sw, ph, pw, kh, kw, T, parts, dbparts)
    dw = parts.sum(axis=0)
    db = dbparts.sum(axis=0)
    dx = None
    if need_input_grad:
        dx = np.empty(x.shape, x.dtype)
        _bwd_x(g, np.ascontiguousarray(w), sh, sw, ph, pw, dx)
    return dx, dw, db
