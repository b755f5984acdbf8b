"""Direct 2-D convolution on the CPU: register-tiled SIMD kernels (:mod:`.simd`) that
read the zero-padded input in place, with no im2col columns and no BLAS.

Shapes as in :mod:`.conv`: x (N, C, H, W), w (O, C, kh, kw), y (N, O, Ho, Wo) with
Ho = (H + 2*ph - kh) // sh + 1 and Wo likewise.

"Wide rows", stride 1: xq is one sample zero-padded to (C, Hq, Wq) = (C, H + 2ph, W + pw)
and flattened: each row is pw zeros, then the W inputs, and the next row's leading zeros
serve as this row's right padding (rows of W + 2pw would compute pw more discarded
outputs per row: 10 wide outputs per 8 on an 8x8 plane instead of 9). An output plane
is computed Wq wide
(columns Wo..Wq-1 are discarded). Then the input under tap k = (c, i, j) of wide output
q = r*Wq + t sits at xq[q + koff[k]] with koff[k] = c*Hq*Wq + i*Wq + j, so the
convolution is a product whose right-hand matrix is never built: B[k, q] = xq[koff[k] + q],
K = C*kh*kw rows.
Stride s: the padded sample is split into its s*s stride phases (rows a, a+s, ...;
columns b, b+s, ...), each Hq x Wq with Hq = ceil(Hp / s) (Wq likewise, from W + 2pw, when the
columns have stride s > 1); tap (c, i, j) reads phase
(i % s, j % s) at (i // s)*Wq + j // s, and the product above is unchanged.

    forward      yw (O, Q) = W (O, K) @ B                     Q = Ho*Wq
    weight grad  dW (O, K) = gw (O, Q) @ B^T                  gw: g widened to Wq by zeros
    input grad   stride 1: dx = forward(g padded by (kh-1-ph, kw-1-pw), w flipped, transposed);
                 stride s: per stride phase of dx, such a forward with a sub-kernel, all
                 from one padded g, the phases' rows interleaved into dx (backward_input)

The forward keeps a 4 x 3L tile of yw (4 output channels, 3 vectors of L pixels) in
twelve vector registers while k runs over all K taps: per tap, 3 vector loads of xq, 4
broadcast weights and 12 fused multiply-adds (6 x 2L tiles where 6 pads O less, as for
the 6-channel layers of the small nets). The weight gradient keeps 4 output channels x 3
taps (or 6 x 2) of vector accumulators while q runs over the planes of a chunk of
samples, then adds them into a per-thread sum. Samples are shared out between threads,
each with its own padded buffers. Measured on the 2-core development machine: 55-70
GFLOP/s per core (AVX2), against 35-60 GFLOP/s for two cores of im2col + OpenBLAS on the
same 16- to 64-channel layers, whose products are too skinny for BLAS.
"""
from __future__ import annotations

import functools

import numpy as np

from . import vmath
from .parallel import get_num_threads, helper, kernel, parallel_for
from .simd import (VECTOR_BYTES, lanes, vadd, vevens, vfma, vload, vmax, vodds, vsplat, vstore, vsum, vzero, vziphi,
                   vziplo)

MACS_PER_ELEMENT = 16
"""Multiply-adds that cost about as long as one element of an element-wise pass (the unit
of parallel_for's ``work``): measured on the 2-core machine, MNIST's first layer (5.5M
multiply-adds at batch 64) ran faster on one thread than on two, CIFAR's (15-23M) 1.4x
faster on two."""
ACT_ELEMENTS = 5
"""A sigmoid or tanh in the output loop (vmath, about 0.9 ns per output on one core) costs
about as much as this many elements of an element-wise pass (0.2 ns): LeNet-5's first
layer, whose multiply-adds alone looked too small to share out, spends most of its time
there."""
CHUNK_ELEMENTS = 1 << 16
"""The weight gradient pads this many elements' worth of samples (input planes and
widened output gradients, 256 KB in float32) before running its tiles over all of
them, so each tile's accumulators are added to the per-thread sums once per chunk, not
once per sample: those sums (O x K x L) outgrow the L2 cache from 32 channels on."""
TAP_PAD = 6  # koff is padded to a multiple of both weight-gradient tiles' tap counts (3, 2)


MAX_TAPS = 1200
"""Layers with at most this many taps each way, C*kh*kw (the forward and the weight
gradient) and O*kh*kw (the input gradient), take the direct path. Measured on the 2-core
machine against im2col + GEMM, forward and backward, batch 64-128: 2.5-5x faster on the
1- to 6-channel layers of the small nets, 1.9-3.9x on ResNet-20's 16- and 32-channel
layers, 1.1-1.6x on its 64-channel ones and VGG's 64- and 128-channel ones; from 256
channels (2304 taps) BLAS is faster (VGG's 128 -> 256 layer: backward 94 against 152 ms):
the packed weights of one output tile (K x 4) no longer stay in cache across a sample's
pixels, the weight gradient's per-thread sums (O x K x 8) outgrow the caches, and the
small planes waste most of each wide tile."""


