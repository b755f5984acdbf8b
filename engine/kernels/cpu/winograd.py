"""3x3 convolutions of stride 1 by Winograd's minimal filtering F(4x4, 3x3) (Lavin and
Gray 2016): 36 multiplies for a 4x4 tile of outputs instead of 144, as batched GEMMs.

Shapes as in :mod:`.conv`: x (N, C, H, W), w (O, C, 3, 3), y (N, O, Ho, Wo), padding p
(0, 1 or 2) on both sides, Ho = H + 2p - 2. The output is cut into th x tw tiles of 4x4
(th = ceil(Ho / 4)); tile (ty, tx) reads the 6x6 patch of the padded input at
(4 ty, 4 tx) (zeros beyond it). With B^T (6x6), G (6x3), A^T (4x6) those of points
0, +-1, +-2, a tile's output is

    Y = A^T [ (G g G^T) . (B^T d B) ] A          (. is the element-wise product)

for each (o, c) pair summed over c, so with xi = (k, l) the 36 positions of a 6x6 tile,
U[xi] = (G w G^T)[xi] (O, C), V[xi] = (B^T d B)[xi] (C, T) over T tiles of a block of
samples:

    forward      M[xi] (O, T) = U[xi] @ V[xi];   Y = A^T M A per tile  (+ bias, ReLU)
    input grad   the forward of g with w flipped and transposed, padding 2 - p
    weight grad  dU[xi] (O, C) = sum over tiles of Gy[xi] @ V[xi]^T, Gy = A gy A^T the
                 transformed 4x4 tiles of the output gradient (zeros past Ho, Wo);
                 dW[o, c] = G^T dU[:, o, c] G (the same identity with the roles of the
                 output and the filter exchanged: F(3x3, 4x4))

Every transform runs as two passes of 1-D transforms over a plane: one down the columns
(rows of the plane, contiguous: vectorised) and one along the rows of tiles (stride 4).
The transformed tiles are stored xi-major, (36, C, T), so each GEMM reads and writes
contiguous matrices. Each thread takes a share of the samples, in blocks whose V stays
under FORWARD_BYTES (WGRAD_BYTES), and runs its own single-threaded GEMMs (as the GEMM path in
:mod:`.conv`); the weight gradient's per-thread sums are added at the end.

Accuracy: the transforms' coefficients (up to 8 and 1/24) cost a few bits in float32:
measured against float64, relative errors about 10x those of the direct sum.
"""
from __future__ import annotations

import numpy as np
from numba import uint64

from .conv_direct import _flip
from .parallel import PARALLEL_MIN, get_num_threads, helper, kernel, parallel_for
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
MIN_CHANNELS = 64
MIN_OUTPUT = 4


def suitable(C, O, kh, kw, sh, sw, ph, pw, Ho, Wo) -> bool:
    """3x3, stride 1, one padding of at most 2 on both axes, at least MIN_CHANNELS channels
    in and out and outputs of at least MIN_OUTPUT x MIN_OUTPUT. Measured on the 2-core
    machine (one thread, forward and backward against the direct kernels or im2col +
    GEMM, batch 32-128): 1.6-2.4x faster from 96 to 512 channels on 4x4 to 32x32 maps
    (ResNet-18, VGG, GoogLeNet, AlexNet's 7x7), 1.2-1.4x on 64 channels at 8x8 and 32x32;
    slower on 16 or 32 channels (0.5-0.9x: the direct kernels are near their peak there,
    and the transforms cost as much as the products) and on 2x2 maps (0.6x: one 4x4 tile
    per 2x2 output saves no multiply)."""
    return (kh == kw == 3 and sh == sw == 1 and ph == pw <= 2 and min(C, O) >= MIN_CHANNELS
            and min(Ho, Wo) >= MIN_OUTPUT)


def tiles(size: int) -> int:
    """4x4 tiles along an output axis of ``size``."""
    return (size + 3) // 4


@helper
def _store6(V, r, t, v):
    V[r, t] = v[0]
    V[r + 1, t] = v[1]
    V[r + 2, t] = v[2]
    V[r + 3, t] = v[3]
    V[r + 4, t] = v[4]
    V[r + 5, t] = v[5]


@helper
def _g(g0, g1, g2, f):
    # G g of 3 values (f = (1/4, 1/6, 1/12, 1/24) in the arrays' dtype)
    q, s, t, e = f
    return g0 * q, -(g0 + g1 + g2) * s, -(g0 - g1 + g2) * s, g0 * e + g1 * t + g2 * s, g0 * e - g1 * t + g2 * s, g2


