"""Winograd F(2x2, 3x3) for 3x3 layers of stride 1 and padding 1 with 16 to 63 channels
(ResNet-20's), one sample at a time, everything in cache.

Per 2x2 output tile with its 4x4 input tile d (Lavin and Gray 2016):

    y = A^T [ sum over c of (G g G^T)[c] * (B^T d[c] B) ] A      (* element-wise, 16 terms)

    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    G   = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]

16 multiplies per tile and channel pair instead of 36: the 16 sums over c are 16 products
(O x C) @ (C x tiles), run by the direct kernels' register tiles (conv_direct._fwd_tiles).
The padded input is split into its even and odd rows and columns (conv_direct._pad_into
with stride 2): tile j reads padded columns 2j .. 2j+3, which are the even and odd columns
j and j+1, so the transforms of L adjacent tiles are whole-vector adds.

Shapes: x (N, C, H, W), w (O, C, 3, 3), y (N, O, H, W). Per sample and thread the
transformed input (16 x C x tiles) and the products (16 x O x tiles) stay in L2.
"""
from __future__ import annotations

import numpy as np

from . import winograd
from .conv_direct import MACS_PER_ELEMENT, _flip, _fwd_tiles, _fwd_tiles6, _round_up, _tile_rows
from .parallel import helper, kernel, parallel_for
from .simd import (VECTOR_BYTES, lanes, vadd, vevens, vload, vmax, vodds, vsplat, vstore, vsub, vzero, vziphi,
                   vziplo)

MIN_CHANNELS = 16
MAX_CHANNELS = winograd.MIN_CHANNELS - 1    # from there F(4x4, 3x3) takes the layer
MIN_OUTPUT = 4

_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])


def suitable(C, O, kh, kw, sh, sw, ph, pw, Ho, Wo) -> bool:
    """3x3, stride 1, padding 1, MIN_CHANNELS..MAX_CHANNELS channels in and out (the
    F(4x4, 3x3) kernels take 64 and up), outputs of at least MIN_OUTPUT x MIN_OUTPUT."""
    return (kh == kw == 3 and sh == sw == 1 and ph == pw == 1 and MIN_CHANNELS <= min(C, O)
            and max(C, O) <= MAX_CHANNELS and min(Ho, Wo) >= MIN_OUTPUT)


