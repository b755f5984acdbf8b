"""Optimizer updates on the CPU, in place over flat parameter arrays (torch.optim's formulas).

SGD:   g += wd*p; buf = g (first step) or m*buf + (1 - dampening)*g;
       g = g + m*buf (nesterov) or buf; p -= lr*g.
Adam:  g += wd*p (Adam) or p *= 1 - lr*wd (AdamW); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
       p -= lr/(1 - b1^t) * m / (sqrt(v)/sqrt(1 - b2^t) + eps).
"""
from __future__ import annotations

import math

from .. import contracts
from ..checks import NUMPY
from .parallel import kernel, parallel_for


@kernel
def _sgd(p, g, buf, lr, momentum, dampening, nesterov, weight_decay, first, lo, hi):
    # indexes the block's slices from 0, so LLVM can vectorise (see activation.py)
    p, g, buf = p[lo:hi], g[lo:hi], buf[lo:hi]
    for i in range(p.size):
        d = g[i] + weight_decay * p[i]
        if momentum != 0:
            if first:
                b = d
            else:
                b = momentum * buf[i] + (1 - dampening) * d
            buf[i] = b
            d = d + momentum * b if nesterov else b
        p[i] -= lr * d


@kernel
def _adam(p, g, m, v, lr, b1, b2, eps, weight_decay, decoupled, bc1, bc2_sqrt, lo, hi):
    step = lr / bc1
    p, g, m, v = p[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi]
    for i in range(p.size):
        if decoupled:
            p[i] *= 1 - lr * weight_decay
            d = g[i]
        else:
            d = g[i] + weight_decay * p[i]
        mi = b1 * m[i] + (1 - b1) * d
        vi = b2 * v[i] + (1 - b2) * d * d
        m[i] = mi
        v[i] = vi
        p[i] -= step * mi / (math.sqrt(vi) / bc2_sqrt + eps)


def sgd_step(p, g, buf, lr, momentum, dampening, nesterov, weight_decay, first):
    """One SGD update of p in place; buf is the momentum buffer (same shape)."""
    contracts.sgd_step(NUMPY, p, g, buf, lr, momentum, dampening, nesterov, weight_decay, first)
    parallel_for(_sgd, p.size, p.reshape(-1), g.reshape(-1), buf.reshape(-1), lr, momentum,
                 dampening, nesterov, weight_decay, first)


def adam_step(p, g, m, v, lr, betas, eps, weight_decay, decoupled, step):
    """One Adam (decoupled=False) or AdamW (decoupled=True) update; step counts from 1."""
    contracts.adam_step(NUMPY, p, g, m, v, lr, betas, eps, weight_decay, decoupled, step)
    b1, b2 = betas
    parallel_for(_adam, p.size, p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), lr, b1, b2,
                 eps, weight_decay, decoupled, 1 - b1 ** step, math.sqrt(1 - b2 ** step))
