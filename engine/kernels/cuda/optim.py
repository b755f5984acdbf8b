"""Optimizer updates on the GPU, in place over flat parameter arrays (twin of cpu/optim.py).

SGD:   g += wd*p; buf = g (first step) or m*buf + (1 - dampening)*g;
       g = g + m*buf (nesterov) or buf; p -= lr*g.
Adam:  g += wd*p (Adam) or p *= 1 - lr*wd (AdamW); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
       p -= lr/(1 - b1^t) * m / (sqrt(v)/sqrt(1 - b2^t) + eps).
Parameters, gradients and state never leave the device; hyperparameters are passed as
scalars of the parameter's dtype.
"""
from __future__ import annotations

from numba import cuda, float32

from .. import contracts
from .memory import flat
from .runtime import DEVICE, grid1d, kmath as math, scalar


@cuda.jit(fastmath=True)
def _sgd(p, g, buf, lr, momentum, dampening, nesterov, weight_decay, first, use_momentum):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, p.size, step):
        d = g[i] + weight_decay * p[i]
        if use_momentum:
            if first:
                b = d
            else:
                b = momentum * buf[i] + (float32(1) - dampening) * d
            buf[i] = b
            d = d + momentum * b if nesterov else b
        p[i] -= lr * d


@cuda.jit(fastmath=True)
def _adam(p, g, m, v, lr, b1, b2, eps, weight_decay, decoupled, step_size, bc2_sqrt):
    start, stride = cuda.grid(1), cuda.gridsize(1)
    one = float32(1)
    for i in range(start, p.size, stride):
        if decoupled:
            p[i] *= one - lr * weight_decay
            d = g[i]
        else:
            d = g[i] + weight_decay * p[i]
        mi = b1 * m[i] + (one - b1) * d
        vi = b2 * v[i] + (one - b2) * d * d
        m[i] = mi
        v[i] = vi
        p[i] -= step_size * mi / (math.sqrt(vi) / bc2_sqrt + eps)


def sgd_step(p, g, buf, lr, momentum, dampening, nesterov, weight_decay, first):
    """One SGD update of p in place; buf is the momentum buffer (same shape)."""
    contracts.sgd_step(DEVICE, p, g, buf, lr, momentum, dampening, nesterov, weight_decay, first)
    fp = flat(p)
    if not fp.size:
        return
    s = lambda v: scalar(p, v)  # noqa: E731
    _sgd[grid1d(fp.size)](fp, flat(g), flat(buf), s(lr), s(momentum), s(dampening), bool(nesterov),
                          s(weight_decay), bool(first), momentum != 0)


def adam_step(p, g, m, v, lr, betas, eps, weight_decay, decoupled, step):
    """One Adam (decoupled=False) or AdamW (decoupled=True) update; step counts from 1."""
    contracts.adam_step(DEVICE, p, g, m, v, lr, betas, eps, weight_decay, decoupled, step)
    fp = flat(p)
    if not fp.size:
        return
    b1, b2 = betas
    s = lambda x: scalar(p, x)  # noqa: E731
    _adam[grid1d(fp.size)](fp, flat(g), flat(m), flat(v), s(lr), s(b1), s(b2), s(eps),
                           s(weight_decay), bool(decoupled), s(lr / (1 - b1 ** step)),
                           s(math.sqrt(1 - b2 ** step)))
