"""Local response normalisation across channels (AlexNet), as torch.nn.LocalResponseNorm.

s[c] = k + alpha/size * sum_{j=c-size//2}^{c+(size-1)//2} x[j]^2,   y[c] = x[c] * s[c]^-beta
dx[i] = g[i] s[i]^-beta - 2 alpha beta / size * x[i] * sum_{j: i in window(j)} g[j] y[j] / s[j]
x is viewed as (N, C, L); the kernels run over ranges of samples, one block per thread.
"""
from __future__ import annotations

import numpy as np

from .. import contracts
from ..checks import NUMPY
from .parallel import kernel, parallel_for
from .tensor import as_ncl


@kernel
def _lrn_fwd(x, size, alpha, beta, k, y, s, lo, hi):
    N, C, L = x.shape
    before, after = size // 2, (size - 1) // 2
    for n in range(lo, hi):
        for c in range(C):
            j0, j1 = max(0, c - before), min(C, c + after + 1)
            for l in range(L):
                acc = 0.0
                for j in range(j0, j1):
                    v = x[n, j, l]
                    acc += v * v
                sv = k + alpha / size * acc
                s[n, c, l] = sv
                y[n, c, l] = x[n, c, l] * sv ** (-beta)


@kernel
def _lrn_bwd(x, g, y, s, size, alpha, beta, t, dx, lo, hi):
    N, C, L = x.shape
    before, after = size // 2, (size - 1) // 2
    coef = 2.0 * alpha * beta / size
    for n in range(lo, hi):
        for c in range(C):
            for l in range(L):
                t[n, c, l] = g[n, c, l] * y[n, c, l] / s[n, c, l]
        for i in range(C):
            j0, j1 = max(0, i - after), min(C, i + before + 1)
            for l in range(L):
                acc = 0.0
                for j in range(j0, j1):
                    acc += t[n, j, l]
                dx[n, i, l] = g[n, i, l] * s[n, i, l] ** (-beta) - coef * x[n, i, l] * acc


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