@kernel
def _filter_transform(w9, C, U, lo, hi):
    # U[:, o*C + c] (36 rows) = G g G^T of every filter g = w9[:, o*C + c] (its 3x3 taps
    # row-major, 9 rows), for o in [lo, hi): the loop over c reads 9 and writes 36
    # contiguous rows, straight-line code LLVM vectorises
    t = w9.dtype.type
    f = (t(1 / 4), t(1 / 6), t(1 / 12), t(1 / 24))
    for i in range(lo * C, hi * C):
        k0 = _g(w9[0, i], w9[3, i], w9[6, i], f)  # G g, column by column
        k1 = _g(w9[1, i], w9[4, i], w9[7, i], f)
        k2 = _g(w9[2, i], w9[5, i], w9[8, i], f)
        _store6(U, 0, i, _g(k0[0], k1[0], k2[0], f))  # (G g) G^T, row by row
        _store6(U, 6, i, _g(k0[1], k1[1], k2[1], f))
        _store6(U, 12, i, _g(k0[2], k1[2], k2[2], f))
        _store6(U, 18, i, _g(k0[3], k1[3], k2[3], f))
        _store6(U, 24, i, _g(k0[4], k1[4], k2[4], f))
        _store6(U, 30, i, _g(k0[5], k1[5], k2[5], f))


# 1-D transforms of one row or column of a tile, as tuples of scalars (c = the constants
# (2, 4, 5, 8) in the arrays' dtype): a tile's transform is six (or four) of them down its
# columns, then as many along its rows, all in registers (measured 1.5-2x faster than
# through a scratch array).

@helper
def _bt(d0, d1, d2, d3, d4, d5, c):
    # B^T d
    two, four, five = c[0], c[1], c[2]
    return (four * d0 - five * d2 + d4, d3 + d4 - four * (d1 + d2), four * (d1 - d2) + d4 - d3,
            d4 - d2 + two * (d3 - d1), d4 - d2 - two * (d3 - d1), four * d1 - five * d3 + d5)


@helper
def _at(m0, m1, m2, m3, m4, m5, c):
    # A^T m
    two, four, eight = c[0], c[1], c[3]
    s12, d12, s34, d34 = m1 + m2, m1 - m2, m3 + m4, m3 - m4
    return m0 + s12 + s34, d12 + two * d34, s12 + four * s34, d12 + eight * d34 + m5


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


@helper
def _column6(pf, d, stride, c):
    # B^T of the 6 values pf[d + i*stride]
    return _bt(pf[d], pf[d + stride], pf[d + 2 * stride], pf[d + 3 * stride], pf[d + 4 * stride],
               pf[d + 5 * stride], c)


@kernel
def _input_transform(x, p, th, tw, T, t0, V):
    # V[:, c*T + t0 + t] (36 rows) = B^T d B of every tile t = (n*th + ty)*tw + tx of the
    # samples x (nb, C, H, W) (T tiles per channel in V, these from t0 on), d the 6x6 patch
    # at (4ty, 4tx) of the plane padded by p (zeros beyond); one tile at a time (measured
    # 1.3-2x faster than a vectorised pass down the columns of a row of tiles, then one
    # along it)
    nb, C, H, W = x.shape
    Wp = 4 * tw + 2
    plane = np.zeros((4 * th + 2, Wp), x.dtype)
    pf = plane.reshape(-1)
    c = _constants(x)
    for n in range(nb):
        for ch in range(C):
            for h in range(H):  # row by row: a 2-D slice copy compiled 1.5 s slower
                plane[p + h, p:p + W] = x[n, ch, h]
            for ty in range(th):
                for tx in range(tw):
                    d = uint64(4 * ty * Wp + 4 * tx)
                    k0, k1, k2 = _column6(pf, d, Wp, c), _column6(pf, d + 1, Wp, c), _column6(pf, d + 2, Wp, c)
                    k3, k4, k5 = _column6(pf, d + 3, Wp, c), _column6(pf, d + 4, Wp, c), _column6(pf, d + 5, Wp, c)
                    t = ch * T + t0 + (n * th + ty) * tw + tx
                    _store6(V, 0, t, _bt(k0[0], k1[0], k2[0], k3[0], k4[0], k5[0], c))
                    _store6(V, 6, t, _bt(k0[1], k1[1], k2[1], k3[1], k4[1], k5[1], c))
                    _store6(V, 12, t, _bt(k0[2], k1[2], k2[2], k3[2], k4[2], k5[2], c))
                    _store6(V, 18, t, _bt(k0[3], k1[3], k2[3], k3[3], k4[3], k5[3], c))
                    _store6(V, 24, t, _bt(k0[4], k1[4], k2[4], k3[4], k4[4], k5[4], c))
                    _store6(V, 30, t, _bt(k0[5], k1[5], k2[5], k3[5], k4[5], k5[5], c))


