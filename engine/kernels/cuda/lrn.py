"""Local response normalisation across channels on the GPU (twin of cpu/lrn.py).

s[c] = k + alpha/size * sum_{j=c-size//2}^{c+(size-1)//2} x[j]^2,   y[c] = x[c] * s[c]^-beta
dx[i] = g[i] s[i]^-beta - 2 alpha beta / size * x[i] * sum_{j: i in window(j)} g[j] y[j] / s[j]
One thread per element of x viewed as (N, C, L); the backward recomputes the g*y/s terms
of its window instead of storing them, so it is a pure gather.
"""
from __future__ import annotations

from numba import cuda

from .. import contracts
from . import memory
from .memory import flat
from .runtime import DEVICE, grid1d, kmath as math, scalar


@cuda.jit(fastmath=True)
def _lrn_fwd(x, C, L, size, alpha_n, beta, k, total, y, s):
    start, step = cuda.grid(1), cuda.gridsize(1)
    before, after = size // 2, (size - 1) // 2
    for e in range(start, total, step):
        l = e % L
        t = e // L
        c = t % C
        n = t // C
        acc = x[e] - x[e]
        for j in range(max(0, c - before), min(C, c + after + 1)):
            v = x[(n * C + j) * L + l]
            acc += v * v
        sv = k + alpha_n * acc
        s[e] = sv
        y[e] = x[e] * math.pow(sv, -beta)


@cuda.jit(fastmath=True)
def _lrn_bwd(x, g, y, s, C, L, size, beta, coef, total, dx):
    start, step = cuda.grid(1), cuda.gridsize(1)
    before, after = size // 2, (size - 1) // 2
    for e in range(start, total, step):
        l = e % L
        t = e // L
        i = t % C
        n = t // C
        acc = x[e] - x[e]
        for j in range(max(0, i - after), min(C, i + before + 1)):
            o = (n * C + j) * L + l
            acc += g[o] * y[o] / s[o]
        dx[e] = g[e] * math.pow(s[e], -beta) - coef * x[e] * acc


def lrn_forward(x, size, alpha, beta, k):
    """Returns (y, s), both of x's shape, with s the per-element normaliser the backward needs."""
    N, C, L = contracts.lrn_forward(DEVICE, x, size, alpha, beta, k)
    y = memory.empty(x.shape, x.dtype, "the LRN output")
    s = memory.empty(x.shape, x.dtype, "the LRN cache")
    if y.size:
        _lrn_fwd[grid1d(y.size)](flat(x), C, L, int(size), scalar(x, alpha / size), scalar(x, beta),
                                 scalar(x, k), y.size, flat(y), flat(s))
    return y, s


def lrn_backward(x, y, s, grad_y, size, alpha, beta):
    N, C, L = contracts.lrn_backward(DEVICE, x, y, s, grad_y, size, alpha, beta)
    dx = memory.empty(x.shape, x.dtype, "the LRN gradient")
    if dx.size:
        _lrn_bwd[grid1d(dx.size)](flat(x), flat(grad_y), flat(y), flat(s), C, L, int(size),
                                  scalar(x, beta), scalar(x, 2.0 * alpha * beta / size), dx.size, flat(dx))
    return dx

