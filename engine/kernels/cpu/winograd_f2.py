"""The weight gradient of 3x3 layers of stride 1 and padding 1 with 16 to 96 channels
(ResNet-20's) by Winograd F(2x2, 3x3), one sample at a time, everything in cache.

Per 2x2 output tile with its 4x4 input tile d (Lavin and Gray 2016), the forward is

    y = A^T [ sum over c of (G g G^T)[c] * (B^T d[c] B) ] A      (* element-wise, 16 terms)

    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    G   = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]

(the forward and the input gradient are F(4x4, 3x3)'s, :mod:`.winograd`, which does 4x
fewer multiplies against 2.25x). The weight gradient exchanges the roles of the 2x2
output tile and the 3x3 kernel (F(3x3, 2x2) by transposition): with g the 2x2
output-gradient tile over d,

    dw = G^T [ sum over samples and tiles of (A g A^T) * (B^T d B) ] G

16 sums over the tiles of (C x tiles) @ (tiles x O). The padded input is split into its
even and odd rows and columns (conv_direct._pad_into with stride 2): tile j reads padded
columns 2j .. 2j+3, which are the even and odd columns j and j+1, so the input
transforms of L adjacent tiles are whole-vector adds. The sums run with vector lanes
along the output channels (the gradient transposed to pixel-major by 8 x 8 register
transposes first), so the long sum over tiles stays in registers with no lane sums; a
sum with lanes along the tiles (as the direct weight gradient does) ran only 8-33
vectors per sample before its accumulators went back to memory, and lost to the direct
kernels.

Shapes: x (N, C, H, W), w (O, C, 3, 3), y (N, O, H, W). Per sample and thread the
transformed input (16 x C x tiles) and the transformed gradient (16 x O x tiles) stay in
L2; the transformed gradient's 16 rows are kept off 4 KiB
multiples apart (16 KiB apart, on 16 channels at 32x32, they shared cache sets and made
its transform 5x slower).
"""
from __future__ import annotations

import numpy as np

from . import winograd
from .conv_direct import MACS_PER_ELEMENT, _pad_into, _round_up
from .parallel import get_num_threads, helper, kernel, parallel_for
from .simd import VECTOR_BYTES, lanes, vadd, vfma, vload, vsplat, vstore, vsub, vtranspose, vzero

WGRAD_CHANNELS = 96         # the weight gradient's reach (suitable_weight_gradient)
WGRAD_CHANNELS_MID = 128

_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])


def suitable_weight_gradient(C, O, kh, kw, sh, sw, ph, pw, Ho, Wo) -> bool:
    """Where :func:`backward_weight` runs the weight gradient of a layer whose forward
    F(4x4, 3x3) runs (:func:`.winograd.suitable`): padding 1, up to WGRAD_CHANNELS
    channels, or up to WGRAD_CHANNELS_MID on maps of 8x8 to 16x16. Measured on the 2-core machine (two
    threads, batch 64-128) against F(4x4, 3x3)'s weight gradient: 1.35-2.3x on 16 and 32
    channels (but 8x8 maps: 0.9-1.1x), 1.3-1.5x on 64 at 16x16 and 32x32, 1.2x on 96 at
    16x16, even on 64-128 channels at 8x8 and 128 at 16x16; 0.93x on 96 at 32x32 and
    0.68x at 4x4 (4 tiles a sample: each sum goes back to memory after 4 steps), 0.7-0.9x
    from 160 channels; against the direct kernels, 1.2x on 16 channels, 1.4-1.7x on 32."""
    if not (winograd.suitable(C, O, kh, kw, sh, sw, ph, pw, Ho, Wo) and ph == pw == 1):
        return False
    return max(C, O) <= WGRAD_CHANNELS or (max(C, O) <= WGRAD_CHANNELS_MID and 8 <= min(Ho, Wo) and max(Ho, Wo) <= 16)


@helper
def _rows(xq, a0, a1, a2, a3):
    # B^T over four rows: (d0 - d2, d1 + d2, d2 - d1, d1 - d3) of the vectors at a0..a3
    d0, d1, d2, d3 = vload(xq, a0), vload(xq, a1), vload(xq, a2), vload(xq, a3)
    return vsub(d0, d2), vadd(d1, d2), vsub(d2, d1), vsub(d1, d3)


