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
    weight grad  dU[xi] (O, C) = sum over tiles of Gy[xi] @ V[xi], Gy = A gy A^T (O, T)
                 the transformed 4x4 tiles of the output gradient (zeros past Ho, Wo);
                 dW[o, c] = G^T dU[:, o, c] G (the same identity with the roles of the
                 output and the filter exchanged: F(3x3, 4x4))

Channels run in vector lanes (C and O rounded up to whole vectors, zeros there): each
sample is copied channel-last by L x L register transposes, so a tile's 36 inputs for L
channels are 36 vector loads and its transform is vector adds and fused multiply-adds;
the products' output, tiles x output channels, goes back to planes the same way; the
filter transform takes L output channels' taps by transposes too. (One tile at a time
with scalars took as long as the products on 64 channels at 8x8: vectors made the
forward 1.4-1.9x faster on 64 to 256 channels, and F(4x4, 3x3) faster than F(2x2, 3x3)
and the direct kernels from 16 channels.) The output gradient's transform (the weight
gradient's) is scalar, one tile at a time. The stacks are stored xi-major, (36, T, C),
so each GEMM reads and writes contiguous matrices. Each thread takes a share of the
samples, in blocks whose V stays under FORWARD_BYTES (WGRAD_BYTES), and runs its own
single-threaded GEMMs (as the GEMM path in :mod:`.conv`); the weight gradient's
per-thread sums are added at the end.

