"""Direct 2-D convolution on the CPU for stride-1 layers with few channels (the first
layers of the course's MNIST and CIFAR-10 nets, LeNet-5 and ResNet-20): no im2col
columns, no GEMM.

Shapes as in :mod:`.conv`: x (N, C, H, W), w (O, C, kh, kw), y (N, O, Ho, Wo) with
Ho = H + 2*ph - kh + 1 and Wo = W + 2*pw - kw + 1.

"Wide rows": xp is x zero-padded to (Hp, Wp) = (H + 2ph, W + 2pw) plus one spare zero
row, and an output plane is computed Wp wide (columns Wo..Wp-1 are discarded). Then the
input element under tap (i, j) of output (r, t) sits at the constant flat offset
i*Wp + j from r*Wp + t, so every tap is one long contiguous loop over a whole plane
(Ho*Wp elements) instead of Ho short rows:

    forward      yw[n, o]    = b[o] + sum_{c,i,j} w[o, c, i, j] * xp[n, c].flat[i*Wp + j:][:Ho*Wp]
    weight grad  dw[o, c, i, j] = sum_n  gw[n, o] . xp[n, c].flat[i*Wp + j:][:Ho*Wp]
    input grad   dx = forward(g padded by (kh-1-ph, kw-1-pw), w flipped and transposed)

where gw is g with its rows widened to Wp by zeros (so the discarded columns add
nothing). The weight gradient is a dot product per tap, which LLVM vectorises with the
accumulators in registers; the forward is an axpy per tap. With a few input channels the
im2col GEMMs of these layers are skinny (K = C*kh*kw <= 100, O <= 32), where BLAS runs
far below its peak and the im2col copy costs as much as the product.
"""
from __future__ import annotations

import numpy as np
from numba import uint64

from .parallel import kernel, parallel_for
from .workspace import workspace

MAX_IN_CHANNELS = 4
MAX_OUT_CHANNELS = 32
"""Layers with at most this many input and output channels take the direct path. Measured
on the 2-core machine against im2col + GEMM (forward plus weight gradient, batch 64-128):
2-2.7x faster on the first layers of mnist_cnn, cifar_cnn, LeNet-5 and ResNet-20 (C 1-3,
O 6-16) and 1.4x on C=3, O=32; level at C=3, O=64 (VGG's first layer) and C=6, O=6; 2x
slower at C=6, O=16 and C=O=16, where the GEMMs are less skinny."""


def suitable(C, O, kh, kw, sh, sw, ph, pw) -> bool:
    """Stride 1, padding smaller than the kernel, few channels in and out."""
    return (sh == 1 and sw == 1 and ph < kh and pw < kw
            and C <= MAX_IN_CHANNELS and O <= MAX_OUT_CHANNELS)


@kernel
def _widen(x, ph, pw, xp, lo, hi):
    # planes [lo, hi) of N*C: xp[n, c] = x[n, c] placed at (ph, pw), zeros around
    N, C, H, W = x.shape
    for p in range(lo, hi):
        src = x[p // C, p % C]
        dst = xp[p // C, p % C]
        dst[:, :] = 0
        for h in range(H):
            s = src[h]
            d = dst[ph + h, pw:pw + W]
            for t in range(W):
                d[t] = s[t]


def _wide(x, ph, pw, extra_rows, width, name):
    """x (N, C, H, W) zero-padded into workspace ``name`` (N, C, H + 2ph + extra_rows, width)."""
    N, C, H, W = x.shape
    rows = H + 2 * ph + extra_rows
    xp = workspace(name, (N, C, rows, width), x.dtype)
    parallel_for(_widen, N * C, x, ph, pw, xp, work=xp.size)
    return xp


@kernel
def _fwd(xp, w, b, Ho, Wo, y, lo, hi):
    # samples [lo, hi): y[n] (O, Ho, Wo) from xp[n] (C, Hp + 1, Wp)
    O, C, kh, kw = w.shape
    Wp = xp.shape[3]
    L = Ho * Wp
    acc = np.empty(L, y.dtype)
    for n in range(lo, hi):
        for o in range(O):
            acc[:] = b[o]
            for c in range(C):
                plane = xp[n, c].reshape(-1)
                for i in range(kh):
                    for j in range(kw):
                        wv = w[o, c, i, j]
                        src = plane[i * Wp + j:i * Wp + j + L]
                        for t in range(L):
                            acc[t] += wv * src[t]
            yo = y[n, o]
            for r in range(Ho):
                yr = yo[r]
                ar = acc[r * Wp:r * Wp + Wo]
                for t in range(Wo):
                    yr[t] = ar[t]


@kernel
def _wgrad(xp, gw, dw, lo, hi):
    # pairs (o, c) in [lo, hi) of O*C: dw[o, c, i, j] = sum_n gw[n, o] . shifted xp[n, c]
    N, O, Ho, Wp = gw.shape
    C, kh, kw = dw.shape[1], dw.shape[2], dw.shape[3]
    L = Ho * Wp
    total = np.empty((kh, kw), np.float64)
    for oc in range(lo, hi):
        o = oc // C
        c = oc % C
        total[:, :] = 0
        for n in range(N):
            g = gw[n, o].reshape(-1)
            xf = xp[n, c].reshape(-1)
            for i in range(kh):
                for j in range(kw):
                    off = i * Wp + j
                    acc = dw.dtype.type(0)
                    for t in range(L):  # uint64 index: no wraparound branch (see conv._im2col_row)
                        acc += g[t] * xf[uint64(off + t)]
                    total[i, j] += acc
        for i in range(kh):
            for j in range(kw):
                dw[o, c, i, j] = total[i, j]


def forward(x, w, b, padding, y):
    """y (N, O, Ho, Wo) = conv(x, w, stride 1, padding) + b."""
    ph, pw = padding
    N, C, H, W = x.shape
    xp = _wide(x, ph, pw, 1, W + 2 * pw, "direct.x")
    Ho, Wo = y.shape[2], y.shape[3]
    parallel_for(_fwd, N, xp, w, b, Ho, Wo, y, work=y.size * w.shape[1] * w.shape[2] * w.shape[3])
    return y


def backward_weight(x, g, padding, dw):
    """dw (O, C, kh, kw) of y = conv(x, w, stride 1, padding), from g (N, O, Ho, Wo)."""
    ph, pw = padding
    N, C, H, W = x.shape
    Wp = W + 2 * pw
    xp = _wide(x, ph, pw, 1, Wp, "direct.x")
    gw = _wide(g, 0, 0, 0, Wp, "direct.g")
    O = dw.shape[0]
    parallel_for(_wgrad, O * C, xp, gw, dw, work=g.size * C * dw.shape[2] * dw.shape[3])
    return dw


def backward_input(g, w, padding, dx):
    """dx (N, C, H, W) of y = conv(x, w, stride 1, padding), from g (N, O, Ho, Wo)."""
    kh, kw = w.shape[2], w.shape[3]
    wt = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    return forward(g, wt, np.zeros(wt.shape[0], g.dtype), (kh - 1 - padding[0], kw - 1 - padding[1]), dx)
