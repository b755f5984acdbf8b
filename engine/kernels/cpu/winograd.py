"""3x3 convolutions of stride 1 by Winograd's minimal filtering F(4x4, 3x3) (Lavin and
Gray 2016): 36 multiplies for a 4x4 tile of outputs instead of 144, as batched GEMMs.

Shapes as in :mod:`.conv`: x (N, C, H, W), w (O, C, 3, 3), y (N, O, Ho, Wo), padding p
(0, 1 or 2) on both sides, Ho = H + 2p - 2. The output is cut into th x tw tiles of 4x4
(th = ceil(Ho / 4)); tile (ty, tx) reads the 6x6 patch of the padded input at
(4 ty, 4 tx) (zeros beyond it). With B^T (6x6), G (6x3), A^T (4x6) those of points
0, +-1, +-2, a tile's output is

    Y = A^T [ (G g G^T) . (B^T d B) ] A          (. is the element-wise product)

for each (o, c) pair summed over c, so with xi = (k, l) the 36 positions of a 6x6 tile,
U[xi] = (G w G^T)[xi] (C, O), V[xi] = (B^T d B)[xi] (T, C) over T tiles of a block of
samples:

    forward      M[xi] (T, O) = V[xi] @ U[xi];   Y = A^T M A per tile  (+ bias, ReLU)
    input grad   the forward of g with w flipped and transposed, padding 2 - p
    weight grad  dU[xi] (C, O) = sum over tiles of V[xi]^T @ Gy[xi], Gy = A gy A^T (T, O)
                 the transformed 4x4 tiles of the output gradient (zeros past Ho, Wo);
                 dW[o, c] = G^T dU[:, c, o] G (the same identity with the roles of the
                 output and the filter exchanged: F(3x3, 4x4))

Channels run in vector lanes (C and O rounded up to whole vectors, zeros there): each
sample is copied channel-last by L x L register transposes, so a tile's 36 inputs for L
channels are 36 vector loads and its transform is vector adds and fused multiply-adds;
the products' output, tiles x output channels, goes back to planes the same way; the
filter transform takes L output channels' taps by transposes too, and the output
gradient's transform runs on L output channels as the output transform does. (One tile
at a time with scalars took as long as the products on 64 channels at 8x8: vectors made
the forward 1.4-1.9x faster on 64 to 256 channels, and F(4x4, 3x3) faster than F(2x2,
3x3) and the direct kernels from 16 channels.) The stacks are stored xi-major,
(36, T, C), so each product reads and writes contiguous matrices.

The forward's products are BLAS GEMMs: each thread takes a share of the samples, in
blocks whose V stays under FORWARD_BYTES, and runs its own single-threaded GEMMs (as the
GEMM path in :mod:`.conv`). The weight gradient's are sums over many tiles into small
(C, O) matrices: up to REGISTER_CHANNELS channels they run on register tiles with lanes
along o (:func:`_tile_products`), each thread over groups of its samples whose stacks stay
in L2, with no lane sums and the sums in registers for a whole group (1.4-1.8x the F(2x2,
3x3) weight gradient that did the same with 16 products per 2x2 tile, and 1.5-3x BLAS,
on 16 to 128 channels); beyond, where a sample has few tiles for many channels, BLAS on
chunks of the batch, the 36 products shared out between the threads (2-4x the register
tiles on 256 and 512 channels).

Accuracy: the transforms' coefficients (up to 8 and 1/24) cost a few bits in float32:
measured against float64, relative errors about 10x those of the direct sum.
"""
from __future__ import annotations

import numpy as np
from .conv_direct import _flip, _round_up
from .parallel import PARALLEL_MIN, get_num_threads, helper, kernel, parallel_for
from .simd import VECTOR_BYTES, lanes, vadd, vfma, vload, vmax, vsplat, vstore, vsub, vtranspose, vzero
from .workspace import workspace

FORWARD_BYTES = 2**20
"""Transformed input tiles (V) per block of samples and thread in the forward: small enough
that the transforms' output is still in cache when the products read it (1 MB measured
1.2-1.5x faster than 8 MB on 32- to 128-channel layers, one thread), but at least the
size of the transformed filter, which every block's products read again (512 channels at
4x4 ran 2x slower in 1 MB blocks)."""
REGISTER_CHANNELS = 128
"""The weight gradient's products run as register tiles (:func:`_wgrad`) up to this many
channels in or out, and by BLAS (:func:`_shared_gradient`) beyond (see the module docstring)."""
REGISTER_BYTES = 2**19
"""The transformed tiles of one group of samples of the register tiles' weight gradient,
both stacks: in L2 while the 36 products sum over them."""
SHARED_BYTES = 32 * 2**20
"""The same for a chunk of the samples of the BLAS weight gradient (the whole batch on
the small maps it serves)."""


