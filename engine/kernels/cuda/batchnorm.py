"""Batch normalisation on the GPU over x viewed as (N, C, L) (twin of cpu/batchnorm.py).

Training:  mu_c, var_c over (N, L); xhat = (x - mu) / sqrt(var + eps); y = gamma*xhat + beta.
Backward:  dx = gamma / (M sqrt(var + eps)) * (M g - sum g - xhat * sum g*xhat), M = N*L.

Per-channel sums are the two-stage reductions of reduce.py (moments shifted by the
channel's first element for accuracy in float32); a one-thread-per-channel kernel
finishes them (and updates the running statistics on the device); an element-wise
kernel applies the result. The cache is (xhat, invstd or gamma*invstd, batch_stats),
as on the CPU. ``batchnorm_fold`` folds an eval-mode batch norm into the layer before it,
one thread per weight.
"""
from __future__ import annotations

from numba import cuda, float32

from .. import contracts
from . import memory
from .activation import relu_backward, relu_forward
from .memory import flat
from .reduce import channel_sums
from .runtime import DEVICE, grid1d, kmath as math, scalar
from .tensor import add


@cuda.jit(fastmath=True)
def _bn_finalize_train(x, p1, p2, S, C, L, M, eps, momentum, unbias, rmean, rvar, mean, invstd):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for c in range(start, C, step):
        s1 = p1[c * S]
        s2 = p2[c * S]
        for s in range(1, S):
            s1 += p1[c * S + s]
            s2 += p2[c * S + s]
        inv_m = float32(1) / float32(M)
        d = s1 * inv_m
        var = s2 * inv_m - d * d
        if var < float32(0):
            var = var - var
        mu = x[c * L] + d
        mean[c] = mu
        invstd[c] = float32(1) / math.sqrt(var + eps)
        rmean[c] = (float32(1) - momentum) * rmean[c] + momentum * mu
        rvar[c] = (float32(1) - momentum) * rvar[c] + momentum * var * unbias