@helper
def _row6(M, r, t, c):
    # A^T of the 6 values M[r + l, t]
    return _at(M[r, t], M[r + 1, t], M[r + 2, t], M[r + 3, t], M[r + 4, t], M[r + 5, t], c)


@kernel
def _output_transform(M, b, relu, th, tw, T, t0, y):
    # y (nb, O, Ho, Wo)[n, o] = A^T M[:, o*T + t0 + t] A of every tile t (see _input_transform),
    # cut to Ho x Wo, + b[o], then max(., 0) with relu
    nb, O, Ho, Wo = y.shape
    c = _constants(y)
    for n in range(nb):
        for o in range(O):
            bo = b[o]
            for ty in range(th):
                for tx in range(tw):
                    t = o * T + t0 + (n * th + ty) * tw + tx
                    r0, r1, r2 = _row6(M, 0, t, c), _row6(M, 6, t, c), _row6(M, 12, t, c)
                    r3, r4, r5 = _row6(M, 18, t, c), _row6(M, 24, t, c), _row6(M, 30, t, c)
                    h, v = 4 * ty, 4 * tx
                    for j in range(min(4, Wo - v)):  # column j of the tile: A^T (M A)[:, j]
                        col = _at(r0[j], r1[j], r2[j], r3[j], r4[j], r5[j], c)
                        for i in range(min(4, Ho - h)):
                            out = col[i] + bo
                            y[n, o, h + i, v + j] = max(out, 0) if relu else out


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
    # [lo, hi): straight-line code over contiguous rows, as _filter_transform
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


def _transformed_filter(w):
    """U: the stack (36, O*C) of w (O, C, 3, 3) transformed."""
    O, C = w.shape[0], w.shape[1]
    w9 = _stack(9, O * C, w.dtype)
    _matrices(w9, O, C)[...] = w.reshape(O, C, 9).transpose(2, 0, 1)
    U = _stack(36, O * C, w.dtype)
    parallel_for(_filter_transform, O, w9, C, U, work=O * C * 36)
    return U