PARALLEL_WORK = PARALLEL_MIN  # a layer worth this path is worth every thread
MIN_CHANNELS = 16
MIN_OUTPUT = 4


def suitable(C, O, kh, kw, sh, sw, ph, pw, Ho, Wo) -> bool:
    """3x3, stride 1, one padding of at most 2 on both axes, at least MIN_CHANNELS channels
    in and out and outputs of at least MIN_OUTPUT x MIN_OUTPUT. Measured on the 2-core
    machine (two threads, forward, batch 64-128) against the direct kernels: 1.1-1.35x on
    16 channels (8x8 to 32x32 maps; 0.8x at 4x4) and 8 -> 16 at 32x32, 1.5x on 32 at
    4x4, 1.9-2x on 64 at 4x4 and 8x8, and against im2col + GEMM 1.6-2.4x from 96 to 512
    channels (ResNet-18, VGG, GoogLeNet, AlexNet's 7x7); slower below 16 channels in or
    out (0.5-0.9x: the transforms cost more than the products they save) and on 2x2 maps
    (0.6x: one 4x4 tile per 2x2 output saves no multiply)."""
    return (kh == kw == 3 and sh == sw == 1 and ph == pw <= 2 and min(C, O) >= MIN_CHANNELS
            and min(Ho, Wo) >= MIN_OUTPUT)


def tiles(size: int) -> int:
    """4x4 tiles along an output axis of ``size``."""
    return (size + 3) // 4


@helper
def _gv(g0, g1, g2, f, zero):
    # G g of 3 vectors; f = (1/4, 1/6, 1/12, 1/24, -1/6, -1/12) splat
    q, s, t, e, ms, mt = f
    u = vfma(e, g0, vfma(s, g2, zero))
    return (vfma(q, g0, zero), vfma(ms, vadd(vadd(g0, g1), g2), zero), vfma(ms, vadd(vsub(g0, g1), g2), zero),
            vfma(t, g1, u), vfma(mt, g1, u), g2)


@kernel
def _filter_transform(w, Op, U, lo, hi):
    # U (36, S) stack: row 6r + l, element c*Op + o = (G g G^T)[r, l] of the filter
    # g = w[o, c] (w (O, C, 3, 3) C-contiguous), for c in [lo, hi); zeros for o >= O and
    # c >= C. L output channels at a time: their taps transposed into 9 vectors (lanes
    # along o), then the transforms on vectors
    O, C = w.shape[0], w.shape[1]
    L = lanes(U[0])
    S = U.shape[1]
    Uf, wf = U.reshape(-1), w.reshape(-1)
    taps = np.zeros(9 * L, U.dtype)
    k = np.empty(6, U.dtype)
    k[0], k[1], k[2], k[3], k[4], k[5] = 1 / 4, 1 / 6, 1 / 12, 1 / 24, -1 / 6, -1 / 12
    f = (vsplat(k, 0), vsplat(k, 1), vsplat(k, 2), vsplat(k, 3), vsplat(k, 4), vsplat(k, 5))
    zero = vzero(taps)
    for c in range(lo, hi):
        for o0 in range(0, Op, L):
            if c < C and o0 + L <= O:
                for j0 in range(0, 8, L):  # taps 0..7: L x L blocks transposed
                    vtranspose(wf, (o0 * C + c) * 9 + j0, C * 9, taps, j0 * L, L)
                for q in range(L):
                    taps[8 * L + q] = wf[((o0 + q) * C + c) * 9 + 8]
            else:
                for q in range(L):
                    for j in range(9):
                        taps[j * L + q] = wf[((o0 + q) * C + c) * 9 + j] if c < C and o0 + q < O else 0
            k0 = _gv(vload(taps, 0), vload(taps, 3 * L), vload(taps, 6 * L), f, zero)  # G g, column by column
            k1 = _gv(vload(taps, L), vload(taps, 4 * L), vload(taps, 7 * L), f, zero)
            k2 = _gv(vload(taps, 2 * L), vload(taps, 5 * L), vload(taps, 8 * L), f, zero)
            for r in range(6):  # (G g) G^T, row by row
                row = _gv(k0[r], k1[r], k2[r], f, zero)
                for l in range(6):
                    vstore(Uf, (6 * r + l) * S + c * Op + o0, row[l])


