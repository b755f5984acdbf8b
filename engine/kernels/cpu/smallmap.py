"""Convolutions on maps so small that most of a kernel's taps fall on the padding (VGG's
512-channel 3x3 layers on 2x2 maps read 4 of their 9 taps per output): one product per
output position and tap that lands inside the input, none for the padding.

Shapes as in :mod:`.conv`: x (N, C, H, W), w (O, C, kh, kw), y (N, O, Ho, Wo). With the
maps moved to the front, xt (H, W, N, C), wt (kh, kw, O, C) and gt (Ho, Wo, N, O), output
position (oh, ow) and tap (i, j) read input (h, v) = (oh*sh - ph + i, ow*sw - pw + j):

    forward      yt[oh, ow] (N, O) = sum over taps inside of xt[h, v] @ wt[i, j]^T
    input grad   dxt[h, v] += gt[oh, ow] @ wt[i, j]
    weight grad  dwt[i, j] += gt[oh, ow]^T @ xt[h, v]

Each product is (N x C) by (C x O): the batch, not the map, fills the matrices. They run on
every thread (:func:`.parallel.gemm`); moving the maps to the front and back are copies
of arrays this small.
"""
from __future__ import annotations

import numpy as np

from .parallel import gemm

MAX_USED = 2 / 3
"""This path runs layers whose outputs use at most this share of their kernel's taps
(a 3x3 kernel with padding 1 uses 44% on 2x2 maps, 69% on 4x4)."""


def _inside(o, k, s, p, n):
    """The kernel indices i whose input row (or column) o*s - p + i lies in [0, n)."""
    return range(max(0, p - o * s), min(k, n + p - o * s))


def used_share(H, W, kh, kw, sh, sw, ph, pw, Ho, Wo) -> float:
    """The share of the kernel's taps, over all outputs, that read the input, not padding."""
    rows = sum(len(_inside(o, kh, sh, ph, H)) for o in range(Ho))
    cols = sum(len(_inside(o, kw, sw, pw, W)) for o in range(Wo))
    return rows * cols / (Ho * Wo * kh * kw)


def suitable(H, W, kh, kw, sh, sw, ph, pw, Ho, Wo) -> bool:
    """Padding on a map small enough that at most MAX_USED of the taps read the input."""
    return bool(ph or pw) and used_share(H, W, kh, kw, sh, sw, ph, pw, Ho, Wo) <= MAX_USED


def _taps(x_shape, w_shape, stride, padding, Ho, Wo):
    """(oh, ow, i, j, h, v) for every output position and tap inside the input."""
    (H, W), (kh, kw), (sh, sw), (ph, pw) = x_shape[2:], w_shape[2:], stride, padding
    return [(oh, ow, i, j, oh * sh - ph + i, ow * sw - pw + j)
            for oh in range(Ho) for ow in range(Wo)
            for i in _inside(oh, kh, sh, ph, H) for j in _inside(ow, kw, sw, pw, W)]


def _front(a):
    """(N, C, H, W) -> (H, W, N, C), contiguous."""
    return np.ascontiguousarray(a.transpose(2, 3, 0, 1))


def forward(x, w, b, stride, padding, y, relu=False):
    """y (N, O, Ho, Wo) = conv(x, w) + b (then max(., 0) with relu). Returns y."""
    N, O, Ho, Wo = y.shape
    xt, wt = _front(x), _front(w)
    yt = np.empty((Ho, Wo, N, O), x.dtype)
    done = np.zeros((Ho, Wo), bool)
    for oh, ow, i, j, h, v in _taps(x.shape, w.shape, stride, padding, Ho, Wo):
        if done[oh, ow]:
            yt[oh, ow] += gemm(xt[h, v], wt[i, j].T)
        else:
            gemm(xt[h, v], wt[i, j].T, out=yt[oh, ow])
            done[oh, ow] = True
    yt[~done] = 0  # outputs whose taps all fall on padding
    yt += b
    if relu:
        np.maximum(yt, 0, out=yt)
    y[...] = yt.transpose(2, 3, 0, 1)
    return y


def backward(x, w, g, stride, padding, need_input_grad=True):
    """(dx or None, dw, db) of y = conv(x, w) + b, from g (N, O, Ho, Wo)."""
    Ho, Wo = g.shape[2], g.shape[3]
    xt, wt, gt = _front(x), _front(w), _front(g)
    dxt = np.zeros(xt.shape, x.dtype) if need_input_grad else None
    dwt = np.zeros(wt.shape, x.dtype)
    for oh, ow, i, j, h, v in _taps(x.shape, w.shape, stride, padding, Ho, Wo):
        dwt[i, j] += gemm(np.ascontiguousarray(gt[oh, ow].T), xt[h, v])
        if dxt is not None:
            dxt[h, v] += gemm(gt[oh, ow], wt[i, j])
    dx = None if dxt is None else np.ascontiguousarray(dxt.transpose(2, 3, 0, 1))
    return dx, np.ascontiguousarray(dwt.transpose(2, 3, 0, 1)), g.sum(axis=(0, 2, 3), dtype=np.float64).astype(x.dtype)
