"""2-D convolution on the GPU: im2col/col2im kernels plus the tiled SGEMM (twin of cpu/conv.py).

Shapes: x (N, C, H, W), w (O, C, kh, kw), b (O,), y (N, O, Ho, Wo). As on the CPU the
batch is folded into the GEMM's columns: cols is (K = C*kh*kw, N*Ho*Wo) and

    forward   y  = W (O, K) @ cols                 stored straight into NCHW, bias fused
    backward  dW = G (O, N*P) @ cols^T             G read in place from NCHW (split-K)
              db = per-channel sum of G            two-stage reduction, no atomics
              dcols = W^T @ G;  dx = col2im(dcols) a gather: one thread per dx element

No layout copy or transpose is made (the GEMM reads strided/NCHW views). A 1x1, stride-1,
unpadded convolution needs no im2col at all: x itself is the column matrix. The columns
live in one reused device workspace (allocated once per shape, grown when needed).
"""
from __future__ import annotations

from numba import cuda

from .. import contracts
from ..contracts import conv_output_size  # noqa: F401  (the set's public name)
from . import memory
from .activation import relu_forward, sigmoid_forward, tanh_forward
from .gemm import Mat, dense, dense_t, gemm, grouped
from .memory import flat
from .pool import avgpool2d_forward, maxpool2d_forward
from .reduce import channel_sum
from .runtime import DEVICE, MAX_GRID_Y, grid1d
from .tensor import fill


@cuda.jit(fastmath=True)
def _im2col(x, C, H, W, kh, kw, sh, sw, ph, pw, Ho, Wo, NP, cols):
    # grid.y walks the rows (c, i, j) of cols; grid-stride over its N*Ho*Wo columns
    P = Ho * Wo
    zero = x[0] - x[0]
    for row in range(cuda.blockIdx.y, C * kh * kw, cuda.gridDim.y):
        c = row // (kh * kw)
        r = row - c * (kh * kw)
        i = r // kw
        j = r - i * kw
        base = row * NP
        start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
        for col in range(start, NP, cuda.gridDim.x * cuda.blockDim.x):
            n = col // P
            p = col - n * P
            oh = p // Wo
            ow = p - oh * Wo
            h = oh * sh - ph + i
            w = ow * sw - pw + j
            v = zero
            if h >= 0 and h < H and w >= 0 and w < W:
                v = x[((n * C + c) * H + h) * W + w]
            cols[base + col] = v


@cuda.jit(fastmath=True)
def _col2im(cols, N, C, H, W, kh, kw, sh, sw, ph, pw, Ho, Wo, NP, dx):
    # gather: each dx element sums the column entries that im2col copied it to
    P = Ho * Wo
    start, step = cuda.grid(1), cuda.gridsize(1)
    for e in range(start, N * C * H * W, step):
        w = e % W
        t = e // W
        h = t % H
        t = t // H
        c = t % C
        n = t // C
        acc = cols[0] - cols[0]
        for i in range(kh):
            hh = h + ph - i
            if hh < 0 or hh % sh != 0:
                continue
            oh = hh // sh
            if oh >= Ho:
                continue
            for j in range(kw):
                ww = w + pw - j
                if ww < 0 or ww % sw != 0:
                    continue
                ow = ww // sw
                if ow >= Wo:
                    continue
                acc += cols[((c * kh + i) * kw + j) * NP + n * P + oh * Wo + ow]
        dx[e] = acc


def _pointwise(kh, kw, sh, sw, ph, pw):
    return kh == 1 and kw == 1 and sh == 1 and sw == 1 and ph == 0 and pw == 0


def _columns(x, N, C, H, W, kh, kw, sh, sw, ph, pw, Ho, Wo) -> Mat:
    """The (K, N*Ho*Wo) column matrix of x: a view of x for 1x1 convolutions, else im2col
    into the shared workspace."""
    P = Ho * Wo
    if _pointwise(kh, kw, sh, sw, ph, pw):
        return grouped(x, C, P)
    K, NP = C * kh * kw, N * P
    cols = memory.workspace("conv.cols", (K * NP,), x.dtype)
    blocks, threads = grid1d(NP)
    _im2col[(blocks, min(K, MAX_GRID_Y)), threads](flat(x), C, H, W, kh, kw, sh, sw, ph, pw, Ho, Wo, NP, cols)
    return dense(cols, K, NP)