# The input and output transforms, on vectors of L channels (see the module docstring).

@helper
def _btv(d0, d1, d2, d3, d4, d5, k):
    # B^T d of 6 vectors; k = (2, 4, -2, -4, -5, 8) splat
    two, four, mtwo, mfour, mfive = k[0], k[1], k[2], k[3], k[4]
    s, q = vsub(d4, d2), vsub(d3, d1)
    return (vfma(four, d0, vfma(mfive, d2, d4)), vfma(mfour, vadd(d1, d2), vadd(d3, d4)),
            vfma(four, vsub(d1, d2), vsub(d4, d3)), vfma(two, q, s), vfma(mtwo, q, s),
            vfma(four, d1, vfma(mfive, d3, d5)))


@helper
def _atv(m0, m1, m2, m3, m4, m5, k):
    # A^T m of 6 vectors; k as in _btv
    two, four, eight = k[0], k[1], k[5]
    s12, d12, s34, d34 = vadd(m1, m2), vsub(m1, m2), vadd(m3, m4), vsub(m3, m4)
    return vadd(vadd(m0, s12), s34), vfma(two, d34, d12), vfma(four, s34, s12), vadd(vfma(eight, d34, d12), m5)


@helper
def _vconstants(a):
    # the splat vectors of _btv and _atv, in a's dtype
    k = np.empty(6, a.dtype)
    k[0], k[1], k[2], k[3], k[4], k[5] = 2, 4, -2, -4, -5, 8
    return vsplat(k, 0), vsplat(k, 1), vsplat(k, 2), vsplat(k, 3), vsplat(k, 4), vsplat(k, 5)


@helper
def _channels_last(xn, p, Wp, Cp, xp, sums):
    # xp[((p + h)*Wp + p + w)*Cp + c] = xn[c, h, w] (xn (C, H, W) C-contiguous): the sample
    # channel-last inside a plane padded by p; the rest of xp is left as it is (zeros);
    # sums[c] += the sum of plane c
    C, H, W = xn.shape
    L = lanes(xp)
    xf = xn.reshape(-1)
    Cv, Wv = C - C % L, W - W % L
    lane = np.empty(L, xp.dtype)
    for c0 in range(0, Cv, L):
        acc = vzero(xp)
        for h in range(H):
            for w0 in range(0, Wv, L):
                acc = vadd(acc, vtranspose(xf, (c0 * H + h) * W + w0, H * W, xp, ((p + h) * Wp + p + w0) * Cp + c0, Cp))
        vstore(lane, 0, acc)
        for q in range(L):
            sums[c0 + q] += lane[q]
    for c in range(C):
        total = 0.0
        for h in range(H):
            for w in range(0 if c >= Cv else Wv, W):
                e = xf[(c * H + h) * W + w]
                total += e
                xp[((p + h) * Wp + p + w) * Cp + c] = e
        sums[c] += total


@kernel
def _input_transform(x, p, th, tw, t0, Cs, V):
    # V (36, S) stack: row 6r + l, element (t0 + t)*Cs + c = (B^T d B)[r, l] of every tile
    # t = (n*th + ty)*tw + tx of the samples x (nb, C, H, W), d the 6x6 patch at (4ty, 4tx)
    # of channel c's plane padded by p (zeros beyond); for C <= c < Cp, C rounded up to
    # whole vectors, 0; elements Cp to Cs (>= Cp) of a tile are not written
    nb, C, H, W = x.shape
    L = lanes(V[0])
    Cp = (C + L - 1) // L * L
    S = V.shape[1]
    Vf = V.reshape(-1)
    Wp = 4 * tw + 2
    xp = np.zeros((4 * th + 2) * Wp * Cp, x.dtype)
    e = np.empty(36 * L, x.dtype)  # d B of one tile's rows
    sums = np.zeros(C, np.float64)
    k = _vconstants(x)
    for n in range(nb):
        _channels_last(x[n], p, Wp, Cp, xp, sums)
        for ty in range(th):
            for tx in range(tw):
                t = (t0 + (n * th + ty) * tw + tx) * Cs
                for c0 in range(0, Cp, L):
                    for i in range(6):  # along each row of the patch
                        a = ((4 * ty + i) * Wp + 4 * tx) * Cp + c0
                        r = _btv(vload(xp, a), vload(xp, a + Cp), vload(xp, a + 2 * Cp), vload(xp, a + 3 * Cp),
                                 vload(xp, a + 4 * Cp), vload(xp, a + 5 * Cp), k)
                        for j in range(6):
                            vstore(e, (6 * i + j) * L, r[j])
                    for j in range(6):  # then down each column
                        r = _btv(vload(e, j * L), vload(e, (6 + j) * L), vload(e, (12 + j) * L),
                                 vload(e, (18 + j) * L), vload(e, (24 + j) * L), vload(e, (30 + j) * L), k)
                        for i in range(6):
                            vstore(Vf, (6 * i + j) * S + t + c0, r[i])