Accuracy: the transforms' coefficients (up to 8 and 1/24) cost a few bits in float32:
measured against float64, relative errors about 10x those of the direct sum.
"""
from __future__ import annotations

import numpy as np
from numba import uint64

from .conv_direct import _flip
from .parallel import PARALLEL_MIN, get_num_threads, helper, kernel, parallel_for
from .simd import VECTOR_BYTES, lanes, vadd, vfma, vload, vmax, vsplat, vstore, vsub, vtranspose, vzero
from .workspace import workspace

FORWARD_BYTES = 2**20
"""Transformed input tiles (V) per block of samples and thread in the forward: small enough
that the transforms' output is still in cache when the products read it (1 MB measured
1.2-1.5x faster than 8 MB on 32- to 128-channel layers, one thread), but at least the
size of the transformed filter, which every block's products read again (512 channels at
4x4 ran 2x slower in 1 MB blocks)."""
WGRAD_BYTES = 8 * 2**20
"""The same for the weight gradient, whose per-block products are summed (larger blocks:
fewer sums)."""


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
def _channels_last(xn, p, Wp, Cp, xp):
    # xp[((p + h)*Wp + p + w)*Cp + c] = xn[c, h, w] (xn (C, H, W) C-contiguous): the sample
    # channel-last inside a plane padded by p; the rest of xp is left as it is (zeros)
    C, H, W = xn.shape
    L = lanes(xp)
    xf = xn.reshape(-1)
    Cv, Wv = C - C % L, W - W % L
    for c0 in range(0, Cv, L):
        for h in range(H):
            for w0 in range(0, Wv, L):
                vtranspose(xf, (c0 * H + h) * W + w0, H * W, xp, ((p + h) * Wp + p + w0) * Cp + c0, Cp)
    for c in range(C):
        for h in range(H):
            for w in range(0 if c >= Cv else Wv, W):
                xp[((p + h) * Wp + p + w) * Cp + c] = xf[(c * H + h) * W + w]


@kernel
def _input_transform(x, p, th, tw, t0, V):
    # V (36, S) stack: row 6r + l, element (t0 + t)*Cp + c = (B^T d B)[r, l] of every tile
    # t = (n*th + ty)*tw + tx of the samples x (nb, C, H, W), d the 6x6 patch at (4ty, 4tx)
    # of channel c's plane padded by p (zeros beyond); Cp = C rounded up to whole vectors
    # (those channels 0)
    nb, C, H, W = x.shape
    L = lanes(V[0])
    Cp = (C + L - 1) // L * L
    S = V.shape[1]
    Vf = V.reshape(-1)
    Wp = 4 * tw + 2
    xp = np.zeros((4 * th + 2) * Wp * Cp, x.dtype)
    e = np.empty(36 * L, x.dtype)  # d B of one tile's rows
    k = _vconstants(x)
    for n in range(nb):
        _channels_last(x[n], p, Wp, Cp, xp)
        for ty in range(th):
            for tx in range(tw):
                t = (t0 + (n * th + ty) * tw + tx) * Cp
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


# The output gradient's transform (the weight gradient's): 1-D transforms of one row or
# column of a tile, as tuples of scalars (c = the constants (2, 4, 5, 8) in the arrays'
# dtype), four down its columns, then six along its rows, all in registers (measured
# 1.5-2x faster than through a scratch array).

@helper
def _store6(V, r, t, v):
    V[r, t] = v[0]
    V[r + 1, t] = v[1]
    V[r + 2, t] = v[2]
    V[r + 3, t] = v[3]
    V[r + 4, t] = v[4]
    V[r + 5, t] = v[5]


@helper
def _a(e0, e1, e2, e3, c):
    # A e
    two, four, eight = c[0], c[1], c[3]
    s02, s13, q02, q13 = e0 + e2, e1 + e3, e0 + four * e2, two * e1 + eight * e3
    return e0, s02 + s13, s02 - s13, q02 + q13, q02 - q13, e3


@helper
def _constants(a):
    t = a.dtype.type
    return t(2), t(4), t(5), t(8)


@kernel
def _grad_transform(g, th, tw, T, t0, Gy):
    # Gy[:, o*T + t0 + t] (36 rows) = A gy A^T of every 4x4 tile gy of g (nb, O, Ho, Wo)[n, o]
    # (zeros past Ho, Wo), t, T and t0 as in _input_transform, one tile at a time
    nb, O, Ho, Wo = g.shape
    Wt = 4 * tw
    plane = np.zeros((4 * th, Wt), g.dtype)
    pf = plane.reshape(-1)
    c = _constants(g)
    for n in range(nb):
        for o in range(O):
            for h in range(Ho):  # row by row: a 2-D slice copy compiled 1.5 s slower
                plane[h, :Wo] = g[n, o, h]
            for ty in range(th):
                for tx in range(tw):
                    d = uint64(4 * ty * Wt + 4 * tx)
                    a0 = _a(pf[d], pf[d + Wt], pf[d + 2 * Wt], pf[d + 3 * Wt], c)
                    a1 = _a(pf[d + 1], pf[d + 1 + Wt], pf[d + 1 + 2 * Wt], pf[d + 1 + 3 * Wt], c)
                    a2 = _a(pf[d + 2], pf[d + 2 + Wt], pf[d + 2 + 2 * Wt], pf[d + 2 + 3 * Wt], c)
                    a3 = _a(pf[d + 3], pf[d + 3 + Wt], pf[d + 3 + 2 * Wt], pf[d + 3 + 3 * Wt], c)
                    t = o * T + t0 + (n * th + ty) * tw + tx
                    _store6(Gy, 0, t, _a(a0[0], a1[0], a2[0], a3[0], c))
                    _store6(Gy, 6, t, _a(a0[1], a1[1], a2[1], a3[1], c))
                    _store6(Gy, 12, t, _a(a0[2], a1[2], a2[2], a3[2], c))
                    _store6(Gy, 18, t, _a(a0[3], a1[3], a2[3], a3[3], c))
                    _store6(Gy, 24, t, _a(a0[4], a1[4], a2[4], a3[4], c))
                    _store6(Gy, 30, t, _a(a0[5], a1[5], a2[5], a3[5], c))


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
def _weight_transform_back(dU, C, dw9, lo, hi):
    # dw9[:, o*C + c] (9 rows) = G^T dU[:, o*C + c] G (the 3x3 taps row-major) for o in
    # [lo, hi), c < C: straight-line code over contiguous rows, as _filter_transform
    t = dw9.dtype.type
    f = (t(1 / 4), t(1 / 6), t(1 / 12), t(1 / 24))
    for i in range(lo * C, hi * C):
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
        _input_transform(x[n0:n1], p, th, tw, 0, V)
        np.matmul(_matrices(V, T, Cp), _matrices(U, Cp, Op), out=_matrices(M, T, Op))
        _output_transform(M, b, relu, th, tw, 0, y[n0:n1])


def _input_samples(x, p, th, tw, V, lo, hi):
    """The transformed input tiles of samples [lo, hi) into the whole batch's stack."""
    _input_transform(x[lo:hi], p, th, tw, lo * th * tw, V)


def _output_samples(M, b, relu, th, tw, y, lo, hi):
    """Samples [lo, hi) of y from the whole batch's products."""
    _output_transform(M, b, relu, th, tw, lo * th * tw, y[lo:hi])


def _forward_products(U, V, Cp, Op, T, M, lo, hi):
    """M[xi] = V[xi] @ U[xi] for xi in [lo, hi)."""
    Um, Vm, Mm = _matrices(U, Cp, Op), _matrices(V, T, Cp), _matrices(M, T, Op)
    for k in range(lo, hi):
        np.matmul(Vm[k], Um[k], out=Mm[k])


