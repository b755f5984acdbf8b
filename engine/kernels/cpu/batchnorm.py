"""Batch normalisation on the CPU over x viewed as (N, C, L) (L = H*W, or 1 for 1-d).

Training:  mu_c, var_c over (N, L); xhat = (x - mu) / sqrt(var + eps); y = gamma*xhat + beta
           (plus a residual r of x's shape when the residual join is fused in: y + r; then
           max(., 0) when a ReLU is).
Backward:  dx = gamma / (M sqrt(var + eps)) * (M g - sum g - xhat * sum g*xhat), M = N*L.
``batchnorm_fold`` folds an eval-mode batch norm into the layer before it (a
convolution's weight and bias). Kernels run over ranges of channels (or N*C planes), one block per thread
(``parallel_for``); per-channel sums accumulate in float64. The training forward reads x
twice (the sums of x - K and (x - K)^2, K = the channel's first value so the variance
does not cancel, then y) and writes only y; the cache keeps x and the backward normalises
again (memory-bound passes: one read and one write fewer than storing xhat).
"""
from __future__ import annotations

import math

import numpy as np

from .. import contracts
from ..checks import NUMPY, fail
from .activation import relu_backward
from .parallel import kernel, parallel_for
from .tensor import as_ncl


@kernel
def _bn_train(x, gamma, beta, eps, relu, add, res, y, mean, var, invstd, lo, hi):
    # with add, y = the norm + res (then max(., 0) with relu); res is a stand-in otherwise
    N, C, L = x.shape
    M = N * L
    for c in range(lo, hi):
        k = np.float64(x[0, c, 0])
        s = 0.0
        s2 = 0.0
        for n in range(N):
            row = x[n, c]
            for l in range(L):
                d = row[l] - k
                s += d
                s2 += d * d
        mu = s / M
        v = max(s2 / M - mu * mu, 0.0)
        mu += k
        inv = 1.0 / math.sqrt(v + eps)
        a = gamma[c] * inv
        b = beta[c] - mu * a
        for n in range(N):
            src = x[n, c]
            dst = y[n, c]
            if add:
                r = res[n, c]
                for l in range(L):
                    dst[l] = src[l] * a + b  # stored first: rounded as the norm's output, then summed
                    t = dst[l] + r[l]
                    dst[l] = max(t, 0) if relu else t
            elif relu:
                for l in range(L):
                    dst[l] = max(src[l] * a + b, 0)
            else:
                for l in range(L):
                    dst[l] = src[l] * a + b
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
def _bn_bwd(g, x, mean, gamma, invstd, relu, y, dx, dgamma, dbeta, lo, hi):
    # with relu, g is first masked by y > 0 (the backward of a ReLU fused after the norm)
    N, C, L = g.shape
    M = N * L
    for c in range(lo, hi):
        mu = mean[c]
        inv = invstd[c]
        sg = 0.0
        sgx = 0.0
        for n in range(N):
            gr = g[n, c]
            xr = x[n, c]
            yr = y[n, c]
            for l in range(L):
                gv = gr[l] if not relu or yr[l] > 0 else 0
                sg += gv
                sgx += gv * ((xr[l] - mu) * inv)
        dgamma[c] = sgx
        dbeta[c] = sg
        k = gamma[c] * inv / M
        for n in range(N):
            gr = g[n, c]
            xr = x[n, c]
            yr = y[n, c]
            dr = dx[n, c]
            for l in range(L):
                gv = gr[l] if not relu or yr[l] > 0 else 0
                dr[l] = k * (M * gv - sg - (xr[l] - mu) * inv * sgx)


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


@kernel
def _fold(w, b, gamma, beta, mean, var, eps, w2, b2, lo, hi):
    K = w.shape[1]
    for o in range(lo, hi):
        s = gamma[o] / np.sqrt(var[o] + eps)
        for k in range(K):
            w2[o, k] = w[o, k] * s
        b2[o] = (b[o] - mean[o]) * s + beta[o]


def _affine(x3, scale, shift, y3):
    """y3 = x3 * scale[c] + shift[c] over (N, C, L)."""
    parallel_for(_scale_shift, x3.shape[0] * x3.shape[1], x3, scale, shift, y3, work=x3.size)


def batchnorm_forward_train(x, gamma, beta, running_mean, running_var, momentum, eps, relu=False, residual=None):
    """Normalises with batch statistics (plus ``residual``, an array of x's shape, in the
    same pass: the residual join; then max(., 0) with relu) and updates the running ones
    in place (running_var takes the unbiased variance, as torch). Returns (y, cache)."""
    N, C, L = dims = contracts.batchnorm_forward_train(NUMPY, x, gamma, beta, running_mean, running_var,
                                                       momentum, eps, relu, residual)
    x3 = as_ncl(x, dims)
    y = np.empty(x.shape, x.dtype)  # C order, so reshape(x3.shape) is a view
    mean = np.empty(C, np.float64)
    var = np.empty(C, np.float64)
    invstd = np.empty(C, np.float64)
    res = x3 if residual is None else as_ncl(residual, dims)
    parallel_for(_bn_train, C, x3, gamma, beta, eps, relu, residual is not None, res, y.reshape(x3.shape), mean,
                 var, invstd, work=(2 if residual is None else 3) * x3.size)
    M = N * L
    with np.errstate(over="ignore"):  # a diverging run's float64 statistics pass float32's range
        running_mean *= 1 - momentum
        running_mean += momentum * mean
        running_var *= 1 - momentum
        running_var += momentum * var * (M / max(M - 1, 1))
    return y, (x3, (mean, invstd), True)