@helper
def _to_planes(yp, Wt, Op, yn):
    # yn (O, Ho, Wo) = the pixel-major plane yp[(h*Wt + w)*Op + o]: L x L blocks (pixels x
    # channels) transposed in registers, the edges element by element; with Wt == Wo the
    # rows run on as one row of Ho*Wo pixels
    O, Ho, Wo = yn.shape
    L = lanes(yp)
    yf = yn.reshape(-1)
    P = Ho * Wo
    rows, width = (1, P) if Wt == Wo else (Ho, Wo)
    Ov, Wv = O - O % L, width - width % L
    for o0 in range(0, Ov, L):
        for h in range(rows):
            for w0 in range(0, Wv, L):
                vtranspose(yp, (h * Wt + w0) * Op + o0, Op, yf, o0 * P + h * Wo + w0, P)
    for o in range(O):
        for h in range(rows):
            for w in range(0 if o >= Ov else Wv, width):
                yf[o * P + h * Wo + w] = yp[(h * Wt + w) * Op + o]


@kernel
def _output_transform(M, b, relu, th, tw, t0, y):
    # y (nb, O, Ho, Wo)[n, o] = A^T m A + b[o] (then max(., 0) with relu), cut to Ho x Wo, of
    # every tile t (see _input_transform), m[r, l] = M[6r + l, (t0 + t)*Op + o]; b has Op
    # elements, O rounded up to whole vectors
    nb, O, Ho, Wo = y.shape
    Op = b.size
    L = lanes(b)
    S = M.shape[1]
    Mf = M.reshape(-1)
    Wt = 4 * tw
    yp = np.empty(4 * th * Wt * Op, y.dtype)  # one sample's tiles, pixel-major
    e = np.empty(24 * L, y.dtype)  # A^T m of one tile's columns
    k = _vconstants(y)
    zero = vzero(b)
    for n in range(nb):
        for ty in range(th):
            for tx in range(tw):
                t = (t0 + (n * th + ty) * tw + tx) * Op
                for o0 in range(0, Op, L):
                    a = t + o0
                    for j in range(6):  # down each column
                        r = _atv(vload(Mf, j * S + a), vload(Mf, (6 + j) * S + a), vload(Mf, (12 + j) * S + a),
                                 vload(Mf, (18 + j) * S + a), vload(Mf, (24 + j) * S + a),
                                 vload(Mf, (30 + j) * S + a), k)
                        for i in range(4):
                            vstore(e, (6 * i + j) * L, r[i])
                    bv = vload(b, o0)
                    for i in range(4):  # then along each row
                        r = _atv(vload(e, 6 * i * L), vload(e, (6 * i + 1) * L), vload(e, (6 * i + 2) * L),
                                 vload(e, (6 * i + 3) * L), vload(e, (6 * i + 4) * L), vload(e, (6 * i + 5) * L), k)
                        d = ((4 * ty + i) * Wt + 4 * tx) * Op + o0
                        for j in range(4):
                            v = vadd(r[j], bv)
                            vstore(yp, d + j * Op, vmax(v, zero) if relu else v)
        _to_planes(yp, Wt, Op, y[n])


@helper
def _av(e0, e1, e2, e3, k):
    # A e of 4 vectors (6 of them); k as in _btv
    four, eight = k[1], k[5]
    s02, s13, q02, q13 = vadd(e0, e2), vadd(e1, e3), vfma(four, e2, e0), vfma(eight, e3, vadd(e1, e1))
    return e0, vadd(s02, s13), vsub(s02, s13), vadd(q02, q13), vsub(q02, q13), e3


