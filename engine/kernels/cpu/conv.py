"""2-D convolution on the CPU: parallel im2col/col2im plus large sgemms, or a direct
kernel for layers with few channels.

Shapes: x (N, C, H, W), w (O, C, kh, kw), b (O,), y (N, O, Ho, Wo) with
Ho = (H + 2*ph - kh) // sh + 1 and Wo = (W + 2*pw - kw) // sw + 1.

GEMM path. The batch is folded into the GEMM's columns: for a block of ``nb`` samples
cols is (K, nb*P) with K = C*kh*kw, P = Ho*Wo, and

    forward      y_mat (O, nb*P)  = W (O, K) @ cols            (then bias, to NCHW)
    weight grad  dW^T  (K, O)    += cols @ G^T,  G (O, nb*P) the output gradient
    input grad   dcols (K, nb*P)  = W^T @ G                     (then col2im)

``nb`` is the whole batch unless cols would pass WORKSPACE_BYTES, so the scratch
memory stays bounded (VGG's 64-channel 32x32 layers at batch 128 would otherwise need
a 300 MB cols buffer) while the products stay large. The products run through
:func:`.parallel.gemm` (single-threaded OpenBLAS calls on a small thread pool). The
weight gradient is computed transposed, (K, nb*P) @ (nb*P, O): OpenBLAS is much faster
with the long reduction on that side.

Direct path. When O*K is small (the first layers of mnist_cnn / cifar_cnn: K = 25..150,
O = 6..16) the GEMMs are too skinny for BLAS and im2col's traffic dominates, so
:mod:`.conv_direct` computes the convolution straight from x (see there).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import conv_direct
from .parallel import gemm
from .workspace import workspace

WORKSPACE_BYTES = 8 * 2**20  # cols per block of samples: about L3-sized blocks measured fastest


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """(N + 2p - F) // s + 1."""
    return (size + 2 * padding - kernel) // stride + 1


@njit(inline="always")
def _valid_range(j, sw, pw, W, Wo):
    """Output columns ow whose input column ow*sw - pw + j lies in [0, W)."""
    lo = 0
    if pw - j > 0:
        lo = (pw - j + sw - 1) // sw
    hi = (W - 1 + pw - j) // sw + 1
    if hi > Wo:
        hi = Wo
    if hi < lo:
        hi = lo
    return lo, hi