def suitable(C, O, kh, kw, sh, sw, ph, pw) -> bool:
    """Padding smaller than the kernel (so the input gradient is a forward) and at most
    MAX_TAPS taps in and out."""
    return ph < kh and pw < kw and max(C, O) * kh * kw <= MAX_TAPS


def _round_up(n, m):
    return -(-n // m) * m


def _tile_rows(O, Q=None, L=1):
    """Output channels per register tile: 4 (4 x 3 vectors of L) or 6 (6 x 2), whichever
    computes fewer padded outputs: O rounded up, times (for the forward) the Q wide
    outputs of a plane rounded up to the tile width. 6 serves the 6-channel layers of
    LeNet-style nets and planes whose wide rows round better to 16 pixels than to 24
    (64 channels on 16x16, Q = 272: 66 x 272 against 64 x 288)."""
    if Q is None:
        return 6 if _round_up(O, 6) < _round_up(O, 4) else 4
    return 6 if _round_up(O, 6) * _round_up(Q, 2 * L) < _round_up(O, 4) * _round_up(Q, 3 * L) else 4


@functools.lru_cache(maxsize=256)
def _phases(C, H, W, kh, kw, stride, padding):
    """(Hq, Wq, koff): the phase planes' size and the flat offset in them of every tap
    (c, i, j), c*Hq*Wq + (i//sh)*Wq + j//sw in phase (i % sh, j % sw); koff has K rounded
    up to TAP_PAD entries, the spare ones 0. Cached (read-only koff): a layer asks the same
    geometry every step."""
    (sh, sw), (ph, pw) = stride, padding
    Hq, Wq = -(-(H + 2 * ph) // sh), (W + pw if sw == 1 else -(-(W + 2 * pw) // sw))
    i, j = np.arange(kh)[:, None], np.arange(kw)
    tap = ((i % sh) * sw + j % sw) * C * Hq * Wq + (i // sh) * Wq + j // sw
    k = np.arange(C)[:, None, None] * (Hq * Wq) + tap
    koff = np.zeros(_round_up(k.size, TAP_PAD), np.int64)
    koff[:k.size] = k.reshape(-1)
    koff.flags.writeable = False
    return Hq, Wq, koff


# The copies around the tiles (padding a sample, widening a gradient, adding the bias)
# run whole vectors and a scalar tail: LLVM left these short row loops scalar, and they
# took 20-30% of a forward (resnet20's 16-channel layer: 18 of 82 us per sample padding).

@helper  # inlined, so callers that drop the sum never compute it
def _copy(src, i, dst, o, n):
    # dst[o:o+n] = src[i:i+n]; returns their sum
    L = lanes(dst)
    m = n - n % L
    acc = vzero(dst)
    for t in range(0, m, L):
        v = vload(src, i + t)
        vstore(dst, o + t, v)
        acc = vadd(acc, v)
    total = vsum(acc)
    for t in range(m, n):
        total += src[i + t]
        dst[o + t] = src[i + t]
    return total


@helper
def _bias_rows(yw, Qp, Wq, b, relu, Ho, Wo, yf):
    # yf (O*Ho*Wo) flat = the (Ho, Wo) planes of yw (O, Qp) (rows Wq apart) + b[o], then
    # max(., 0) with relu
    L = lanes(yf)
    m = Wo - Wo % L
    zero = vzero(yf)
    for o in range(b.size):
        bv = vsplat(b, o)
        bo = b[o]
        for r in range(Ho):
            s0 = o * Qp + r * Wq
            d0 = (o * Ho + r) * Wo
            for t in range(0, m, L):
                v = vadd(vload(yw, s0 + t), bv)
                vstore(yf, d0 + t, vmax(v, zero) if relu else v)
            for t in range(m, Wo):
                v = yw[s0 + t] + bo
                yf[d0 + t] = (0 if v < 0 else v) if relu else v   # NaN stays NaN, as in vmax


@helper
def _split_row2(sf, i, W, pw, xq, d0, d1):
    # the input row sf[i:i+W] into the two column phases of stride 2, whose rows start at
    # xq[d0] (phase 0) and xq[d1] (phase 1): column t goes to phase (t + pw) % 2 at
    # (t + pw) // 2. Whole vectors split into even and odd lanes (a strided scalar copy
    # took a third of ResNet-20's stride-2 layers), then a scalar tail.
    L = lanes(xq)
    de, do = (d0, d1) if pw % 2 == 0 else (d1, d0)  # the phase rows of even and odd columns
    de += pw // 2
    do += (pw + 1) // 2
    m = W // 2 - W // 2 % L
    for j in range(0, m, L):
        v0 = vload(sf, i + 2 * j)
        v1 = vload(sf, i + 2 * j + L)
        vstore(xq, de + j, vevens(v0, v1))
        vstore(xq, do + j, vodds(v0, v1))
    for t in range(2 * m, W):
        if t % 2 == 0:
            xq[de + t // 2] = sf[i + t]
        else:
            xq[do + t // 2] = sf[i + t]


@helper
def _pad_into(src, ph, pw, sh, sw, kh, kw, Hq, Wq, xq):
    # xq (sh*sw*C*Hq*Wq + spare) flat: the padded sample src (C, H, W) (C-contiguous)
    # split into stride phases, xq[((a*sw + b)*C + c)*Hq*Wq + u*Wq + v] = padded[c, u*sh + a,
    # v*sw + b], for the phases a kh x kw kernel reads (a < kh, b < kw: a 1x1 kernel of
    # stride 2 reads a quarter of the input). Only interior elements are written: the rest
    # stays as it is (zeros, from the caller).
    C, H, W = src.shape
    sf = src.reshape(-1)
    plane = Hq * Wq
    for a in range(min(sh, kh)):
        u0 = (ph - a + sh - 1) // sh if ph > a else 0  # first phase row u with u*sh + a >= ph
        u1 = (H - 1 + ph - a) // sh + 1  # one past the last with u*sh + a - ph < H
        for b in range(min(sw, kw)):
            v0 = (pw - b + sw - 1) // sw if pw > b else 0  # columns likewise
            v1 = (W - 1 + pw - b) // sw + 1
            if sw == 2 and b == 1:
                continue  # phase b = 1 was written with b = 0 (_split_row2)
            for c in range(C):
                base = ((a * sw + b) * C + c) * plane + v0
                for u in range(u0, u1):
                    i = (c * H + u * sh + a - ph) * W + v0 * sw + b - pw
                    if sw == 1:
                        _copy(sf, i, xq, base + u * Wq, v1 - v0)
                    elif sw == 2:
                        d = ((a * sw) * C + c) * plane + u * Wq
                        _split_row2(sf, (c * H + u * sh + a - ph) * W, W, pw, xq, d, d + C * plane)
                    else:
                        d = base + u * Wq
                        for t in range(v1 - v0):
                            xq[d + t] = sf[i + t * sw]


@helper
def _fwd_tiles(xp, wp, koff, Op, Qp, yw):
    # yw (Op*Qp) flat = wp^T @ B over K = koff.size taps; wp (K*Op) flat is W^T packed
    # (row k holds the Op weights of tap k); tiles of 4 rows x 3 vectors: Op a multiple
    # of 4, Qp of 3L
    L = lanes(xp)
    K = koff.size
    for o0 in range(0, Op, 4):
        for q0 in range(0, Qp, 3 * L):
            a00 = vzero(xp); a01 = vzero(xp); a02 = vzero(xp)  # noqa: E702
            a10 = vzero(xp); a11 = vzero(xp); a12 = vzero(xp)  # noqa: E702
            a20 = vzero(xp); a21 = vzero(xp); a22 = vzero(xp)  # noqa: E702
            a30 = vzero(xp); a31 = vzero(xp); a32 = vzero(xp)  # noqa: E702
            for k in range(K):
                p = koff[k] + q0
                b0 = vload(xp, p); b1 = vload(xp, p + L); b2 = vload(xp, p + 2 * L)  # noqa: E702
                wk = k * Op + o0
                v = vsplat(wp, wk)
                a00 = vfma(v, b0, a00); a01 = vfma(v, b1, a01); a02 = vfma(v, b2, a02)  # noqa: E702
                v = vsplat(wp, wk + 1)
                a10 = vfma(v, b0, a10); a11 = vfma(v, b1, a11); a12 = vfma(v, b2, a12)  # noqa: E702
                v = vsplat(wp, wk + 2)
                a20 = vfma(v, b0, a20); a21 = vfma(v, b1, a21); a22 = vfma(v, b2, a22)  # noqa: E702
                v = vsplat(wp, wk + 3)
                a30 = vfma(v, b0, a30); a31 = vfma(v, b1, a31); a32 = vfma(v, b2, a32)  # noqa: E702
            r = o0 * Qp + q0
            vstore(yw, r, a00); vstore(yw, r + L, a01); vstore(yw, r + 2 * L, a02)  # noqa: E702
            r += Qp
            vstore(yw, r, a10); vstore(yw, r + L, a11); vstore(yw, r + 2 * L, a12)  # noqa: E702
            r += Qp
            vstore(yw, r, a20); vstore(yw, r + L, a21); vstore(yw, r + 2 * L, a22)  # noqa: E702
            r += Qp
            vstore(yw, r, a30); vstore(yw, r + L, a31); vstore(yw, r + 2 * L, a32)  # noqa: E702


@helper
def _fwd_tiles6(xp, wp, koff, Op, Qp, yw):
    # as _fwd_tiles with tiles of 6 rows x 2 vectors: Op a multiple of 6, Qp of 2L
    L = lanes(xp)
    K = koff.size
    for o0 in range(0, Op, 6):
        for q0 in range(0, Qp, 2 * L):
            a00 = vzero(xp); a01 = vzero(xp); a10 = vzero(xp); a11 = vzero(xp)  # noqa: E702
            a20 = vzero(xp); a21 = vzero(xp); a30 = vzero(xp); a31 = vzero(xp)  # noqa: E702
            a40 = vzero(xp); a41 = vzero(xp); a50 = vzero(xp); a51 = vzero(xp)  # noqa: E702
            for k in range(K):
                p = koff[k] + q0
                b0 = vload(xp, p); b1 = vload(xp, p + L)  # noqa: E702
                wk = k * Op + o0
                v = vsplat(wp, wk)
                a00 = vfma(v, b0, a00); a01 = vfma(v, b1, a01)  # noqa: E702
                v = vsplat(wp, wk + 1)
                a10 = vfma(v, b0, a10); a11 = vfma(v, b1, a11)  # noqa: E702
                v = vsplat(wp, wk + 2)
                a20 = vfma(v, b0, a20); a21 = vfma(v, b1, a21)  # noqa: E702
                v = vsplat(wp, wk + 3)
                a30 = vfma(v, b0, a30); a31 = vfma(v, b1, a31)  # noqa: E702
                v = vsplat(wp, wk + 4)
                a40 = vfma(v, b0, a40); a41 = vfma(v, b1, a41)  # noqa: E702
                v = vsplat(wp, wk + 5)
                a50 = vfma(v, b0, a50); a51 = vfma(v, b1, a51)  # noqa: E702
            r = o0 * Qp + q0
            vstore(yw, r, a00); vstore(yw, r + L, a01)  # noqa: E702
            r += Qp
            vstore(yw, r, a10); vstore(yw, r + L, a11)  # noqa: E702
            r += Qp
            vstore(yw, r, a20); vstore(yw, r + L, a21)  # noqa: E702
            r += Qp
            vstore(yw, r, a30); vstore(yw, r + L, a31)  # noqa: E702
            r += Qp
            vstore(yw, r, a40); vstore(yw, r + L, a41)  # noqa: E702
            r += Qp
            vstore(yw, r, a50); vstore(yw, r + L, a51)  # noqa: E702


@helper
def _relu_pool2x2(yw, b, Qp, Wq, Wo, y, idx):
    # y, idx (O, Hp, Wp): max(., 0) of the max over each 2x2 window (stride 2) of the wide
    # output planes yw (O, Qp) + b, and the winner's flat index r*Wo + t in the (Ho, Wo)
    # plane; windows compared in maxpool2d_forward's order, first maximum wins
    O, Hp, Wp = y.shape
    for o in range(O):
        bo = b[o]
        for r in range(Hp):
            s0 = o * Qp + 2 * r * Wq
            yr = y[o, r]
            ir = idx[o, r]
            for c in range(Wp):
                j = s0 + 2 * c
                arg = 2 * r * Wo + 2 * c
                best = yw[j] + bo
                win = arg
                v = yw[j + 1] + bo
                if v > best:
                    best, win = v, arg + 1
                v = yw[j + Wq] + bo
                if v > best:
                    best, win = v, arg + Wo
                v = yw[j + Wq + 1] + bo
                if v > best:
                    best, win = v, arg + Wo + 1
                yr[c] = max(best, 0)
                ir[c] = win


@helper
def _act_avgpool2x2(yw, b, sigmoid, Qp, Wq, a, y):
    # a (O, Ho, Wo) = sigmoid (else tanh) of the wide output planes yw (O, Qp) + b, computed
    # in place in yw over whole planes (long loops LLVM vectorises, vmath); y (O, Ho//2,
    # Wo//2) = the mean of each 2x2 window of a (stride 2)
    O, Ho, Wo = a.shape
    Hp, Wp = y.shape[1], y.shape[2]
    af = a.reshape(-1)
    quarter = y.dtype.type(0.25)
    for o in range(O):
        bo = b[o]
        plane = yw[o * Qp:o * Qp + Ho * Wq]
        if sigmoid:
            for t in range(plane.size):
                plane[t] = vmath.sigmoid(plane[t] + bo)
        else:
            for t in range(plane.size):
                plane[t] = vmath.tanh(plane[t] + bo)
        for r in range(Ho):
            _copy(plane, r * Wq, af, (o * Ho + r) * Wo, Wo)
        for r in range(Hp):
            yr = y[o, r]
            for c in range(Wp):
                j = 2 * r * Wq + 2 * c
                yr[c] = (plane[j] + plane[j + 1] + plane[j + Wq] + plane[j + Wq + 1]) * quarter


POOL_NONE, POOL_RELU_MAX, POOL_SIGMOID_AVG, POOL_TANH_AVG = 0, 1, 2, 3
"""What :func:`_fwd` does after the convolution: store it (with ``relu``, max(., 0)), or
an activation and a 2x2 pooling of stride 2: ReLU and max (the winners in ``idx``), or
sigmoid / tanh and average (the activation, before pooling, in ``a``)."""


@kernel
def _fwd(x, wp, koff, b, relu, kh, kw, ph, pw, sh, sw, Hq, Wq, Ho, Wo, y, pool, idx, a, lo, hi):
    # samples [lo, hi): y[n] (O, Ho, Wo) = conv(x[n]) + b (then max(., 0) if relu); with
    # a pool (POOL_*), y[n] (O, Ho//2, Wo//2) gets the pooled activation instead, and
    # idx[n] (max) or a[n] (O, Ho, Wo) (average) what the backward needs
    N, C, H, W = x.shape
    Op = wp.size // koff.size
    L = lanes(wp)
    nr = 2 * L if Op % 4 else 3 * L  # pixels per tile: 6-row tiles when Op is not a multiple of 4
    Qp = (Ho * Wq + nr - 1) // nr * nr
    xq = np.zeros(sh * sw * C * Hq * Wq + nr + Wq + kw, x.dtype)
    yw = np.empty(Op * Qp, x.dtype)
    for n in range(lo, hi):
        _pad_into(x[n], ph, pw, sh, sw, kh, kw, Hq, Wq, xq)
        if Op % 4:
            _fwd_tiles6(xq, wp, koff, Op, Qp, yw)
        else:
            _fwd_tiles(xq, wp, koff, Op, Qp, yw)
        if pool == POOL_RELU_MAX:
            _relu_pool2x2(yw, b, Qp, Wq, Wo, y[n], idx[n])
        elif pool != POOL_NONE:
            _act_avgpool2x2(yw, b, pool == POOL_SIGMOID_AVG, Qp, Wq, a[n], y[n])
        else:
            _bias_rows(yw, Qp, Wq, b, relu, Ho, Wo, y[n].reshape(-1))


@helper
def _interleave_row(yw, e, o, W, pw, Wq, dst, d):
    # dst[d:d+W] = a row of dx from two column phases of stride 2: column t from phase
    # (t + pw) % 2 at (t + pw) // 2, phase rows starting at yw[e] (even t) and yw[o] (odd
    # t), each Wq long (0 past its end). Whole vectors by zipping L of each phase into 2L
    # columns, then a scalar tail.
    L = lanes(dst)
    se, so = pw // 2, (pw + 1) // 2  # phase columns of t = 0 and t = 1
    m = min(W // 2, Wq - so)
    m -= m % L
    for j in range(0, m, L):
        ve = vload(yw, e + se + j)
        vo = vload(yw, o + so + j)
        vstore(dst, d + 2 * j, vziplo(ve, vo))
        vstore(dst, d + 2 * j + L, vziphi(ve, vo))
    for t in range(2 * m, W):
        v = (t + pw) // 2
        dst[d + t] = 0 if v >= Wq else (yw[e + v] if t % 2 == 0 else yw[o + v])


@kernel
def _igrad(g, wp, koff, kstart, Op, P, Q, Hq, Wq, U, ph, pw, sh, sw, dx, lo, hi):
    # samples [lo, hi) of the input gradient of a strided convolution (see backward_input):
    # g[n] padded once (P rows, Q columns; wide rows Wq), one product per stride phase
    # (a, b) of dx's padded planes with the phase's taps koff[kstart[p]:kstart[p+1]] and
    # weights (p = a*sw + b), then every place of dx[n] (C, H, W) written once, row by
    # row from the phases' (U, Wq) planes (0 outside them)
    N, C, H, W = dx.shape
    O = g.shape[1]
    L = lanes(wp)
    nr = 3 * L
    Qp = (U * Wq + nr - 1) // nr * nr
    plane = Op * Qp
    gq = np.zeros(O * Hq * Wq + nr + Wq + Q + 1, g.dtype)
    yw = np.empty(sh * sw * plane, g.dtype)
    for n in range(lo, hi):
        _pad_into(g[n], P, Q, 1, 1, P + 1, Q + 1, Hq, Wq, gq)
        for p in range(sh * sw):
            k0, k1 = kstart[p], kstart[p + 1]
            _fwd_tiles(gq, wp[k0 * Op:k1 * Op], koff[k0:k1], Op, Qp, yw[p * plane:(p + 1) * plane])
        dxf = dx[n].reshape(-1)
        for c in range(C):
            for h in range(H):
                a, u = (h + ph) % sh, (h + ph) // sh
                d = (c * H + h) * W
                if u >= U:
                    dxf[d:d + W] = 0
                    continue
                row = a * sw * plane + c * Qp + u * Wq  # phase (a, 0)'s row u of channel c
                if sw == 2:
                    e = row + (pw % 2) * plane
                    _interleave_row(yw, e, row + plane - (pw % 2) * plane, W, pw, Wq, dxf, d)
                    continue
                for t in range(W):
                    v = (t + pw) // sw
                    dxf[d + t] = 0 if v >= Wq else yw[row + ((t + pw) % sw) * plane + v]


@helper
def _wgrad_tiles(xp, gw, koff, Op, Qv, S, XS, GS, acc):
    # acc (Op*Kp*L) flat += lane-wise partial sums of gw (Op, Qv) @ B^T, Kp = koff.size,
    # over S samples held XS (xp) and GS (gw) elements apart: the accumulators stay in
    # registers across the samples; tiles of 4 output channels x 3 taps (Op % 4 == 0)
    L = lanes(xp)
    Kp = koff.size
    for o0 in range(0, Op, 4):
        for k0 in range(0, Kp, 3):
            a00 = vzero(xp); a01 = vzero(xp); a02 = vzero(xp)  # noqa: E702
            a10 = vzero(xp); a11 = vzero(xp); a12 = vzero(xp)  # noqa: E702
            a20 = vzero(xp); a21 = vzero(xp); a22 = vzero(xp)  # noqa: E702
            a30 = vzero(xp); a31 = vzero(xp); a32 = vzero(xp)  # noqa: E702
            for s in range(S):
                g0 = s * GS + o0 * Qv
                x0 = koff[k0] + s * XS; x1 = koff[k0 + 1] + s * XS; x2 = koff[k0 + 2] + s * XS  # noqa: E702
                for q in range(0, Qv, L):
                    b0 = vload(xp, x0 + q); b1 = vload(xp, x1 + q); b2 = vload(xp, x2 + q)  # noqa: E702
                    v = vload(gw, g0 + q)
                    a00 = vfma(v, b0, a00); a01 = vfma(v, b1, a01); a02 = vfma(v, b2, a02)  # noqa: E702
                    v = vload(gw, g0 + Qv + q)
                    a10 = vfma(v, b0, a10); a11 = vfma(v, b1, a11); a12 = vfma(v, b2, a12)  # noqa: E702
                    v = vload(gw, g0 + 2 * Qv + q)
                    a20 = vfma(v, b0, a20); a21 = vfma(v, b1, a21); a22 = vfma(v, b2, a22)  # noqa: E702
                    v = vload(gw, g0 + 3 * Qv + q)
                    a30 = vfma(v, b0, a30); a31 = vfma(v, b1, a31); a32 = vfma(v, b2, a32)  # noqa: E702
            for r, (c0, c1, c2) in enumerate(((a00, a01, a02), (a10, a11, a12), (a20, a21, a22), (a30, a31, a32))):
                i = ((o0 + r) * Kp + k0) * L
                vstore(acc, i, vadd(vload(acc, i), c0))
                vstore(acc, i + L, vadd(vload(acc, i + L), c1))
                vstore(acc, i + 2 * L, vadd(vload(acc, i + 2 * L), c2))


@helper
def _wgrad_tiles6(xp, gw, koff, Op, Qv, S, XS, GS, acc):
    # as _wgrad_tiles with tiles of 6 output channels x 2 taps (Op a multiple of 6)
    L = lanes(xp)
    Kp = koff.size
    for o0 in range(0, Op, 6):
        for k0 in range(0, Kp, 2):
            a00 = vzero(xp); a01 = vzero(xp); a10 = vzero(xp); a11 = vzero(xp)  # noqa: E702
            a20 = vzero(xp); a21 = vzero(xp); a30 = vzero(xp); a31 = vzero(xp)  # noqa: E702
            a40 = vzero(xp); a41 = vzero(xp); a50 = vzero(xp); a51 = vzero(xp)  # noqa: E702
            for s in range(S):
                g0 = s * GS + o0 * Qv
                x0 = koff[k0] + s * XS; x1 = koff[k0 + 1] + s * XS  # noqa: E702
                for q in range(0, Qv, L):
                    b0 = vload(xp, x0 + q); b1 = vload(xp, x1 + q)  # noqa: E702
                    v = vload(gw, g0 + q)
                    a00 = vfma(v, b0, a00); a01 = vfma(v, b1, a01)  # noqa: E702
                    v = vload(gw, g0 + Qv + q)
                    a10 = vfma(v, b0, a10); a11 = vfma(v, b1, a11)  # noqa: E702
                    v = vload(gw, g0 + 2 * Qv + q)
                    a20 = vfma(v, b0, a20); a21 = vfma(v, b1, a21)  # noqa: E702
                    v = vload(gw, g0 + 3 * Qv + q)
                    a30 = vfma(v, b0, a30); a31 = vfma(v, b1, a31)  # noqa: E702
                    v = vload(gw, g0 + 4 * Qv + q)
                    a40 = vfma(v, b0, a40); a41 = vfma(v, b1, a41)  # noqa: E702
                    v = vload(gw, g0 + 5 * Qv + q)
                    a50 = vfma(v, b0, a50); a51 = vfma(v, b1, a51)  # noqa: E702
            for r, (c0, c1) in enumerate(((a00, a01), (a10, a11), (a20, a21), (a30, a31), (a40, a41), (a50, a51))):
                i = ((o0 + r) * Kp + k0) * L
                vstore(acc, i, vadd(vload(acc, i), c0))
                vstore(acc, i + L, vadd(vload(acc, i + L), c1))


@kernel
def _wgrad(x, g, koff, kh, kw, ph, pw, sh, sw, Hq, Wq, Op, chunk, acc, bacc, lo, hi):
    # blocks [lo, hi) of acc (B, Op*Kp*L) and bacc (B, O): block b sums the weight and
    # bias gradients of samples [N*b//B, N*(b+1)//B), S samples (about ``chunk`` elements) at a time
    N, C, H, W = x.shape
    O, Ho, Wo = g.shape[1], g.shape[2], g.shape[3]
    B = acc.shape[0]
    L = lanes(acc[0])
    Qv = (Ho * Wq + L - 1) // L * L
    XS = (sh * sw * C * Hq * Wq + Wq + kw + 2 * L - 1) // L * L  # one sample's phase planes + spare
    GS = Op * Qv
    S = max(1, chunk // (XS + GS))
    xq = np.zeros(S * XS, x.dtype)
    gw = np.zeros(S * GS, x.dtype)  # columns Wo..Wq-1, the tails and rows >= O stay 0
    gf = g.reshape(-1)
    for b in range(lo, hi):
        a = acc[b]
        a[:] = 0
        bacc[b, :] = 0
        n1 = N * (b + 1) // B
        for n0 in range(N * b // B, n1, S):
            for s in range(min(S, n1 - n0)):
                n = n0 + s
                _pad_into(x[n], ph, pw, sh, sw, kh, kw, Hq, Wq, xq[s * XS:(s + 1) * XS])
                for o in range(O):
                    total = 0.0
                    for r in range(Ho):
                        total += _copy(gf, ((n * O + o) * Ho + r) * Wo, gw, s * GS + o * Qv + r * Wq, Wo)
                    bacc[b, o] += total
            if Op % 4:
                _wgrad_tiles6(xq, gw, koff, Op, Qv, min(S, n1 - n0), XS, GS, a)
            else:
                _wgrad_tiles(xq, gw, koff, Op, Qv, min(S, n1 - n0), XS, GS, a)


@kernel
def _sum_blocks(acc, bacc, dw, db):
    # dw (O, K) = acc (B, Op, Kp, L) summed over blocks and lanes; db (O,) = bacc summed
    B, Op, Kp, L = acc.shape
    O, K = dw.shape
    for o in range(O):
        db[o] = bacc[:, o].sum()
        for k in range(K):
            v = acc[0, o, k].sum()
            for b in range(1, B):
                v += acc[b, o, k].sum()
            dw[o, k] = v


_NO_INDEX = np.zeros((1, 1, 1, 1), np.int32)


def forward(x, w, b, stride, padding, y, relu=False, argmax=None, act=None, a=None):
    """y (N, O, Ho, Wo) = conv(x, w, stride, padding) + b, or max(that, 0) with relu. With
    ``argmax`` (int32, shaped as y), y is (N, O, Ho//2, Wo//2): ReLU, then 2x2 max pooling
    of stride 2, as maxpool2d_forward, whose argmax it fills. With ``act`` ("sigmoid" or "tanh") and ``a`` (N, O, Ho, Wo),
    a = act(conv + b) and y (N, O, Ho//2, Wo//2) is its 2x2 average pooling of stride 2."""
    N, C, H, W = x.shape
    O, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    K = C * kh * kw
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    Hq, Wq, koff = _phases(C, H, W, kh, kw, stride, padding)
    Op = _round_up(O, _tile_rows(O, Ho * Wq, VECTOR_BYTES // x.itemsize))
    wp = np.zeros((K, Op), x.dtype)
    wp[:, :O] = w.reshape(O, K).T
    b = np.ascontiguousarray(b, x.dtype)
    pool = (POOL_RELU_MAX if argmax is not None else POOL_NONE if act is None else
            POOL_SIGMOID_AVG if act == "sigmoid" else POOL_TANH_AVG)
    # the arrays a pool does not use are stand-ins of the same types (one compiled kernel)
    parallel_for(_fwd, N, x, wp.reshape(-1), koff[:K], b, relu, kh, kw, ph, pw, sh, sw, Hq, Wq, Ho, Wo, y,
                 pool, _NO_INDEX if argmax is None else argmax, y if a is None else a,
                 work=N * O * Ho * Wo * (K // MACS_PER_ELEMENT + (ACT_ELEMENTS if act is not None else 0)))
    return y


def backward_weight(x, g, stride, padding, dw, db):
    """dw (O, C, kh, kw) and db (O,) of y = conv(x, w, stride, padding) + b, from
    g (N, O, Ho, Wo); both filled in place."""
    N, C, H, W = x.shape
    O, _, kh, kw = dw.shape
    Hq, Wq, koff = _phases(C, H, W, kh, kw, stride, padding)
    Op = _round_up(O, _tile_rows(O))
    B = max(1, min(N, get_num_threads()))
    L = VECTOR_BYTES // x.itemsize
    acc = np.empty((B, Op * koff.size * L), x.dtype)
    bacc = np.empty((B, O), np.float64)
    parallel_for(_wgrad, B, x, g, koff, kh, kw, *padding, *stride, Hq, Wq, Op, CHUNK_ELEMENTS, acc, bacc,
                 work=g.size * C * kh * kw // MACS_PER_ELEMENT)
    _sum_blocks(acc.reshape(B, Op, koff.size, L), bacc, dw.reshape(O, -1), db)


def backward_input(g, w, stride, padding, dx):
    """dx (N, C, H, W) of y = conv(x, w, stride, padding), from g (N, O, Ho, Wo).

    Stride 1: the forward of g padded by (kh-1-ph, kw-1-pw) with w flipped and transposed.
    Stride s: each stride phase (a, b) of the padded dx, dxp[c, u*sh + a, v*sw + b], is a
    forward of g with the sub-kernel w[:, :, a::sh, b::sw] (sum over o, m, n of
    g[o, u-m, v-n] w[o, c, a + m*sh, b + n*sw]); one kernel pads each sample of g once,
    runs the sh*sw products and interleaves the phases' rows into dx (see _strided_taps).
    """
    (sh, sw), (ph, pw) = stride, padding
    O, C, kh, kw = w.shape
    if sh == sw == 1:
        return forward(g, _flip(w), np.zeros(C, g.dtype), (1, 1), (kh - 1 - ph, kw - 1 - pw), dx)
    Hg, Wg = g.shape[2:]
    P, Q, Hq, Wq, U, koff, kstart = _strided_taps(O, Hg, Wg, kh, kw, sh, sw)
    Op = _round_up(C, 4)  # 4-row tiles only: the 6-row ones would add seconds of compilation for little
    wp = np.zeros((kstart[-1], Op), g.dtype)
    for a in range(sh):
        for b in range(sw):
            p = a * sw + b
            wp[kstart[p]:kstart[p + 1], :C] = w[:, :, a::sh, b::sw].transpose(0, 2, 3, 1).reshape(-1, C)
    parallel_for(_igrad, g.shape[0], g, wp.reshape(-1), koff, kstart, Op, P, Q, Hq, Wq, U, ph, pw, sh, sw, dx,
                 work=g.size * C * kh * kw // MACS_PER_ELEMENT)
    return dx


@functools.lru_cache(maxsize=256)
def _strided_taps(O, Hg, Wg, kh, kw, sh, sw):
    """The geometry of the strided input gradient: g padded by P = ceil(kh/sh) - 1 rows on
    both sides and Q = ceil(kw/sw) - 1 columns on the left (wide rows, as the forward's),
    Hq x Wq = (Hg + 2P) x (Wg + Q), so every phase's plane is U x Wq with U = Hg + P; tap
    (o, m, n) of phase p = a*sw + b (weight w[o, :, a + m*sh, b + n*sw]) reads g[o, u-m,
    v-n] at offset o*Hq*Wq + (P-m)*Wq + Q-n of output (u, v); the phases' taps one after
    the other, phase p's from kstart[p] (a phase without taps has none: its plane is 0).
    Returns (P, Q, Hq, Wq, U, koff, kstart), cached (read-only arrays)."""
    P, Q = -(-kh // sh) - 1, -(-kw // sw) - 1
    Hq, Wq = Hg + 2 * P, Wg + Q
    offs, kstart = [], [0]
    for a in range(sh):
        for b in range(sw):
            m = np.arange(len(range(a, kh, sh)))[:, None]
            n = np.arange(len(range(b, kw, sw)))
            k = np.arange(O)[:, None, None] * (Hq * Wq) + (P - m) * Wq + (Q - n)
            offs.append(k.reshape(-1))
            kstart.append(kstart[-1] + k.size)
    koff, kstart = np.concatenate(offs).astype(np.int64), np.array(kstart, np.int64)
    koff.flags.writeable = kstart.flags.writeable = False
    return P, Q, Hq, Wq, Hg + P, koff, kstart


def _flip(w):
    """w (O, C, kh, kw) -> (C, O, kh, kw), flipped in both spatial axes: the kernel of the
    transposed convolution."""
    return np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