@helper
def _cols(v, t, p, e0, e1, e2, e3):
    # B^T over four columns, into tile positions p .. p+3
    vstore(v[p], t, vsub(e0, e2))
    vstore(v[p + 1], t, vadd(e1, e2))
    vstore(v[p + 2], t, vsub(e2, e1))
    vstore(v[p + 3], t, vsub(e1, e3))


@helper
def _transform_input(xq, C, plane, Wq, th, twp, Qp, v):
    # v (16, rows x Qp): B^T d B of every tile (i, j) of every channel c at c*Qp + i*twp + j,
    # from xq (the padded sample's four phases of plane elements, as conv_direct._pad_into
    # splits them)
    L = lanes(xq)
    for c in range(C):
        ee, eo, oe, oo = c * plane, (C + c) * plane, (2 * C + c) * plane, (3 * C + c) * plane
        for i in range(th):
            for j0 in range(0, twp, L):
                q0, q1 = i * Wq + j0, (i + 1) * Wq + j0  # rows 2i, 2i+1 (q0); 2i+2, 2i+3 (q1)
                # B^T over the rows, in each of the tile's columns 2j .. 2j+3
                r0a, r1a, r2a, r3a = _rows(xq, ee + q0, oe + q0, ee + q1, oe + q1)
                r0b, r1b, r2b, r3b = _rows(xq, eo + q0, oo + q0, eo + q1, oo + q1)
                r0c, r1c, r2c, r3c = _rows(xq, ee + q0 + 1, oe + q0 + 1, ee + q1 + 1, oe + q1 + 1)
                r0d, r1d, r2d, r3d = _rows(xq, eo + q0 + 1, oo + q0 + 1, eo + q1 + 1, oo + q1 + 1)
                t = c * Qp + i * twp + j0
                _cols(v, t, 0, r0a, r0b, r0c, r0d)
                _cols(v, t, 4, r1a, r1b, r1c, r1d)
                _cols(v, t, 8, r2a, r2b, r2c, r2d)
                _cols(v, t, 12, r3a, r3b, r3c, r3d)


@helper
def _ag(g0, g1, zero):
    # A over two: (g0, g0 + g1, g0 - g1, -g1), A = (A^T)^T
    return g0, vadd(g0, g1), vsub(g0, g1), vsub(zero, g1)


@helper
def _transform_gradient(gt, Op, Wt, th, tw, twp, u):
    # u (16, tiles x Op): A g A^T of every 2x2 gradient tile (i, j), j < tw, at (i*twp + j)*Op + o;
    # gt holds the sample's gradient pixel-major, (row*Wt + column)*Op + o, zeros outside
    L = lanes(gt)
    zero = vzero(gt)
    for i in range(th):
        for j in range(tw):
            a = (2 * i * Wt + 2 * j) * Op
            t = (i * twp + j) * Op
            for o in range(0, Op, L):
                r0, r1, r2, r3 = _ag(vload(gt, a + o), vload(gt, a + Wt * Op + o), zero)         # column 2j
                s0, s1, s2, s3 = _ag(vload(gt, a + Op + o), vload(gt, a + (Wt + 1) * Op + o), zero)  # 2j + 1
                for k, (e, f) in enumerate(((r0, s0), (r1, s1), (r2, s2), (r3, s3))):
                    c0, c1, c2, c3 = _ag(e, f, zero)
                    vstore(u[4 * k], t + o, c0)
                    vstore(u[4 * k + 1], t + o, c1)
                    vstore(u[4 * k + 2], t + o, c2)
                    vstore(u[4 * k + 3], t + o, c3)


@helper
def _gradient_pixel_major(gn, Op, Wt, gt, bsum, lane):
    # gt[(r*Wt + col)*Op + o] = gn[o, r, col] (gn (O, H, W)); bsum[o] += the sum of plane o.
    # L x L blocks (channels x columns) transposed in registers, the edges element by
    # element; lane: L elements of scratch
    O, H, W = gn.shape
    L = lanes(gt)
    gf = gn.reshape(-1)
    Ov, Wv = O - O % L, W - W % L
    for o0 in range(0, Ov, L):
        acc = vzero(gt)
        for r in range(H):
            for c0 in range(0, Wv, L):
                acc = vadd(acc, vtranspose(gf, (o0 * H + r) * W + c0, H * W, gt, (r * Wt + c0) * Op + o0, Op))
        vstore(lane, 0, acc)
        for k in range(L):
            bsum[o0 + k] += lane[k]
    for o in range(O):
        total = 0.0
        for r in range(H):
            for col in range(0 if o >= Ov else Wv, W):
                e = gn[o, r, col]
                total += e
                gt[(r * Wt + col) * Op + o] = e
        bsum[o] += total


