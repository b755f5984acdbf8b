"""Batch normalisation on the CPU over x viewed as (N, C, L) (L = H*W, or 1 for 1-d).

Training:  mu_c, var_c over (N, L); xhat = (x - mu) / sqrt(var + eps); y = gamma*xhat + beta.
Backward:  dx = gamma / (M sqrt(var + eps)) * (M g - sum g - xhat * sum g*xhat), M = N*L.
Kernels run over ranges of channels (or N*C planes), one block per thread
(``parallel_for``); per-channel sums accumulate in float64.
"""
from __future__ import annotations

import math

import numpy as np

from .parallel import kernel, parallel_for


@kernel
def _bn_train(x, gamma, beta, eps, y, xhat, mean, var, invstd, lo, hi):
    N, C, L = x.shape
    M = N * L
    for c in range(lo, hi):
        s = 0.0
        for n in range(N):
            for l in range(L):
                s += x[n, c, l]
        mu = s / M
        v = 0.0
        for n in range(N):
            for l in range(L):
                d = x[n, c, l] - mu
                v += d * d
        v /= M
        inv = 1.0 / math.sqrt(v + eps)
        g, b = gamma[c], beta[c]
        for n in range(N):
            for l in range(L):
                xh = (x[n, c, l] - mu) * inv
                xhat[n, c, l] = xh
                y[n, c, l] = g * xh + b
        mean[c] = mu
        var[c] = v
        invstd[c] = inv


@kernel
def _scale_shift(x, scale, shift, y, lo, hi):
    N, C, L = x.shape
    for nc in range(lo, hi):
        n = nc // C
        c = nc % C
        a, b = scale[c], shift[c]
        for l in range(L):
            y[n, c, l] = x[n, c, l] * a + b


@kernel
def _bn_bwd(g, xhat, gamma, invstd, dx, dgamma, dbeta, lo, hi):
    N, C, L = g.shape
    M = N * L
    for c in range(lo, hi):
        sg = 0.0
        sgx = 0.0
        for n in range(N):
            for l in range(L):
                gv = g[n, c, l]
                sg += gv
                sgx += gv * xhat[n, c, l]
        dgamma[c] = sgx
        dbeta[c] = sg
        k = gamma[c] * invstd[c] / M
        for n in range(N):
            for l in range(L):
                dx[n, c, l] = k * (M * g[n, c, l] - sg - xhat[n, c, l] * sgx)


@kernel
def _bn_eval_bwd(g, xhat, scale, dx, dgamma, dbeta, lo, hi):
    N, C, L = g.shape
    for c in range(lo, hi):
        sg = 0.0
        sgx = 0.0
        for n in range(N):
            for l in range(L):
                gv = g[n, c, l]
                sg += gv
                sgx += gv * xhat[n, c, l]
                dx[n, c, l] = gv * scale[c]
        dgamma[c] = sgx
        dbeta[c] = sg


def _affine(x3, scale, shift, y3):
    """y3 = x3 * scale[c] + shift[c] over (N, C, L)."""
    parallel_for(_scale_shift, x3.shape[0] * x3.shape[1], x3, scale, shift, y3, work=x3.size)


def _ncl(a):
    a = np.ascontiguousarray(a)
    return a.reshape(a.shape[0], a.shape[1], -1)


def batchnorm_forward_train(x, gamma, beta, running_mean, running_var, momentum, eps):
    """Normalises with batch statistics and updates the running ones in place
    (running_var takes the unbiased variance, as torch). Returns (y, cache)."""
    x3 = _ncl(x)
    N, C, L = x3.shape
    y = np.empty(x.shape, x.dtype)  # C order, so reshape(x3.shape) is a view
    xhat = np.empty(x.shape, x.dtype)
    mean = np.empty(C, x.dtype)
    var = np.empty(C, x.dtype)
    invstd = np.empty(C, x.dtype)
    parallel_for(_bn_train, C, x3, gamma, beta, eps, y.reshape(x3.shape), xhat.reshape(x3.shape), mean, var,
                 invstd, work=x3.size)
    M = N * L
    running_mean *= 1 - momentum
    running_mean += momentum * mean
    running_var *= 1 - momentum
    running_var += momentum * var * (M / max(M - 1, 1))
    return y, (xhat, invstd, True)


def batchnorm_forward_eval(x, gamma, beta, running_mean, running_var, eps):
    """y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta. Returns (y, cache)."""
    x3 = _ncl(x)
    invstd = (1.0 / np.sqrt(running_var + eps)).astype(x.dtype)
    scale = gamma * invstd
    y = np.empty(x.shape, x.dtype)
    _affine(x3, scale, beta - running_mean * scale, y.reshape(x3.shape))
    # xhat is only needed if a backward follows (rare in eval): the cache keeps x and the
    # statistics, and batchnorm_backward normalises then (inference skips a full pass)
    return y, (x3, (invstd, (-running_mean * invstd).astype(x.dtype), scale), False)


def batchnorm_backward(grad_y, gamma, cache):
    """Returns (dx, dgamma, dbeta) for the statistics the forward used."""
    xhat, s, batch_stats = cache
    g3 = _ncl(grad_y)
    C = g3.shape[1]
    dx = np.empty(grad_y.shape, grad_y.dtype)
    dgamma = np.empty(C, grad_y.dtype)
    dbeta = np.empty(C, grad_y.dtype)
    if batch_stats:
        parallel_for(_bn_bwd, C, g3, xhat.reshape(g3.shape), gamma, s, dx.reshape(g3.shape), dgamma, dbeta,
                     work=g3.size)
    else:
        x3, (invstd, shift, scale) = xhat, s
        xhat = np.empty(x3.shape, x3.dtype)
        _affine(x3, invstd, shift, xhat)
        parallel_for(_bn_eval_bwd, C, g3, xhat.reshape(g3.shape), scale, dx.reshape(g3.shape), dgamma, dbeta,
                     work=g3.size)
    return dx, dgamma, dbeta