def _shared_products(N, C, O, th, tw) -> bool:
    """Whether the 36 products run on the whole batch's tiles, shared out between the
    threads, rather than each thread's on its own samples: when the transformed filter (or
    weight gradient), which each thread would read (or sum) once, outweighs the batch's
    transformed tiles (many channels on small maps: ResNet-18's 512 at 4x4)."""
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


def _wgrad_samples(x, g, p, th, tw, sums, lo, hi):
    """Weight-gradient sums dU (36, O*Cp) over samples [lo, hi), appended to ``sums``."""
    C, O = x.shape[1], g.shape[1]
    Cp = _vectors(C, x.dtype)
    nb_max = _block(hi - lo, Cp, O, th, tw, x.itemsize, WGRAD_BYTES)
    dU = _stack(36, O * Cp, x.dtype)
    dU[...] = 0
    for n0 in range(lo, hi, nb_max):
        n1 = min(hi, n0 + nb_max)
        T = (n1 - n0) * th * tw
        V = _stack(36, T * Cp, x.dtype, "winograd.V")
        Gy = _stack(36, O * T, x.dtype, "winograd.M")
        _input_transform(x[n0:n1], p, th, tw, 0, V)
        _grad_transform(g[n0:n1], th, tw, T, 0, Gy)
        _matrices(dU, O, Cp)[...] += np.matmul(_matrices(Gy, O, T), _matrices(V, T, Cp))
    sums.append(dU)


def _transform_samples(x, g, p, th, tw, V, Gy, lo, hi):
    """The transformed tiles of samples [lo, hi) into the whole batch's stacks."""
    T, t0 = x.shape[0] * th * tw, lo * th * tw
    _input_transform(x[lo:hi], p, th, tw, t0, V)
    _grad_transform(g[lo:hi], th, tw, T, t0, Gy)


def _products(Gy, V, O, Cp, T, dU, lo, hi):
    """dU[xi] = Gy[xi] @ V[xi] for xi in [lo, hi)."""
    Gm, Vm, Um = _matrices(Gy, O, T), _matrices(V, T, Cp), _matrices(dU, O, Cp)
    for k in range(lo, hi):
        np.matmul(Gm[k], Vm[k], out=Um[k])


def _weight_gradient(x, g, p, th, tw):
    """dU (36, O*Cp): over each thread's share of the samples, summed; or, when those sums
    would outweigh half the whole batch's transformed tiles (many channels, few tiles),
    from the whole batch's tiles with the 36 products shared out between the threads:
    measured 2x faster on ResNet-18's 512 channels at 4x4, 1.17x on 256 at 8x8, and no
    faster on 64 at 32x32 (batch 64, on a loaded machine)."""
    N, C = x.shape[0], x.shape[1]
    O = g.shape[1]
    Cp = _vectors(C, x.dtype)
    T = N * th * tw
    if not _shared_products(N, C, O, th, tw):
        sums = []
        _run(_wgrad_samples, N, x, g, p, th, tw, sums)
        if not sums:
            return np.zeros((36, O * Cp), x.dtype)
        for part in sums[1:]:
            sums[0] += part
        return sums[0]
    V, Gy, dU = _stack(36, T * Cp, x.dtype), _stack(36, O * T, x.dtype), _stack(36, O * Cp, x.dtype)
    _run(_transform_samples, N, x, g, p, th, tw, V, Gy)
    parallel_for(_products, 36, Gy, V, O, Cp, T, dU, work=PARALLEL_WORK)
    return dU


def backward_input(g, w, padding, dx):
    """dx (N, C, H, W) of y = conv(x, w), stride 1, from g (N, O, Ho, Wo), filled in place
    and returned: the forward of g with the flipped, transposed kernel and padding
    2 - padding."""
    return forward(g, _flip(w), np.zeros(w.shape[1], g.dtype), 2 - padding, dx)


def backward_weight(x, g, padding):
    """(dw (O, C, 3, 3), db (O,)) of y = conv(x, w) + b, stride 1, from g (N, O, Ho, Wo)."""
    C = x.shape[1]
    O = g.shape[1]
    Cp = _vectors(C, x.dtype)
    dU = _weight_gradient(x, g, padding, tiles(g.shape[2]), tiles(g.shape[3]))
    db = g.sum(axis=(0, 2, 3), dtype=np.float64)
    dw9 = _stack(9, O * Cp, x.dtype)
    parallel_for(_weight_transform_back, O, dU, Cp, dw9, work=O * Cp * 36)
    taps = _matrices(dw9, O, Cp)[:, :, :C]
    return np.ascontiguousarray(taps.transpose(1, 2, 0)).reshape(O, C, 3, 3), db.astype(x.dtype)