@kernel
def _grad_transform(g, th, tw, t0, Os, Gy, sums):
    # Gy (36, S) stack: row 6r + l, element (t0 + t)*Os + o = (A gy A^T)[r, l] of every 4x4
    # tile gy of g (nb, O, Ho, Wo)[n, o] (zeros past Ho, Wo), t as in _input_transform, for
    # o < Os (O rounded up to whole vectors, or more: 0 for o >= O); sums[o] += the sum of
    # g[:, o]. Like the output transform, on vectors of L channels of the pixel-major sample
    nb, O, Ho, Wo = g.shape
    L = lanes(Gy[0])
    S = Gy.shape[1]
    Gf = Gy.reshape(-1)
    Wt = 4 * tw
    gp = np.zeros(4 * th * Wt * Os, g.dtype)  # one sample, pixel-major, zeros past Ho, Wo and O
    e = np.empty(24 * L, g.dtype)  # A gy of one tile's columns
    k = _vconstants(g)
    for n in range(nb):
        _channels_last(g[n], 0, Wt, Os, gp, sums)
        for ty in range(th):
            for tx in range(tw):
                t = (t0 + (n * th + ty) * tw + tx) * Os
                for o0 in range(0, Os, L):
                    a = (4 * ty * Wt + 4 * tx) * Os + o0
                    for j in range(4):  # down each column
                        r = _av(vload(gp, a + j * Os), vload(gp, a + (Wt + j) * Os), vload(gp, a + (2 * Wt + j) * Os),
                                vload(gp, a + (3 * Wt + j) * Os), k)
                        for i in range(6):
                            vstore(e, (4 * i + j) * L, r[i])
                    for i in range(6):  # then along each row
                        r = _av(vload(e, 4 * i * L), vload(e, (4 * i + 1) * L), vload(e, (4 * i + 2) * L),
                                vload(e, (4 * i + 3) * L), k)
                        for j in range(6):
                            vstore(Gf, (6 * i + j) * S + t + o0, r[j])


@helper
def _tile_products(v, u, T, Cp, Op, m):
    # m (Cp*Op) flat += V^T @ U, V (T, Cp) at v[t*Cp + c], U (T, Op) at u[t*Op + o]: lanes
    # along o, so the sum over the T tiles runs in registers with no lane sums; register
    # tiles of 3 channels c x 4 vectors of o (Op a multiple of 4L, Cp of 3) or 6 x 2 (2L, 6)
    L = lanes(m)
    if Op % (4 * L) == 0:
        for c0 in range(0, Cp, 3):
            for o0 in range(0, Op, 4 * L):
                a00 = vzero(m); a01 = vzero(m); a02 = vzero(m); a03 = vzero(m)  # noqa: E702
                a10 = vzero(m); a11 = vzero(m); a12 = vzero(m); a13 = vzero(m)  # noqa: E702
                a20 = vzero(m); a21 = vzero(m); a22 = vzero(m); a23 = vzero(m)  # noqa: E702
                for t in range(T):
                    q, r = t * Op + o0, t * Cp + c0
                    b0 = vload(u, q); b1 = vload(u, q + L); b2 = vload(u, q + 2 * L); b3 = vload(u, q + 3 * L)  # noqa: E702
                    x = vsplat(v, r)
                    a00 = vfma(x, b0, a00); a01 = vfma(x, b1, a01); a02 = vfma(x, b2, a02); a03 = vfma(x, b3, a03)  # noqa: E501,E702
                    x = vsplat(v, r + 1)
                    a10 = vfma(x, b0, a10); a11 = vfma(x, b1, a11); a12 = vfma(x, b2, a12); a13 = vfma(x, b3, a13)  # noqa: E501,E702
                    x = vsplat(v, r + 2)
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
                for t in range(T):
                    q, r = t * Op + o0, t * Cp + c0
                    b0 = vload(u, q); b1 = vload(u, q + L)  # noqa: E702
                    x = vsplat(v, r)
                    a00 = vfma(x, b0, a00); a01 = vfma(x, b1, a01)  # noqa: E702
                    x = vsplat(v, r + 1)
                    a10 = vfma(x, b0, a10); a11 = vfma(x, b1, a11)  # noqa: E702
                    x = vsplat(v, r + 2)
                    a20 = vfma(x, b0, a20); a21 = vfma(x, b1, a21)  # noqa: E702
                    x = vsplat(v, r + 3)
                    a30 = vfma(x, b0, a30); a31 = vfma(x, b1, a31)  # noqa: E702
                    x = vsplat(v, r + 4)
                    a40 = vfma(x, b0, a40); a41 = vfma(x, b1, a41)  # noqa: E702
                    x = vsplat(v, r + 5)
                    a50 = vfma(x, b0, a50); a51 = vfma(x, b1, a51)  # noqa: E702
                for r, (e0, e1) in enumerate(((a00, a01), (a10, a11), (a20, a21), (a30, a31), (a40, a41), (a50, a51))):
                    i = (c0 + r) * Op + o0
                    vstore(m, i, vadd(vload(m, i), e0))
                    vstore(m, i + L, vadd(vload(m, i + L), e1))