@cuda.jit(fastmath=True)
def _bn_apply(x, mean, invstd, gamma, beta, C, L, total, y, xhat):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for e in range(start, total, step):
        c = (e // L) % C
        xh = (x[e] - mean[c]) * invstd[c]
        xhat[e] = xh
        y[e] = gamma[c] * xh + beta[c]


@cuda.jit(fastmath=True)
def _bn_eval_stats(gamma, rvar, eps, C, invstd, scale):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for c in range(start, C, step):
        inv = float32(1) / math.sqrt(rvar[c] + eps)
        invstd[c] = inv
        scale[c] = gamma[c] * inv


@cuda.jit(fastmath=True)
def _bn_finalize_grads(p1, p2, S, C, dgamma, dbeta):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for c in range(start, C, step):
        sg = p1[c * S]
        sgx = p2[c * S]
        for s in range(1, S):
            sg += p1[c * S + s]
            sgx += p2[c * S + s]
        dbeta[c] = sg
        dgamma[c] = sgx


@cuda.jit(fastmath=True)
def _bn_dx_train(g, xhat, gamma, invstd, dgamma, dbeta, C, L, M, total, dx):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for e in range(start, total, step):
        c = (e // L) % C
        k = gamma[c] * invstd[c] / float32(M)
        dx[e] = k * (float32(M) * g[e] - dbeta[c] - xhat[e] * dgamma[c])


@cuda.jit(fastmath=True)
def _bn_dx_eval(g, scale, C, L, total, dx):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for e in range(start, total, step):
        c = (e // L) % C
        dx[e] = g[e] * scale[c]


@cuda.jit(fastmath=True)
def _bn_fold(w, b, has_bias, gamma, beta, mean, var, eps, Co, K, w2, b2):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for e in range(start, Co * K, step):
        o = e // K
        s = gamma[o] / math.sqrt(var[o] + eps)
        w2[e] = w[e] * s
        if e - o * K == 0:
            shift = b[o] - mean[o] if has_bias else -mean[o]
            b2[o] = shift * s + beta[o]


def batchnorm_forward_train(x, gamma, beta, running_mean, running_var, momentum, eps, relu=False, residual=None):
    """Normalises with batch statistics (plus ``residual``, an array of x's shape: the
    residual join, composed here by the add kernel; then max(., 0) with relu) and updates
    the running ones in place on the device (running_var takes the unbiased variance, as
    torch). Returns (y, cache)."""
    N, C, L = contracts.batchnorm_forward_train(DEVICE, x, gamma, beta, running_mean, running_var, momentum,
                                                eps, relu, residual)
    M = N * L
    fx = flat(x)
    y = memory.empty(x.shape, x.dtype, "the batch-norm output")
    xhat = memory.empty(x.shape, x.dtype, "the batch-norm cache")
    mean = memory.empty((C,), x.dtype)
    invstd = memory.empty((C,), x.dtype)
    p1, p2, S = channel_sums(fx, N, C, L, 0)
    s = lambda v: scalar(x, v)  # noqa: E731
    _bn_finalize_train[grid1d(C)](fx, p1, p2, S, C, L, M, s(eps), s(momentum), s(M / max(M - 1, 1)),
                                  flat(running_mean), flat(running_var), mean, invstd)
    _bn_apply[grid1d(x.size)](fx, mean, invstd, flat(gamma), flat(beta), C, L, x.size, flat(y), flat(xhat))
    if residual is not None:
        y = add(y, residual, relu=relu)
    elif relu:
        y = relu_forward(y)
    return y, (xhat, invstd, True)


def batchnorm_forward_eval(x, gamma, beta, running_mean, running_var, eps):
    """y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta. Returns (y, cache)."""
    N, C, L = contracts.batchnorm_forward_eval(DEVICE, x, gamma, beta, running_mean, running_var, eps)
    invstd = memory.empty((C,), x.dtype)
    scale = memory.empty((C,), x.dtype)
    _bn_eval_stats[grid1d(C)](flat(gamma), flat(running_var), scalar(x, eps), C, invstd, scale)
    y = memory.empty(x.shape, x.dtype, "the batch-norm output")
    xhat = memory.empty(x.shape, x.dtype, "the batch-norm cache")
    _bn_apply[grid1d(x.size)](flat(x), flat(running_mean), invstd, flat(gamma), flat(beta), C, L,
                              x.size, flat(y), flat(xhat))
    return y, (xhat, scale, False)


def batchnorm_backward(grad_y, gamma, cache, relu_y=None):
    """Returns (dx, dgamma, dbeta) for the statistics the forward used. With relu_y, the
    output of a ReLU after the norm, grad_y is that ReLU's and its backward runs first."""
    N, C, L = contracts.batchnorm_backward(DEVICE, grad_y, gamma, cache, relu_y)
    xhat, s, batch_stats = cache
    contracts.cache_array(DEVICE, "cache[0]", xhat, tuple(grad_y.shape), grad_y.dtype)
    contracts.cache_array(DEVICE, "cache[1]", s, (C,), grad_y.dtype)
    if relu_y is not None:
        grad_y = relu_backward(relu_y, grad_y)
    M = N * L
    fg, fxh = flat(grad_y), flat(xhat)
    dgamma = memory.empty((C,), grad_y.dtype)
    dbeta = memory.empty((C,), grad_y.dtype)
    p1, p2, S = channel_sums(fg, N, C, L, 1, b=fxh)
    _bn_finalize_grads[grid1d(C)](p1, p2, S, C, dgamma, dbeta)
    dx = memory.empty(grad_y.shape, grad_y.dtype, "the batch-norm gradient")
    if batch_stats:
        _bn_dx_train[grid1d(dx.size)](fg, fxh, flat(gamma), s, dgamma, dbeta, C, L, M, dx.size, flat(dx))
    else:
        _bn_dx_eval[grid1d(dx.size)](fg, s, C, L, dx.size, flat(dx))
    return dx, dgamma, dbeta


def batchnorm_fold(w, b, gamma, beta, running_mean, running_var, eps):
    """(w', b'): a layer's weight w (O, ...) and bias b (O,) (None: zeros) followed by an
    eval-mode batch norm of its O outputs, as one layer (cpu/batchnorm.py says how). New
    device arrays."""
    Co, K = contracts.batchnorm_fold(DEVICE, w, b, gamma, beta, running_mean, running_var, eps)
    w2 = memory.empty(w.shape, w.dtype, "the folded weight")
    b2 = memory.empty((Co,), w.dtype)
    fm = flat(running_mean)
    _bn_fold[grid1d(Co * K)](flat(w), fm if b is None else flat(b), b is not None, flat(gamma), flat(beta), fm,
                             flat(running_var), scalar(w, eps), Co, K, flat(w2), b2)
    return w2, b2