@helper
def _products(v, u, Qp, th, tw, twp, Cp, Op, m):
    # m (Cp*Op) flat += V (Cp, T) @ U (T, Op) over the tiles t = i*twp + j, j < tw (the
    # rest, padding to whole vectors, skipped), V's row c at v[c*Qp], U's row t at u[t*Op]:
    # lanes along o, so the sum over the tiles runs in registers with no lane sums; tiles
    # of 3 channels c x 4 vectors of o (Op a multiple of 4L, Cp of 3) or 6 x 2 (2L, 6)
    L = lanes(m)
    if Op % (4 * L) == 0:
        for c0 in range(0, Cp, 3):
            for o0 in range(0, Op, 4 * L):
                a00 = vzero(m); a01 = vzero(m); a02 = vzero(m); a03 = vzero(m)  # noqa: E702
                a10 = vzero(m); a11 = vzero(m); a12 = vzero(m); a13 = vzero(m)  # noqa: E702
                a20 = vzero(m); a21 = vzero(m); a22 = vzero(m); a23 = vzero(m)  # noqa: E702
                for i in range(th):
                    for t in range(i * twp, i * twp + tw):
                        q = t * Op + o0
                        b0 = vload(u, q); b1 = vload(u, q + L); b2 = vload(u, q + 2 * L); b3 = vload(u, q + 3 * L)  # noqa: E702
                        x = vsplat(v, c0 * Qp + t)
                        a00 = vfma(x, b0, a00); a01 = vfma(x, b1, a01); a02 = vfma(x, b2, a02); a03 = vfma(x, b3, a03)  # noqa: E501,E702
                        x = vsplat(v, (c0 + 1) * Qp + t)
                        a10 = vfma(x, b0, a10); a11 = vfma(x, b1, a11); a12 = vfma(x, b2, a12); a13 = vfma(x, b3, a13)  # noqa: E501,E702
                        x = vsplat(v, (c0 + 2) * Qp + t)
                        a20 = vfma(x, b0, a20); a21 = vfma(x, b1, a21); a22 = vfma(x, b2, a22); a23 = vfma(x, b3, a23)  # noqa: E501,E702
                for r, (e0, e1, e2, e3) in enumerate(((a00, a01, a02, a03), (a10, a11, a12, a13),
                                                      (a20, a21, a22, a23))):
                    i = (c0 + r) * Op + o0
                    vstore(m, i, vadd(vload(m, i), e0))
                    vstore(m, i + L, vadd(vload(m, i + L), e1))
                    vstore(m, i + 2 * L, vadd(vload(m, i + 2 * L), e2))
                    vstore(m, i + 3 * L, vadd(vload(m, i + 3 * L), e3))
    else:
        for c0 in range(0, Cp, 6):
            for o0 in range(0, Op, 2 * L):
                a00 = vzero(m); a01 = vzero(m); a10 = vzero(m); a11 = vzero(m)  # noqa: E702
                a20 = vzero(m); a21 = vzero(m); a30 = vzero(m); a31 = vzero(m)  # noqa: E702
                a40 = vzero(m); a41 = vzero(m); a50 = vzero(m); a51 = vzero(m)  # noqa: E702
                for i in range(th):
                    for t in range(i * twp, i * twp + tw):
                        q = t * Op + o0
                        b0 = vload(u, q); b1 = vload(u, q + L)  # noqa: E702
                        x = vsplat(v, c0 * Qp + t)
                        a00 = vfma(x, b0, a00); a01 = vfma(x, b1, a01)  # noqa: E702
                        x = vsplat(v, (c0 + 1) * Qp + t)
                        a10 = vfma(x, b0, a10); a11 = vfma(x, b1, a11)  # noqa: E702
                        x = vsplat(v, (c0 + 2) * Qp + t)
                        a20 = vfma(x, b0, a20); a21 = vfma(x, b1, a21)  # noqa: E702
                        x = vsplat(v, (c0 + 3) * Qp + t)
                        a30 = vfma(x, b0, a30); a31 = vfma(x, b1, a31)  # noqa: E702
                        x = vsplat(v, (c0 + 4) * Qp + t)
                        a40 = vfma(x, b0, a40); a41 = vfma(x, b1, a41)  # noqa: E702
                        x = vsplat(v, (c0 + 5) * Qp + t)
                        a50 = vfma(x, b0, a50); a51 = vfma(x, b1, a51)  # noqa: E702
                for r, (e0, e1) in enumerate(((a00, a01), (a10, a11), (a20, a21), (a30, a31), (a40, a41), (a50, a51))):
                    i = (c0 + r) * Op + o0
                    vstore(m, i, vadd(vload(m, i), e0))
                    vstore(m, i + L, vadd(vload(m, i + L), e1))


