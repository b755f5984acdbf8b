"""2-D convolution on the CPU: parallel im2col/col2im plus one BLAS sgemm per batch.

Shapes: x (N, C, H, W), w (O, C, kh, kw), b (O,), y (N, O, Ho, Wo) with
Ho = (H + 2*ph - kh) // sh + 1 and Wo = (W + 2*pw - kw) // sw + 1.
The batch is folded into the GEMM's columns: cols is (C*kh*kw, N*Ho*Wo), so
y_mat = w.reshape(O, K) @ cols is one (O, K) x (K, N*Ho*Wo) product.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .workspace import workspace


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """(N + 2p - F) // s + 1."""
    return (size + 2 * padding - kernel) // stride + 1


@njit(parallel=True, fastmath=True, cache=True)
def _im2col(x, kh, kw, sh, sw, ph, pw, Ho, Wo, cols):
    N, C, H, W = x.shape
    P = Ho * Wo
    for nc in prange(N * C):
        n = nc // C
        c = nc % C
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                for oh in range(Ho):
                    h = oh * sh - ph + i
                    base = n * P + oh * Wo
                    if h < 0 or h >= H:
                        for ow in range(Wo):
                            cols[row, base + ow] = 0
                    else:
                        for ow in range(Wo):
                            ww = ow * sw - pw + j
                            if ww >= 0 and ww < W:
                                cols[row, base + ow] = x[n, c, h, ww]
                            else:
                                cols[row, base + ow] = 0


@njit(parallel=True, fastmath=True, cache=True)
def _col2im(cols, kh, kw, sh, sw, ph, pw, Ho, Wo, dx):
    # Gather formulation: each (n, c) plane of dx belongs to one thread, so no races.
    N, C, H, W = dx.shape
    P = Ho * Wo
    for nc in prange(N * C):
        n = nc // C
        c = nc % C
        dx[n, c, :, :] = 0
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                for oh in range(Ho):
                    h = oh * sh - ph + i
                    if h < 0 or h >= H:
                        continue
                    base = n * P + oh * Wo
                    for ow in range(Wo):
                        ww = ow * sw - pw + j
                        if ww >= 0 and ww < W:
                            dx[n, c, h, ww] += cols[row, base + ow]


@njit(parallel=True, fastmath=True, cache=True)
def _mat_to_nchw(y_mat, b, y):
    # y_mat (O, N*P) -> y (N, O, P) plus bias b (O,)
    N, O, P = y.shape
    for no in prange(N * O):
        n = no // O
        o = no % O
        bo = b[o]
        for p in range(P):
            y[n, o, p] = y_mat[o, n * P + p] + bo


@njit(parallel=True, fastmath=True, cache=True)
def _nchw_to_mat(g, g_mat, db):
    # g (N, O, P) -> g_mat (O, N*P); db[o] = sum over n, p of g
    N, O, P = g.shape
    for o in prange(O):
        acc = 0.0
        for n in range(N):
            for p in range(P):
                v = g[n, o, p]
                g_mat[o, n * P + p] = v
                acc += v
        db[o] = acc


def _geometry(x, w, stride, padding):
    N, C, H, W = x.shape
    O, Cw, kh, kw = w.shape
    sh, sw = stride
    ph, pw = padding
    Ho = conv_output_size(H, kh, sh, ph)
    Wo = conv_output_size(W, kw, sw, pw)
    return N, C, O, kh, kw, sh, sw, ph, pw, Ho, Wo


def conv2d_forward(x, w, b, stride, padding):
    """y = conv(x, w) + b. x (N, C, H, W), w (O, C, kh, kw), b (O,) or None -> y (N, O, Ho, Wo)."""
    N, C, O, kh, kw, sh, sw, ph, pw, Ho, Wo = _geometry(x, w, stride, padding)
    if b is None:
        b = np.zeros(O, x.dtype)
    K, NP = C * kh * kw, N * Ho * Wo
    cols = workspace("conv.cols", (K, NP), x.dtype)
    _im2col(x, kh, kw, sh, sw, ph, pw, Ho, Wo, cols)
    y_mat = workspace("conv.mat", (O, NP), x.dtype)
    np.matmul(w.reshape(O, K), cols, out=y_mat)
    y = np.empty((N, O, Ho, Wo), x.dtype)
    _mat_to_nchw(y_mat, b, y.reshape(N, O, Ho * Wo))
    return y


def conv2d_backward(x, w, grad_y, stride, padding, need_input_grad=True):
    """Gradients of conv2d_forward: returns (dx or None, dw (O, C, kh, kw), db (O,))."""
    N, C, O, kh, kw, sh, sw, ph, pw, Ho, Wo = _geometry(x, w, stride, padding)
    K, NP = C * kh * kw, N * Ho * Wo
    g_mat = workspace("conv.mat", (O, NP), x.dtype)
    db = np.empty(O, x.dtype)
    _nchw_to_mat(np.ascontiguousarray(grad_y).reshape(N, O, Ho * Wo), g_mat, db)
    cols = workspace("conv.cols", (K, NP), x.dtype)
    _im2col(x, kh, kw, sh, sw, ph, pw, Ho, Wo, cols)
    dw = np.matmul(g_mat, cols.T).reshape(w.shape)
    dx = None
    if need_input_grad:
        np.matmul(w.reshape(O, K).T, g_mat, out=cols)
        dx = np.empty_like(x)
        _col2im(cols, kh, kw, sh, sw, ph, pw, Ho, Wo, dx)
    return dx, dw, db