def batchnorm_forward_eval(x, gamma, beta, running_mean, running_var, eps):
    """y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta. Returns (y, cache)."""
    x3 = as_ncl(x, contracts.batchnorm_forward_eval(NUMPY, x, gamma, beta, running_mean, running_var, eps))
    invstd = (1.0 / np.sqrt(running_var + eps)).astype(x.dtype)
    scale = gamma * invstd
    y = np.empty(x.shape, x.dtype)
    _affine(x3, scale, beta - running_mean * scale, y.reshape(x3.shape))
    # xhat is only needed if a backward follows (rare in eval): the cache keeps x and the
    # statistics, and batchnorm_backward normalises then (inference skips a full pass)
    return y, (x3, (invstd, (-running_mean * invstd).astype(x.dtype), scale), False)


def _check_cache(grad_y, gamma, cache, relu_y):
    """The contract, then the cache: (x3 (N, C, L) of grad_y's dtype, statistics (C,) each:
    (mean, invstd) float64 after a training forward, (invstd, shift, scale) of grad_y's
    dtype after an eval one, batch_stats). Returns grad_y's (N, C, L)."""
    dims = contracts.batchnorm_backward(NUMPY, grad_y, gamma, cache, relu_y)
    x3, stats, batch_stats = cache
    C = dims[1]
    contracts.cache_array(NUMPY, "cache[0]", x3, dims, grad_y.dtype)
    names = ("mean", "invstd") if batch_stats else ("invstd", "shift", "scale")
    if not isinstance(stats, tuple) or len(stats) != len(names):
        fail("batchnorm_backward", "cache is not what this kernel set's batchnorm forward returned")
    dtype = np.dtype(np.float64) if batch_stats else grad_y.dtype
    for name, a in zip(names, stats):
        contracts.cache_array(NUMPY, f"cache {name}", a, (C,), dtype)
    return dims


def batchnorm_backward(grad_y, gamma, cache, relu_y=None):
    """Returns (dx, dgamma, dbeta) for the statistics the forward used. With relu_y, the
    output of a ReLU after the norm, grad_y is that ReLU's and its backward runs too."""
    dims = _check_cache(grad_y, gamma, cache, relu_y)
    x3, stats, batch_stats = cache
    if relu_y is not None and not batch_stats:
        grad_y = relu_backward(relu_y, grad_y)
    g3 = as_ncl(grad_y, dims)
    C = dims[1]
    dx = np.empty(grad_y.shape, grad_y.dtype)
    dgamma = np.empty(C, grad_y.dtype)
    dbeta = np.empty(C, grad_y.dtype)
    if batch_stats:
        mean, invstd = stats
        y3 = g3 if relu_y is None else as_ncl(relu_y, dims)
        parallel_for(_bn_bwd, C, g3, x3, mean, gamma, invstd, relu_y is not None, y3, dx.reshape(g3.shape),
                     dgamma, dbeta, work=2 * g3.size)
    else:
        invstd, shift, scale = stats
        xhat = np.empty(x3.shape, x3.dtype)
        _affine(x3, invstd, shift, xhat)
        parallel_for(_bn_eval_bwd, C, g3, xhat.reshape(g3.shape), scale, dx.reshape(g3.shape), dgamma, dbeta,
                     work=g3.size)
    return dx, dgamma, dbeta


def batchnorm_fold(w, b, gamma, beta, running_mean, running_var, eps):
    """(w', b'): a layer's weight w (O, ...) and bias b (O,) (None: zeros) followed by an
    eval-mode batch norm of its O outputs, as one layer: with s = gamma / sqrt(running_var
    + eps), w'[o] = w[o] * s[o] and b'[o] = (b[o] - running_mean[o]) * s[o] + beta[o], in
    w's dtype. New arrays; nothing is written in place."""
    Co, K = contracts.batchnorm_fold(NUMPY, w, b, gamma, beta, running_mean, running_var, eps)
    w2 = np.empty(w.shape, w.dtype)
    b2 = np.empty(Co, w.dtype)
    bias = np.zeros(Co, w.dtype) if b is None else b
    parallel_for(_fold, Co, np.ascontiguousarray(w).reshape(Co, K), bias, gamma, beta, running_mean, running_var,
                 w.dtype.type(eps), w2.reshape(Co, K), b2, work=w.size)
    return w2, b2