@kernel
def _wgrad(x, g, Hq, Wq, th, tw, twp, Qp, Cp, acc, bacc, lo, hi):
    # blocks [lo, hi) of acc (B, 16, Cp*Op) and bacc (B, O): block b sums, over its samples
    # [N*b//B, N*(b+1)//B) and their tiles, M[p] (Cp, Op) = V[p] @ U[p] and the bias gradient
    N, C, H, W = x.shape
    B = acc.shape[0]
    Op = acc.shape[2] // Cp
    L = lanes(acc[0, 0])
    plane = Hq * Wq
    T = th * twp
    Wt = 2 * twp  # gradient columns held per row: whole tiles, the ones past W stay 0
    xq = np.zeros(4 * C * plane + 2 * L, x.dtype)
    v = np.zeros((16, Cp * Qp), x.dtype)  # rows c >= C stay 0
    gt = np.zeros(2 * th * Wt * Op, x.dtype)  # rows >= H, columns >= W, o >= O stay 0
    u = np.empty((16, T * Op + 2 * L), x.dtype)  # rows 2L apart from a multiple of 4 KiB (cache sets)
    lane = np.empty(L, x.dtype)
    for b in range(lo, hi):
        a = acc[b]
        a[:] = 0
        bacc[b, :] = 0
        for n in range(N * b // B, N * (b + 1) // B):
            _pad_into(x[n], 1, 1, 2, 2, 3, 3, Hq, Wq, xq)
            _transform_input(xq, C, plane, Wq, th, twp, Qp, v)
            _gradient_pixel_major(g[n], Op, Wt, gt, bacc[b], lane)
            _transform_gradient(gt, Op, Wt, th, tw, twp, u)
            for p in range(16):
                _products(v[p], u[p], Qp, th, tw, twp, Cp, Op, a[p])


def backward_weight(x, g):
    """(dw (O, C, 3, 3), db (O,)) of y = conv(x, w, stride 1, padding 1) + b from
    g (N, O, H, W), by F(2x2, 3x3) with the roles of the 2x2 output tile and the 3x3 kernel
    exchanged: dw = G^T [ sum over tiles of (A g A^T) * (B^T d B) ] G."""
    N, C, H, W = x.shape
    O = g.shape[1]
    L = VECTOR_BYTES // x.itemsize
    th, tw = (H + 1) // 2, (W + 1) // 2
    twp = _round_up(tw, L)
    Op = _round_up(O, 4 * L if O > 2 * L else 2 * L)
    Cp = _round_up(C, 3 if Op % (4 * L) == 0 else 6)
    B = max(1, min(N, get_num_threads()))
    acc = np.empty((B, 16, Cp * Op), x.dtype)
    bacc = np.empty((B, O), np.float64)
    parallel_for(_wgrad, B, np.ascontiguousarray(x), np.ascontiguousarray(g), th + 1, twp + 1, th, tw, twp, th * twp,
                 Cp, acc, bacc, work=N * O * H * W * (9 * C // MACS_PER_ELEMENT))
    m = acc.sum(axis=0, dtype=np.float64).reshape(4, 4, Cp, Op)[:, :, :C, :O]
    gtm = np.tensordot(_G, m, axes=(0, 0))                  # G^T M: (3, 4, C, O)
    dw = np.tensordot(gtm, _G, axes=(1, 0)).transpose(2, 1, 0, 3).astype(x.dtype)  # (G^T M G) as (O, C, 3, 3)
    return dw, bacc.sum(axis=0).astype(x.dtype)
