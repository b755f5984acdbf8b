"""Fully connected layer on the CPU: y = x @ w.T + b with x (N, in), w (out, in), b (out,).

All three products are single BLAS sgemm calls; the bias add and its reduction are
fused Numba loops.
"""
from __future__ import annotations

import numpy as np

from .. import contracts
from ..checks import NUMPY
from .parallel import gemm, kernel, parallel_for


@kernel
def _add_bias(y, b, lo, hi):
    N, O = y.shape
    for n in range(lo, hi):
        for o in range(O):
            y[n, o] += b[o]


@kernel
def _sum_rows(g, out, lo, hi):
    N, O = g.shape
    for o in range(lo, hi):
        acc = 0.0
        for n in range(N):
            acc += g[n, o]
        out[o] = acc


def linear_forward(x, w, b):
    contracts.linear_forward(NUMPY, x, w, b)
    y = gemm(x, w.T)
    if b is not None:
        parallel_for(_add_bias, y.shape[0], y, b, work=y.size)
    return y


def linear_backward(x, w, grad_y, need_input_grad=True):
    """Returns (dx (N, in) or None, dw (out, in), db (out,))."""
    contracts.linear_backward(NUMPY, x, w, grad_y, need_input_grad)
    grad_y = np.ascontiguousarray(grad_y)
    dw = gemm(grad_y.T, x)
    db = np.empty(w.shape[0], grad_y.dtype)
    parallel_for(_sum_rows, grad_y.shape[1], grad_y, db, work=grad_y.size)
    dx = gemm(grad_y, w) if need_input_grad else None
    return dx, dw, db