@kernel
def _wgrad(x, g, p, th, tw, nb, Cq, Oq, V, Gy, acc, bacc, lo, hi):
    # blocks [lo, hi) of acc (B, 36, Cq*Oq) and bacc (B, O): block b sums, over its samples
    # [N*b//B, N*(b+1)//B) taken nb at a time, dU[xi] (Cq, Oq) += V[xi]^T @ Gy[xi] by
    # register tiles, and the bias gradient; V (B, 36, >= nb*th*tw*Cq) and Gy (B, 36,
    # >= nb*th*tw*Oq) are the blocks' stacks (zeros: V's lanes C to Cq are never written)
    N, B = x.shape[0], acc.shape[0]
    for b in range(lo, hi):
        a = acc[b]
        a[:] = 0
        bacc[b, :] = 0
        for n0 in range(N * b // B, N * (b + 1) // B, nb):
            n1 = min(N * (b + 1) // B, n0 + nb)
            T = (n1 - n0) * th * tw
            _input_transform(x[n0:n1], p, th, tw, 0, Cq, V[b])
            _grad_transform(g[n0:n1], th, tw, 0, Oq, Gy[b], bacc[b])
            for xi in range(36):
                _tile_products(V[b, xi], Gy[b, xi], T, Cq, Oq, a[xi])


@helper
def _gt(m0, m1, m2, m3, m4, m5, f):
    # G^T m of 6 values
    q, s, t, e = f
    return m0 * q - (m1 + m2) * s + (m3 + m4) * e, (m2 - m1) * s + (m3 - m4) * t, (m3 + m4 - m1 - m2) * s + m5


@helper
def _column_gt(dU, r, i, f):
    # G^T of the 6 values dU[r + 6*k, i]
    return _gt(dU[r, i], dU[r + 6, i], dU[r + 12, i], dU[r + 18, i], dU[r + 24, i], dU[r + 30, i], f)


@kernel
def _weight_transform_back(dU, O, dw9, lo, hi):
    # dw9[:, c*O + o] (9 rows) = G^T dU[:, c*O + o] G (the 3x3 taps row-major) for c in
    # [lo, hi), o < O: straight-line code over contiguous rows, as _filter_transform
    t = dw9.dtype.type
    f = (t(1 / 4), t(1 / 6), t(1 / 12), t(1 / 24))
    for i in range(lo * O, hi * O):
        k0, k1, k2 = _column_gt(dU, 0, i, f), _column_gt(dU, 1, i, f), _column_gt(dU, 2, i, f)  # G^T dU
        k3, k4, k5 = _column_gt(dU, 3, i, f), _column_gt(dU, 4, i, f), _column_gt(dU, 5, i, f)
        for r in range(3):  # (G^T dU) G, row r
            a = _gt(k0[r], k1[r], k2[r], k3[r], k4[r], k5[r], f)
            dw9[3 * r, i] = a[0]
            dw9[3 * r + 1, i] = a[1]
            dw9[3 * r + 2, i] = a[2]


def _stack(rows, n, dtype, name=None):
    """A C-contiguous (rows, S) array whose rows hold n elements each (a workspace when
    ``name`` is given). S is n rounded up so that consecutive rows start 64 bytes apart
    modulo 4096: the transforms write all rows at once, and rows a multiple of 4096 bytes
    apart fall in one cache set (36 rows 1 MB apart ran 27x slower than one row)."""
    item = np.dtype(dtype).itemsize
    unit = 4096 // item
    S = -(-n // unit) * unit + 64 // item
    return workspace(name, (rows, S), dtype) if name else np.empty((rows, S), dtype)


def _matrices(a, A, B):
    """The (rows, A, B) matrices held by the rows of a stack (a view)."""
    return np.lib.stride_tricks.as_strided(a, (a.shape[0], A, B), (a.strides[0], B * a.itemsize, a.itemsize))


def _vectors(n, dtype):
    """n rounded up to whole SIMD vectors of ``dtype``."""
    L = VECTOR_BYTES // np.dtype(dtype).itemsize
    return -(-n // L) * L


def _transformed_filter(w):
    """U: the stack (36, Cp*Op) of w (O, C, 3, 3) transformed, U[xi] a (Cp, Op) matrix (C
    and O rounded up to whole vectors, zeros there)."""
    O, C = w.shape[0], w.shape[1]
    Cp, Op = _vectors(C, w.dtype), _vectors(O, w.dtype)
    U = _stack(36, Cp * Op, w.dtype)
    parallel_for(_filter_transform, Cp, np.ascontiguousarray(w), Op, U, work=Cp * Op * 36)
    return U


def _block(N, C, O, th, tw, itemsize, budget):
    """Samples per block of a thread's share: V (36, nb*th*tw, C) and M under ``budget`` bytes."""
    per = 36 * max(C, O) * th * tw * itemsize
    return max(1, min(N, budget // max(per, 1)))


def _run(step, N, *args):
    """step(*args, lo, hi) on every thread's share [lo, hi) of the N samples."""
    parallel_for(step, N, *args, work=PARALLEL_WORK)


def _forward_samples(x, U, b, relu, p, th, tw, y, lo, hi):
    Cp, Op = _vectors(x.shape[1], x.dtype), b.size
    nb_max = _block(hi - lo, Cp, Op, th, tw, x.itemsize, max(FORWARD_BYTES, U.nbytes))
    for n0 in range(lo, hi, nb_max):
        n1 = min(hi, n0 + nb_max)
        T = (n1 - n0) * th * tw
        V = _stack(36, T * Cp, x.dtype, "winograd.V")
        M = _stack(36, T * Op, x.dtype, "winograd.M")
        _input_transform(x[n0:n1], p, th, tw, 0, Cp, V)
        np.matmul(_matrices(V, T, Cp), _matrices(U, Cp, Op), out=_matrices(M, T, Op))
        _output_transform(M, b, relu, th, tw, 0, y[n0:n1])


def _input_samples(x, p, th, tw, V, lo, hi):
    """The transformed input tiles of samples [lo, hi) into the whole batch's stack."""
    _input_transform(x[lo:hi], p, th, tw, lo * th * tw, _vectors(x.shape[1], x.dtype), V)


def _output_samples(M, b, relu, th, tw, y, lo, hi):
    """Samples [lo, hi) of y from the whole batch's products."""
    _output_transform(M, b, relu, th, tw, lo * th * tw, y[lo:hi])


def _forward_products(U, V, Cp, Op, T, M, lo, hi):
    """M[xi] = V[xi] @ U[xi] for xi in [lo, hi)."""
    Um, Vm, Mm = _matrices(U, Cp, Op), _matrices(V, T, Cp), _matrices(M, T, Op)
    for k in range(lo, hi):
        np.matmul(Vm[k], Um[k], out=Mm[k])


def _shared_products(N, C, O, th, tw) -> bool:
    """Whether the forward's 36 products run on the whole batch's tiles, shared out between
    the threads, rather than each thread's on its own samples: when the transformed filter,
    which each thread would read once, outweighs the batch's transformed tiles (many
    channels on small maps: ResNet-18's 512 at 4x4)."""
    return 2 * O * C * get_num_threads() > (O + C) * N * th * tw


def forward(x, w, b, padding, y, relu=False):
    """y (N, O, Ho, Wo) = conv(x, w) + b (then max(., 0) with relu), stride 1, padding
    ``padding`` (0, 1 or 2, both axes); w (O, C, 3, 3). Returns y. Each thread transforms,
    multiplies and transforms back its own samples in blocks; with _shared_products, the
    threads transform their samples into the whole batch's stacks, share out the 36
    products and then the output transform (each thread's blocks would read the whole
    filter again, from memory: 37 MB on 512 channels)."""
    N, C = x.shape[0], x.shape[1]
    O = w.shape[0]
    Cp, Op = _vectors(C, x.dtype), _vectors(O, x.dtype)
    th, tw = tiles(y.shape[2]), tiles(y.shape[3])
    U = _transformed_filter(w)
    bp = np.zeros(Op, x.dtype)
    bp[:O] = b
    if not _shared_products(N, C, O, th, tw):
        _run(_forward_samples, N, x, U, bp, relu, padding, th, tw, y)
        return y
    T = N * th * tw
    V, M = _stack(36, T * Cp, x.dtype), _stack(36, T * Op, x.dtype)
    _run(_input_samples, N, x, padding, th, tw, V)
    parallel_for(_forward_products, 36, U, V, Cp, Op, T, M, work=PARALLEL_WORK)
    _run(_output_samples, N, M, bp, relu, th, tw, y)
    return y


def backward_input(g, w, padding, dx):
    """dx (N, C, H, W) of y = conv(x, w), stride 1, from g (N, O, Ho, Wo), filled in place
    and returned: the forward of g with the flipped, transposed kernel and padding
    2 - padding."""
    return forward(g, _flip(w), np.zeros(w.shape[1], g.dtype), 2 - padding, dx)


def _transform_samples(x, g, p, th, tw, V, Gy, sums, lo, hi):
    """The transformed tiles of samples [lo, hi) into the whole batch's stacks; their bias
    gradient appended to ``sums``."""
    Cp, Op, t0 = _vectors(x.shape[1], x.dtype), _vectors(g.shape[1], g.dtype), lo * th * tw
    db = np.zeros(g.shape[1], np.float64)
    _input_transform(x[lo:hi], p, th, tw, t0, Cp, V)
    _grad_transform(g[lo:hi], th, tw, t0, Op, Gy, db)
    sums.append(db)


def _products(V, Gy, Cp, Op, T, dU, lo, hi):
    """dU[xi] += V[xi]^T @ Gy[xi] for xi in [lo, hi)."""
    Vm, Gm, Um = _matrices(V, T, Cp), _matrices(Gy, T, Op), _matrices(dU, Cp, Op)
    for k in range(lo, hi):
        Um[k] += Vm[k].T @ Gm[k]


def _shared_gradient(x, g, p, th, tw):
    """(dU (36, Cp*Op), db (O,)) by BLAS: the threads transform a chunk of the samples into
    stacks under SHARED_BYTES, then share out its 36 products, summed into dU chunk by
    chunk."""
    N, C, O = x.shape[0], x.shape[1], g.shape[1]
    Cp, Op = _vectors(C, x.dtype), _vectors(O, x.dtype)
    nb = _block(N, Cp, Op, th, tw, x.itemsize, SHARED_BYTES // 2)
    dU = _stack(36, Cp * Op, x.dtype)
    dU[...] = 0
    sums = []
    for n0 in range(0, N, nb):
        n1 = min(N, n0 + nb)
        T = (n1 - n0) * th * tw
        V, Gy = _stack(36, T * Cp, x.dtype, "winograd.V"), _stack(36, T * Op, x.dtype, "winograd.M")
        _run(_transform_samples, n1 - n0, x[n0:n1], g[n0:n1], p, th, tw, V, Gy, sums)
        parallel_for(_products, 36, V, Gy, Cp, Op, T, dU, work=PARALLEL_WORK)
    return dU, np.sum(sums, axis=0), Cp, Op


def _register_gradient(x, g, p, th, tw):
    """(dU (36, Cq*Oq), db (O,)) by :func:`_wgrad`: each thread's share of the samples in
    groups whose stacks stay under REGISTER_BYTES, summed."""
    N, C = x.shape[0], x.shape[1]
    O = g.shape[1]
    L = VECTOR_BYTES // x.itemsize
    Oq = _round_up(O, 4 * L if O > 2 * L else 2 * L)  # whole register tiles (see _tile_products)
    Cq = _round_up(_vectors(C, x.dtype), 3 if Oq % (4 * L) == 0 else 6)
    B = max(1, min(N, get_num_threads()))
    nb = max(1, min(-(-N // B), REGISTER_BYTES // (36 * th * tw * (Cq + Oq) * x.itemsize)))
    V = np.zeros((B, 36, nb * th * tw * Cq + 64), x.dtype)
    Gy = np.empty((B, 36, nb * th * tw * Oq + 64), x.dtype)
    acc = np.empty((B, 36, Cq * Oq), x.dtype)
    bacc = np.empty((B, O), np.float64)
    parallel_for(_wgrad, B, x, g, p, th, tw, nb, Cq, Oq, V, Gy, acc, bacc, work=PARALLEL_WORK)
    return acc.sum(axis=0), bacc.sum(axis=0), Cq, Oq


def backward_weight(x, g, padding):
    """(dw (O, C, 3, 3), db (O,)) of y = conv(x, w) + b, stride 1, from g (N, O, Ho, Wo)."""
    C = x.shape[1]
    O = g.shape[1]
    x, g = np.ascontiguousarray(x), np.ascontiguousarray(g)
    th, tw = tiles(g.shape[2]), tiles(g.shape[3])
    gradient = _register_gradient if max(x.shape[1], g.shape[1]) <= REGISTER_CHANNELS else _shared_gradient
    dU, db, Cq, Oq = gradient(x, g, padding, th, tw)
    dw9 = _stack(9, Cq * Oq, x.dtype)
    parallel_for(_weight_transform_back, C, dU, Oq, dw9, work=C * Oq * 36)
    taps = _matrices(dw9, Cq, Oq)[:, :C, :O]
    return np.ascontiguousarray(taps.transpose(2, 1, 0)).reshape(O, C, 3, 3), db.astype(x.dtype)