def _block(N, C, O, th, tw, itemsize, budget):
    """Samples per block of a thread's share: V (36, C, nb*th*tw) and M under ``budget`` bytes."""
    per = 36 * max(C, O) * th * tw * itemsize
    return max(1, min(N, budget // max(per, 1)))


def _run(step, N, *args):
    """step(*args, lo, hi) on every thread's share [lo, hi) of the N samples."""
    parallel_for(step, N, *args, work=PARALLEL_WORK)


def _forward_samples(x, U, O, b, relu, p, th, tw, y, lo, hi):
    C = x.shape[1]
    nb_max = _block(hi - lo, C, O, th, tw, x.itemsize, max(FORWARD_BYTES, U.nbytes))
    for n0 in range(lo, hi, nb_max):
        n1 = min(hi, n0 + nb_max)
        T = (n1 - n0) * th * tw
        V = _stack(36, C * T, x.dtype, "winograd.V")
        M = _stack(36, O * T, x.dtype, "winograd.M")
        _input_transform(x[n0:n1], p, th, tw, T, 0, V)
        np.matmul(_matrices(U, O, C), _matrices(V, C, T), out=_matrices(M, O, T))
        _output_transform(M, b, relu, th, tw, T, 0, y[n0:n1])


def _input_samples(x, p, th, tw, V, lo, hi):
    """The transformed input tiles of samples [lo, hi) into the whole batch's stack."""
    _input_transform(x[lo:hi], p, th, tw, x.shape[0] * th * tw, lo * th * tw, V)


def _output_samples(M, b, relu, th, tw, y, lo, hi):
    """Samples [lo, hi) of y from the whole batch's products."""
    _output_transform(M, b, relu, th, tw, y.shape[0] * th * tw, lo * th * tw, y[lo:hi])


def _forward_products(U, V, O, C, T, M, lo, hi):
    """M[xi] = U[xi] @ V[xi] for xi in [lo, hi)."""
    Um, Vm, Mm = _matrices(U, O, C), _matrices(V, C, T), _matrices(M, O, T)
    for k in range(lo, hi):
        np.matmul(Um[k], Vm[k], out=Mm[k])


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
    th, tw = tiles(y.shape[2]), tiles(y.shape[3])
    U = _transformed_filter(w)
    if not _shared_products(N, C, O, th, tw):
        _run(_forward_samples, N, x, U, O, b, relu, padding, th, tw, y)
        return y
    T = N * th * tw
    V, M = _stack(36, C * T, x.dtype), _stack(36, O * T, x.dtype)
    _run(_input_samples, N, x, padding, th, tw, V)
    parallel_for(_forward_products, 36, U, V, O, C, T, M, work=PARALLEL_WORK)
    _run(_output_samples, N, M, b, relu, th, tw, y)
    return y


def _wgrad_samples(x, g, p, th, tw, sums, lo, hi):
    """Weight-gradient sums over samples [lo, hi), appended to ``sums`` as (dU, db)."""
    C, O = x.shape[1], g.shape[1]
    nb_max = _block(hi - lo, C, O, th, tw, x.itemsize, WGRAD_BYTES)
    dU = _stack(36, O * C, x.dtype)
    dU[...] = 0
    for n0 in range(lo, hi, nb_max):
        n1 = min(hi, n0 + nb_max)
        T = (n1 - n0) * th * tw
        V = _stack(36, C * T, x.dtype, "winograd.V")
        Gy = _stack(36, O * T, x.dtype, "winograd.M")
        _input_transform(x[n0:n1], p, th, tw, T, 0, V)
        _grad_transform(g[n0:n1], th, tw, T, 0, Gy)
        _matrices(dU, O, C)[...] += np.matmul(_matrices(Gy, O, T), _matrices(V, C, T).transpose(0, 2, 1))
    sums.append(dU)


def _transform_samples(x, g, p, th, tw, V, Gy, lo, hi):
    """The transformed tiles of samples [lo, hi) into the whole batch's stacks."""
    T, t0 = x.shape[0] * th * tw, lo * th * tw
    _input_transform(x[lo:hi], p, th, tw, T, t0, V)
    _grad_transform(g[lo:hi], th, tw, T, t0, Gy)


def _products(Gy, V, O, C, T, dU, lo, hi):
    """dU[xi] = Gy[xi] @ V[xi]^T for xi in [lo, hi)."""
    Gm, Vm, Um = _matrices(Gy, O, T), _matrices(V, C, T), _matrices(dU, O, C)
    for k in range(lo, hi):
        np.matmul(Gm[k], Vm[k].T, out=Um[k])


def _weight_gradient(x, g, p, th, tw):
    """dU (36, O*C): over each thread's share of the samples, summed; or, when those sums
    would outweigh half the whole batch's transformed tiles (many channels, few tiles),
    from the whole batch's tiles with the 36 products shared out between the threads:
    measured 2x faster on ResNet-18's 512 channels at 4x4, 1.17x on 256 at 8x8, and no
    faster on 64 at 32x32 (batch 64, on a loaded machine)."""
    N, C = x.shape[0], x.shape[1]
    O = g.shape[1]
    T = N * th * tw
    if not _shared_products(N, C, O, th, tw):
        sums = []
        _run(_wgrad_samples, N, x, g, p, th, tw, sums)
        if not sums:
            return np.zeros((36, O * C), x.dtype)
        for part in sums[1:]:
            sums[0] += part
        return sums[0]
    V, Gy, dU = _stack(36, C * T, x.dtype), _stack(36, O * T, x.dtype), _stack(36, O * C, x.dtype)
    _run(_transform_samples, N, x, g, p, th, tw, V, Gy)
    parallel_for(_products, 36, Gy, V, O, C, T, dU, work=PARALLEL_WORK)
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
    dU = _weight_gradient(x, g, padding, tiles(g.shape[2]), tiles(g.shape[3]))
    db = g.sum(axis=(0, 2, 3), dtype=np.float64)
    dw9 = _stack(9, O * C, x.dtype)
    parallel_for(_weight_transform_back, O, dU, C, dw9, work=O * C * 36)
    return np.ascontiguousarray(_matrices(dw9, O, C).transpose(1, 2, 0)).reshape(O, C, 3, 3), db.astype(x.dtype)
