"""Fully connected layer on the GPU: y = x @ w.T + b, x (N, in), w (out, in), b (out,).

All three products are the tiled SGEMM reading w (and g) transposed in place; the bias
add is fused into the forward GEMM and its gradient is a two-stage column sum.
"""
from __future__ import annotations

from .. import contracts
from . import memory
from .gemm import dense, dense_t, gemm
from .memory import flat
from .reduce import channel_sum
from .runtime import DEVICE


def linear_forward(x, w, b):
    contracts.linear_forward(DEVICE, x, w, b)
    N, I = int(x.shape[0]), int(x.shape[1])
    O = int(w.shape[0])
    y = memory.empty((N, O), x.dtype, "the linear output")
    if y.size:
        gemm(dense(x, N, I), dense_t(w, I, O), dense(y, N, O), N, O, I, bias=b, bias_axis=1)
    return y


def linear_backward(x, w, grad_y, need_input_grad=True):
    """Returns (dx (N, in) or None, dw (out, in), db (out,))."""
    contracts.linear_backward(DEVICE, x, w, grad_y, need_input_grad)
    N, I = int(x.shape[0]), int(x.shape[1])
    O = int(w.shape[0])
    dw = memory.empty((O, I), w.dtype, "the weight gradient")
    gemm(dense_t(grad_y, O, N), dense(x, N, I), dense(dw, O, I), O, I, N)  # g^T @ x
    db = channel_sum(flat(grad_y), N, O, 1)
    dx = None
    if need_input_grad:
        dx = memory.empty((N, I), x.dtype, "the input gradient")
        gemm(dense(grad_y, N, O), dense(w, O, I), dense(dx, N, I), N, I, O)
    return dx, dw, db
