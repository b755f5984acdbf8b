"""Losses on the CPU.

cross_entropy: p = softmax(z) row-wise (max-subtracted); with smoothing e over K
classes the target is q = (1 - e) onehot(y) + e/K; loss = mean_n -sum_k q_k log p_k;
d loss / d z = (p - q) / N.
mse: loss = mean((y - t)^2); d loss / d y = 2 (y - t) / numel.
"""
from __future__ import annotations

import math

import numpy as np
from numba import uint64

from .. import contracts
from ..checks import NUMPY
from .parallel import kernel, parallel_for


@kernel
def _ce_fwd(z, targets, smoothing, probs, losses, lo, hi):
    N, K = z.shape
    for n in range(lo, hi):
        m = z[n, 0]
        for k in range(1, K):
            m = max(m, z[n, k])
        s = 0.0
        for k in range(K):
            e = math.exp(z[n, k] - m)
            probs[n, k] = e
            s += e
        logs = math.log(s)
        inv = 1.0 / s
        mean_logp = 0.0
        for k in range(K):
            probs[n, k] *= inv
            mean_logp += z[n, k] - m - logs
        t = targets[n]
        logp_t = z[n, t] - m - logs
        losses[n] = -(1.0 - smoothing) * logp_t - smoothing * mean_logp / K


@kernel
def _ce_bwd(probs, targets, smoothing, scale, dz, lo, hi):
    N, K = probs.shape
    off = smoothing / K
    for n in range(lo, hi):
        for k in range(K):
            dz[n, k] = (probs[n, k] - off) * scale
        dz[n, targets[n]] -= (1.0 - smoothing) * scale


@kernel
def _outside(targets, K):
    """Whether any target lies outside [0, K) (read as uint64: negative ones wrap to huge)."""
    for t in targets:
        if uint64(t) >= K:
            return True
    return False


def _targets(fn, name, z, targets, label_smoothing):
    """The contract, then the targets' values: class indices in [0, K)."""
    contracts.cross_entropy(NUMPY, fn, name, z, targets, label_smoothing)
    K = z.shape[1]
    if _outside(targets, K):
        contracts.target_range(fn, int(targets.min()), int(targets.max()), K)


def cross_entropy_forward(logits, targets, label_smoothing=0.0):
    """logits (N, K), targets int64 (N,) in [0, K). Returns (mean loss as float, probs (N, K))."""
    _targets("cross_entropy_forward", "logits", logits, targets, label_smoothing)
    N, K = logits.shape
    probs = np.empty((N, K), logits.dtype)
    losses = np.empty(N, np.float64)
    parallel_for(_ce_fwd, N, np.ascontiguousarray(logits), targets, label_smoothing, probs, losses, work=N * K)
    return float(losses.mean()), probs


def cross_entropy_backward(probs, targets, label_smoothing=0.0):
    _targets("cross_entropy_backward", "probs", probs, targets, label_smoothing)
    dz = np.empty(probs.shape, probs.dtype)
    parallel_for(_ce_bwd, probs.shape[0], probs, targets, label_smoothing, 1.0 / probs.shape[0], dz,
                 work=probs.size)
    return dz


def mse_forward(y, target):
    """mean((y - target)^2) as a float; target (y's shape) is taken in y's dtype."""
    contracts.mse(NUMPY, "mse_forward", y, target)
    d = y - target.astype(y.dtype, copy=False)
    return float(np.mean(d.astype(np.float64) ** 2))


def mse_backward(y, target):
    contracts.mse(NUMPY, "mse_backward", y, target)
    return (2.0 / y.size) * (y - target.astype(y.dtype, copy=False))
