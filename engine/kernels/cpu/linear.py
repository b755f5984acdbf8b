"""Fully connected layer on the CPU: y = x @ w.T + b with x (N, in), w (out, in), b (out,).

All three products are single BLAS sgemm calls; the bias add and its reduction are
fused Numba loops.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .parallel import gemm, sized  # small inputs run serially (see parallel.PARALLEL_MIN)


@njit(parallel=True, fastmath=True, cache=True)
def _add_bias(y, b):
    N, O = y.shape
    for n in prange(N):
        for o in range(O):
            y[n, o] += b[o]


@njit(parallel=True, fastmath=True, cache=True)
def _sum_rows(g, out):
    N, O = g.shape
    for o in prange(O):
        acc = 0.0
        for n in range(N):
            acc += g[n, o]
        out[o] = acc


def linear_forward(x, w, b):
    y = gemm(x, w.T)
    if b is not None:
        sized(_add_bias, y.size)(y, b)
    return y


def linear_backward(x, w, grad_y, need_input_grad=True):
    """Returns (dx (N, in) or None, dw (out, in), db (out,))."""
    grad_y = np.ascontiguousarray(grad_y)
    dw = gemm(grad_y.T, x)
    db = np.empty(w.shape[0], grad_y.dtype)
    sized(_sum_rows, grad_y.size)(grad_y, db)
    dx = gemm(grad_y, w) if need_input_grad else None
    return dx, dw, db