@njit(parallel=True, fastmath=True, cache=True)
def _im2col(x, kh, kw, sh, sw, ph, pw, Ho, Wo, cols):
    # One thread per row of cols, written front to back: the rows are N*P long (up to
    # megabytes), and writing each sequentially ran 2-3x faster than a thread per input
    # plane, whose writes hop between kh*kw rows far apart.
    N, C, H, W = x.shape
    P = Ho * Wo
    for row in prange(C * kh * kw):
        c = row // (kh * kw)
        i = (row // kw) % kh
        j = row % kw
        lo, hi = _valid_range(j, sw, pw, W, Wo)
        off = j - pw
        for n in range(N):
            for oh in range(Ho):
                h = oh * sh - ph + i
                base = n * P + oh * Wo
                if h < 0 or h >= H:
                    for ow in range(Wo):
                        cols[row, base + ow] = 0
                else:
                    for ow in range(lo):
                        cols[row, base + ow] = 0
                    if sw == 1:
                        for ow in range(lo, hi):
                            cols[row, base + ow] = x[n, c, h, ow + off]
                    else:
                        for ow in range(lo, hi):
                            cols[row, base + ow] = x[n, c, h, ow * sw + off]
                    for ow in range(hi, Wo):
                        cols[row, base + ow] = 0


@njit(parallel=True, fastmath=True, cache=True)
def _col2im(cols, kh, kw, sh, sw, ph, pw, Ho, Wo, dx):
    # One thread per input channel c: it owns dx[:, c] (no races) and reads its kh*kw
    # rows of cols front to back; dx[:, c] (N*H*W) is revisited kh*kw times from cache.
    N, C, H, W = dx.shape
    P = Ho * Wo
    for c in prange(C):
        for n in range(N):
            for h in range(H):
                for ww in range(W):
                    dx[n, c, h, ww] = 0
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                lo, hi = _valid_range(j, sw, pw, W, Wo)
                off = j - pw
                for n in range(N):
                    for oh in range(Ho):
                        h = oh * sh - ph + i
                        if h < 0 or h >= H:
                            continue
                        base = n * P + oh * Wo
                        if sw == 1:
                            for ow in range(lo, hi):
                                dx[n, c, h, ow + off] += cols[row, base + ow]
                        else:
                            for ow in range(lo, hi):
                                dx[n, c, h, ow * sw + off] += cols[row, base + ow]


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
    # g (N, O, P) -> g_mat (O, N*P); db[o] += sum over n, p of g
    N, O, P = g.shape
    for o in prange(O):
        acc = 0.0
        for n in range(N):
            for p in range(P):
                v = g[n, o, p]
                g_mat[o, n * P + p] = v
                acc += v
        db[o] += acc


def _geometry(x, w, stride, padding):
    N, C, H, W = x.shape
    O, Cw, kh, kw = w.shape
    sh, sw = stride
    ph, pw = padding
    Ho = conv_output_size(H, kh, sh, ph)
    Wo = conv_output_size(W, kw, sw, pw)
    return N, C, O, kh, kw, sh, sw, ph, pw, Ho, Wo


def _block(N, K, P, itemsize):
    """Samples per im2col block: all of them unless cols would pass WORKSPACE_BYTES."""
    return max(1, min(N, WORKSPACE_BYTES // max(1, K * P * itemsize)))


def use_direct(C, O, kh, kw, Ho, Wo) -> bool:
    """Whether the direct kernel beats im2col + BLAS for this layer (few channels)."""
    return conv_direct.suitable(C, O, kh, kw, Ho, Wo)


def conv2d_forward(x, w, b, stride, padding):
    """y = conv(x, w) + b. x (N, C, H, W), w (O, C, kh, kw), b (O,) or None -> y (N, O, Ho, Wo)."""
    N, C, O, kh, kw, sh, sw, ph, pw, Ho, Wo = _geometry(x, w, stride, padding)
    x = np.ascontiguousarray(x)
    if b is None:
        b = np.zeros(O, x.dtype)
    y = np.empty((N, O, Ho, Wo), x.dtype)
    if use_direct(C, O, kh, kw, Ho, Wo):
        conv_direct.forward(x, w, b, sh, sw, ph, pw, y)
        return y
    K, P = C * kh * kw, Ho * Wo
    w2 = w.reshape(O, K)
    nb = _block(N, K, P, x.itemsize)
    y3 = y.reshape(N, O, P)
    for n0 in range(0, N, nb):
        n1 = min(N, n0 + nb)
        cols = workspace("conv.cols", (K, (n1 - n0) * P), x.dtype)
        _im2col(x[n0:n1], kh, kw, sh, sw, ph, pw, Ho, Wo, cols)
        y_mat = workspace("conv.mat", (O, (n1 - n0) * P), x.dtype)
        gemm(w2, cols, out=y_mat)
        _mat_to_nchw(y_mat, b, y3[n0:n1])
    return y


def conv2d_backward(x, w, grad_y, stride, padding, need_input_grad=True):
    """Gradients of conv2d_forward: returns (dx or None, dw (O, C, kh, kw), db (O,))."""
    N, C, O, kh, kw, sh, sw, ph, pw, Ho, Wo = _geometry(x, w, stride, padding)
    x = np.ascontiguousarray(x)
    grad_y = np.ascontiguousarray(grad_y)
    if use_direct(C, O, kh, kw, Ho, Wo):
        return conv_direct.backward(x, w, grad_y, sh, sw, ph, pw, need_input_grad)
    K, P = C * kh * kw, Ho * Wo
    dt = x.dtype
    db = np.zeros(O, dt)
    dwt = np.zeros((K, O), dt)
    dx = np.empty(x.shape, dt) if need_input_grad else None
    wt = np.ascontiguousarray(w.reshape(O, K).T) if need_input_grad else None
    g3 = grad_y.reshape(N, O, P)
    nb = _block(N, K, P, x.itemsize)
    part = np.empty((K, O), dt) if nb < N else dwt
    for n0 in range(0, N, nb):
        n1 = min(N, n0 + nb)
        g_mat = workspace("conv.mat", (O, (n1 - n0) * P), dt)
        _nchw_to_mat(g3[n0:n1], g_mat, db)
        cols = workspace("conv.cols", (K, (n1 - n0) * P), dt)
        _im2col(x[n0:n1], kh, kw, sh, sw, ph, pw, Ho, Wo, cols)
        gemm(cols, g_mat.T, out=part)
        if part is not dwt:
            dwt += part
        if need_input_grad:
            gemm(wt, g_mat, out=cols)
            _col2im(cols, kh, kw, sh, sw, ph, pw, Ho, Wo, dx[n0:n1])
    dw = np.ascontiguousarray(dwt.T).reshape(w.shape)
    return dx, dw, db
