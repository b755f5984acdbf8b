"""Losses on the GPU (twin of cpu/loss.py).

cross_entropy: p = softmax(z) row-wise (max-subtracted); with smoothing e over K
classes the target is q = (1 - e) onehot(y) + e/K; loss = mean_n -sum_k q_k log p_k;
d loss / d z = (p - q) / N.
mse: loss = mean((y - t)^2); d loss / d y = 2 (y - t) / numel.

The forward kernels reduce the loss on the device (one block, ``reduce.block_sum``) and the
wrapper copies back that one scalar: the only device-to-host transfer of a training
step besides what the caller asks for. probs stay on the device.

Targets are class indices in [0, K): the cross-entropy forward, which indexes the
logits with them, flags any other value in the same copy as the loss and raises
ShapeError (as the CPU set does). The backward only compares targets with class
numbers, so it reads nothing out of bounds whatever they hold; it does not check their
values, which would cost a device-to-host copy per call (the CPU set raises).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import cuda, float32, from_dtype

from .. import contracts
from ..checks import fail
from . import memory
from .memory import flat
from .reduce import block_sum
from .runtime import DEVICE, grid1d, kmath as math, RED_THREADS, scalar
from .tensor import asarray


@lru_cache(maxsize=None)
def _make_ce_fwd(dtype):
    dt = from_dtype(np.dtype(dtype))
    RT = RED_THREADS

    @cuda.jit(fastmath=True)
    def ce_fwd(z, targets, N, K, smoothing, probs, out):
        # one block: thread t handles rows t, t + RT, ...; then a tree sum of the losses
        # into out[0]. A row whose target is not in [0, K) sets out[1] to 1 and is skipped.
        t = cuda.threadIdx.x
        if t == 0:
            out[1] = dt(0)
        cuda.syncthreads()
        total = dt(0)
        for n in range(t, N, RT):
            tn = targets[n]
            if tn < 0 or tn >= K:
                out[1] = dt(1)
                continue
            row = n * K
            m = z[row]
            for k in range(1, K):
                m = max(m, z[row + k])
            s = dt(0)
            for k in range(K):
                e = math.exp(z[row + k] - m)
                probs[row + k] = e
                s += e
            logs = math.log(s)
            inv = dt(1) / s
            mean_logp = dt(0)
            for k in range(K):
                probs[row + k] *= inv
                mean_logp += z[row + k] - m - logs
            logp_t = z[row + tn] - m - logs
            total += -(dt(1) - smoothing) * logp_t - smoothing * mean_logp / dt(K)
        sh = cuda.shared.array((1, RT), dt)
        sh[0, t] = total
        block_sum(sh, t)
        if t == 0:
            out[0] = sh[0, 0] / dt(N)

    return ce_fwd


@lru_cache(maxsize=None)
def _make_sq_sum(dtype):
    dt = from_dtype(np.dtype(dtype))
    RT = RED_THREADS

    @cuda.jit(fastmath=True)
    def sq_sum(y, target, total, out):
        t = cuda.threadIdx.x
        acc = dt(0)
        for i in range(t, total, RT):
            d = y[i] - target[i]
            acc += d * d
        sh = cuda.shared.array((1, RT), dt)
        sh[0, t] = acc
        block_sum(sh, t)
        if t == 0:
            out[0] = sh[0, 0] / dt(total)

    return sq_sum


@cuda.jit(fastmath=True)
def _ce_bwd(probs, targets, N, K, smoothing, scale, dz):
    start, step = cuda.grid(1), cuda.gridsize(1)
    off = smoothing / float32(K)
    for e in range(start, N * K, step):
        n = e // K
        k = e - n * K
        v = (probs[e] - off) * scale
        if k == targets[n]:
            v -= (float32(1) - smoothing) * scale
        dz[e] = v


@cuda.jit(fastmath=True)
def _mse_bwd(y, target, scale, dy):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, y.size, step):
        dy[i] = scale * (y[i] - target[i])


def cross_entropy_forward(logits, targets, label_smoothing=0.0):
    """logits (N, K) on the device, targets int64 (N,) in [0, K) on the device. Returns
    (mean loss as a Python float -- one copy to the host, with the targets' check --,
    probs (N, K) on the device)."""
    fn = "cross_entropy_forward"
    contracts.cross_entropy(DEVICE, fn, "logits", logits, targets, label_smoothing)
    N, K = int(logits.shape[0]), int(logits.shape[1])
    probs = memory.empty((N, K), logits.dtype, "the softmax probabilities")
    out = memory.empty((2,), logits.dtype)
    kernel = _make_ce_fwd(np.dtype(logits.dtype).type)
    kernel[1, RED_THREADS](flat(logits), flat(targets), N, K, scalar(logits, label_smoothing),
                           flat(probs), out)
    loss, bad = out.copy_to_host()
    if bad:
        fail(fn, f"targets hold values outside [0, {K}); class indices must be in [0, {K})")
    return float(loss), probs


def cross_entropy_backward(probs, targets, label_smoothing=0.0):
    contracts.cross_entropy(DEVICE, "cross_entropy_backward", "probs", probs, targets, label_smoothing)
    N, K = int(probs.shape[0]), int(probs.shape[1])
    dz = memory.empty((N, K), probs.dtype, "the loss gradient")
    _ce_bwd[grid1d(dz.size)](flat(probs), flat(targets), N, K, scalar(probs, label_smoothing),
                             scalar(probs, 1.0 / N), flat(dz))
    return dz


def mse_forward(y, target):
    """mean((y - target)^2) as a Python float (one scalar copied to the host); target (y's
    shape) is taken in y's dtype."""
    contracts.mse(DEVICE, "mse_forward", y, target)
    target = asarray(target, dtype=y.dtype)
    out = memory.empty((1,), y.dtype)
    kernel = _make_sq_sum(np.dtype(y.dtype).type)
    kernel[1, RED_THREADS](flat(y), flat(target), y.size, out)
    return float(out.copy_to_host()[0])


def mse_backward(y, target):
    contracts.mse(DEVICE, "mse_backward", y, target)
    target = asarray(target, dtype=y.dtype)
    dy = memory.empty(y.shape, y.dtype, "the loss gradient")
    _mse_bwd[grid1d(dy.size)](flat(y), flat(target), scalar(y, 2.0 / y.size), flat(dy))
    return dy