def conv2d_forward(x, w, b, stride, padding, relu=False):
    """y = conv(x, w) + b, or max(that, 0) with relu. x (N, C, H, W), w (O, C, kh, kw),
    b (O,) or None -> y (N, O, Ho, Wo)."""
    N, C, H, W, O, kh, kw, sh, sw, ph, pw, Ho, Wo = contracts.conv2d_forward(DEVICE, x, w, b, stride, padding, relu)
    y = memory.empty((N, O, Ho, Wo), x.dtype, "the convolution output")
    K, NP = C * kh * kw, N * Ho * Wo
    if y.size == 0:
        return y
    cols = _columns(x, N, C, H, W, kh, kw, sh, sw, ph, pw, Ho, Wo)
    gemm(dense(w, O, K), cols, grouped(y, O, Ho * Wo), O, NP, K, bias=b, bias_axis=0)
    return relu_forward(y) if relu else y


def conv2d_relu_maxpool2x2(x, w, b, stride, padding):
    """maxpool2d_forward(max(conv(x, w) + b, 0), 2, 2, 0): (y, argmax), as the CPU set's
    one-pass kernel (composed here: the network fusion runs on the CPU only)."""
    contracts.conv2d_relu_maxpool2x2(DEVICE, x, w, b, stride, padding)
    return maxpool2d_forward(conv2d_forward(x, w, b, stride, padding, relu=True), (2, 2), (2, 2), (0, 0))


def conv2d_act_avgpool2x2(x, w, b, stride, padding, act):
    """a = act(conv(x, w) + b), act "sigmoid" or "tanh", and y = avgpool2d_forward(a, 2, 2, 0):
    (y, a), as the CPU set's one-pass kernel (composed here)."""
    contracts.conv2d_act_avgpool2x2(DEVICE, x, w, b, stride, padding, act)
    a = (sigmoid_forward if act == "sigmoid" else tanh_forward)(conv2d_forward(x, w, b, stride, padding))
    return avgpool2d_forward(a, (2, 2), (2, 2), (0, 0)), a


def conv2d_backward(x, w, grad_y, stride, padding, need_input_grad=True):
    """Gradients of conv2d_forward: returns (dx or None, dw (O, C, kh, kw), db (O,)); a
    batch of 0 samples gives zero dw and db."""
    N, C, H, W, O, kh, kw, sh, sw, ph, pw, Ho, Wo = contracts.conv2d_backward(DEVICE, x, w, grad_y, stride,
                                                                              padding, need_input_grad)
    P = Ho * Wo
    K, NP = C * kh * kw, N * P
    dw = memory.empty((O, C, kh, kw), w.dtype, "the weight gradient")
    if N == 0:
        db = memory.empty((O,), w.dtype, "the bias gradient")
        fill(dw, 0)
        fill(db, 0)
        return (memory.empty((0, C, H, W), x.dtype) if need_input_grad else None), dw, db
    g = grouped(grad_y, O, P)
    db = channel_sum(flat(grad_y), N, O, P)
    cols = _columns(x, N, C, H, W, kh, kw, sh, sw, ph, pw, Ho, Wo)
    # dW (O, K) = G (O, N*P) @ cols^T (N*P, K); both read in place (K = N*P runs long: split-K)
    gemm(g, cols.T, dense(dw, O, K), O, K, NP)
    dx = None
    if need_input_grad:
        dx = memory.empty((N, C, H, W), x.dtype, "the input gradient")
        wt = dense_t(w, K, O)  # W^T (K, O)
        if _pointwise(kh, kw, sh, sw, ph, pw):
            gemm(wt, g, grouped(dx, C, P), C, NP, O)
        else:
            dcols = memory.workspace("conv.cols", (K * NP,), x.dtype)  # cols is consumed by now
            gemm(wt, g, dense(dcols, K, NP), K, NP, O)
            _col2im[grid1d(dx.size)](dcols, N, C, H, W, kh, kw, sh, sw, ph, pw, Ho, Wo, NP, flat(dx))
    return dx, dw, db

