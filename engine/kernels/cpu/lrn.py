"""Local response normalisation across channels (AlexNet), as torch.nn.LocalResponseNorm.

s[c] = k + alpha/size * sum_{j=c-size//2}^{c+(size-1)//2} x[j]^2,   y[c] = x[c] * s[c]^-beta
dx[i] = g[i] s[i]^-beta - 2 alpha beta / size * x[i] * sum_{j: i in window(j)} g[j] y[j] / s[j]
x is viewed as (N, C, L); the kernels run over ranges of samples, one block per thread.
"""
from __future__ import annotations

import numpy as np

from .. import contracts
from ..checks import NUMPY
from .parallel import helper, kernel, parallel_for
from .tensor import as_ncl


@helper
def _inv_pow(v, beta):
    # v ** -beta, by square roots (which vectorise) for AlexNet's and torch's default 0.75
    # and for 0.5 and 1; by the C library's pow otherwise
    if beta == 0.75:
        return 1 / np.sqrt(v * np.sqrt(v))
    if beta == 0.5:
        return 1 / np.sqrt(v)
    if beta == 1:
        return 1 / v
    return v ** -beta


@helper
def _window_sums(a, n, c, before, after, square, acc):
    # acc (L,) = sum over channels j in [c - before, c + after] of a[n, j] (squared with square)
    C = a.shape[1]
    acc[:] = 0
    for j in range(max(0, c - before), min(C, c + after + 1)):
        row = a[n, j]
        if square:
            for l in range(acc.size):
                acc[l] += row[l] * row[l]
        else:
            for l in range(acc.size):
                acc[l] += row[l]


@kernel
def _lrn_fwd(x, size, alpha, beta, k, y, s, lo, hi):
    # samples [lo, hi); every loop over the L positions of a channel runs in x's dtype and
    # vectorises (a loop over the window inside one over L, in float64 with pow, ran at
    # 27 ns per element)
    N, C, L = x.shape
    before, after = size // 2, (size - 1) // 2
    t = x.dtype.type
    scale, kk, b = t(alpha / size), t(k), t(beta)
    acc = np.empty(L, x.dtype)
    for n in range(lo, hi):
        for c in range(C):
            _window_sums(x, n, c, before, after, True, acc)
            xr, yr, sr = x[n, c], y[n, c], s[n, c]
            for l in range(L):
                sv = kk + scale * acc[l]
                sr[l] = sv
                yr[l] = xr[l] * _inv_pow(sv, b)


@kernel
def _lrn_bwd(x, g, y, s, size, alpha, beta, t, dx, lo, hi):
    # samples [lo, hi); t (N, C, L) scratch for g * y / s
    N, C, L = x.shape
    before, after = size // 2, (size - 1) // 2
    coef, b = x.dtype.type(2.0 * alpha * beta / size), x.dtype.type(beta)
    acc = np.empty(L, x.dtype)
    for n in range(lo, hi):
        for c in range(C):
            gr, yr, sr, tr = g[n, c], y[n, c], s[n, c], t[n, c]
            for l in range(L):
                tr[l] = gr[l] * yr[l] / sr[l]
        for i in range(C):
            _window_sums(t, n, i, after, before, False, acc)
            gr, sr, xr, dr = g[n, i], s[n, i], x[n, i], dx[n, i]
            for l in range(L):
                dr[l] = gr[l] * _inv_pow(sr[l], b)
            for l in range(L):
                dr[l] -= coef * xr[l] * acc[l]


def lrn_forward(x, size, alpha, beta, k):
    """Returns (y, s), both of x's shape, with s the per-element normaliser the backward needs."""
    x3 = as_ncl(x, contracts.lrn_forward(NUMPY, x, size, alpha, beta, k))
    y = np.empty_like(x3)
    s = np.empty_like(x3)
    parallel_for(_lrn_fwd, x3.shape[0], x3, size, alpha, beta, k, y, s, work=x3.size)
    return y.reshape(x.shape), s.reshape(x.shape)


def lrn_backward(x, y, s, grad_y, size, alpha, beta):
    dims = contracts.lrn_backward(NUMPY, x, y, s, grad_y, size, alpha, beta)
    x3 = as_ncl(x, dims)
    dx = np.empty_like(x3)
    t = np.empty_like(x3)
    parallel_for(_lrn_bwd, x3.shape[0], x3, as_ncl(grad_y, dims), as_ncl(y, dims), as_ncl(s, dims), size, alpha, beta,
                 t, dx, work=x3.size)
    return dx.reshape(x.shape)