@helper
def _pad_phases(src, Hq, Wq, xq):
    # xq: the sample src (C, H, W) padded by 1, split into its even and odd rows and
    # columns: padded[c, 2u + a, 2v + b] at ((a*2 + b)*C + c)*Hq*Wq + u*Wq + v. Original
    # row r is padded row r + 1; its even columns 2m are the odd padded columns (v = m),
    # its odd columns 2m + 1 the even ones (v = m + 1). Only the interior is written.
    C, H, W = src.shape
    sf = src.reshape(-1)
    plane = Hq * Wq
    L = lanes(xq)
    for c in range(C):
        for r in range(H):
            a, u = (r + 1) % 2, (r + 1) // 2
            odd = ((a * 2 + 1) * C + c) * plane + u * Wq
            even = (a * 2 * C + c) * plane + u * Wq + 1
            row = (c * H + r) * W
            m = 0
            while 2 * m + 2 * L <= W:
                lo, hi = vload(sf, row + 2 * m), vload(sf, row + 2 * m + L)
                vstore(xq, odd + m, vevens(lo, hi))
                vstore(xq, even + m, vodds(lo, hi))
                m += L
            for q in range(2 * m, W):
                if q % 2:
                    xq[even + q // 2] = sf[row + q]
                else:
                    xq[odd + q // 2] = sf[row + q]


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
def _at(m0, m1, m2, m3):
    # A^T over four: (m0 + m1 + m2, m1 - m2 - m3)
    return vadd(vadd(m0, m1), m2), vsub(vsub(m1, m2), m3)


@kernel
def _fwd(x, wt, koff, b, relu, Hq, Wq, th, tw, twp, Qp, y, lo, hi):
    # samples [lo, hi): y[n] (O, H, W) = conv(x[n], w) + b (then max(., 0) with relu);
    # wt (16, C*Op): the transformed filters of each tile position, packed as
    # conv_direct's wp; tiles (i, j) at i*twp + j, twp = tw rounded up to whole vectors
    N, C, H, W = x.shape
    O = y.shape[1]
    Op = wt.shape[1] // C
    L = lanes(wt[0])
    plane = Hq * Wq
    xq = np.zeros(4 * C * plane + 2 * L, x.dtype)  # phases (row, column): ee, eo, oe, oo
    v = np.zeros((16, C * Qp), x.dtype)
    m = np.empty((16, Op * Qp), x.dtype)
    out = np.empty(2 * L, x.dtype)
    for n in range(lo, hi):
        _pad_phases(x[n], Hq, Wq, xq)
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
        for p in range(16):                            # the 16 products
            if Op % 4:
                _fwd_tiles6(v[p], wt[p], koff, Op, Qp, m[p])
            else:
                _fwd_tiles(v[p], wt[p], koff, Op, Qp, m[p])
        yf = y[n].reshape(-1)
        zero = vzero(out)
        for o in range(O):
            bv = vsplat(b, o)
            for i in range(th):
                for j0 in range(0, twp, L):
                    s = o * Qp + i * twp + j0
                    u00, u10 = _at(vload(m[0], s), vload(m[4], s), vload(m[8], s), vload(m[12], s))
                    u01, u11 = _at(vload(m[1], s), vload(m[5], s), vload(m[9], s), vload(m[13], s))
                    u02, u12 = _at(vload(m[2], s), vload(m[6], s), vload(m[10], s), vload(m[14], s))
                    u03, u13 = _at(vload(m[3], s), vload(m[7], s), vload(m[11], s), vload(m[15], s))
                    y00, y01 = _at(u00, u01, u02, u03)
                    y10, y11 = _at(u10, u11, u12, u13)
                    # row 2i + a, columns 2j0 ..: the tiles' two columns interleaved, + b
                    for a in range(2):
                        h = 2 * i + a
                        if h >= H:
                            break
                        e, f = (y00, y01) if a == 0 else (y10, y11)
                        lo, hi = vadd(vziplo(e, f), bv), vadd(vziphi(e, f), bv)
                        if relu:
                            lo, hi = vmax(lo, zero), vmax(hi, zero)
                        d = (o * H + h) * W + 2 * j0
                        if 2 * j0 + 2 * L <= W:
                            vstore(yf, d, lo)
                            vstore(yf, d + L, hi)
                        else:
                            vstore(out, 0, lo)
                            vstore(out, L, hi)
                            for t in range(W - 2 * j0):
                                yf[d + t] = out[t]


def forward(x, w, b, y, relu=False):
    """y (N, O, H, W) = conv(x, w, stride 1, padding 1) + b (then max(., 0) with relu),
    filled in place and returned."""
    N, C, H, W = x.shape
    O = w.shape[0]
    L = VECTOR_BYTES // x.itemsize
    th, tw = (H + 1) // 2, (W + 1) // 2
    twp = _round_up(tw, L)
    T = th * twp
    Op = _round_up(O, _tile_rows(O, T, L))
    Qp = _round_up(T, 2 * L if Op % 4 else 3 * L)
    g = _G.astype(x.dtype)
    u = np.einsum("ri,ocij,sj->rsco", g, w, g)           # G w G^T: (4, 4, C, O)
    wt = np.zeros((16, C, Op), x.dtype)
    wt[:, :, :O] = u.reshape(16, C, O)
    koff = np.arange(C, dtype=np.int64) * Qp
    parallel_for(_fwd, N, x, wt.reshape(16, C * Op), koff, np.ascontiguousarray(b, x.dtype), relu,
                 th + 1, twp + 1, th, tw, twp, Qp, y, work=N * O * H * W * (9 * C // MACS_PER_ELEMENT))
    return y


def backward_input(g, w, dx):
    """dx (N, C, H, W) of y = conv(x, w, stride 1, padding 1) from g (N, O, H, W): the
    forward of g with the flipped, transposed kernel (3x3, stride 1, padding 1 as well)."""
    return forward(g, _flip(w), np.zeros(w.shape[1], g.dtype), dx)
