"""Winograd F(2x2, 3x3) convolution on the CPU for 3x3, stride 1, padding 1 layers with
many channels (VGG's and ResNet's body convolutions).

Each 2x2 block of outputs ("tile") is computed from the 4x4 input patch around it as

    Y = A^T [ sum_c (G g_oc G^T) * (B^T d_c B) ] A

so the 36 multiplies of a direct 2x2 output become 16: with the batch folded into the
tiles, the products are 16 GEMMs  M_k (O x T) = U_k (O x C) @ V_k (C x T), T the number
of tiles, which is 2.25x fewer FLOPs than im2col's (O x 9C) @ (9C x 4T). The input
transform writes 4 values per input value (im2col writes 9), so memory traffic drops too.

B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
G   = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]

The input gradient of such a layer is the same kind of convolution of the output
gradient with the weights flipped and transposed (w'[c, o, i, j] = w[o, c, 2-i, 2-j]), so
:func:`forward` serves it too. The weight gradient stays on the im2col path.
"""
from __future__ import annotations

import numpy as np
from numba import uint64

from .parallel import gemm, kernel, parallel_for
from .workspace import workspace

MIN_CHANNELS = 32   # both C and O: below, the 16 GEMMs (O x C) @ (C x T) are too skinny
WORKSPACE_BYTES = 16 * 2**20

_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])


MIN_SIZE = 16       # H and W: measured slower than im2col on 8x8 maps (0.8-0.9x), faster on 16x16+


def suitable(C, O, H, W, kh, kw, sh, sw, ph, pw) -> bool:
    return ((kh, kw, sh, sw, ph, pw) == (3, 3, 1, 1, 1, 1) and C >= MIN_CHANNELS
            and O >= MIN_CHANNELS and H >= MIN_SIZE and W >= MIN_SIZE)


def transform_weights(w):
    """U (16, O, C) = G w G^T for every (o, c), in w's dtype."""
    U = np.einsum("ai,ocij,bj->aboc", _G, w.astype(np.float64, copy=False), _G)
    O, C = w.shape[:2]
    return np.ascontiguousarray(U.reshape(16, O, C), dtype=w.dtype)


@kernel
def _input_plane(x, n, c, th, tw, V, t0):
    # B^T d B of every 4x4 patch (zero padding 1) of plane (n, c). Per tile row: the four
    # input rows, zero-padded, go to xr; B^T combines them element-wise along the row
    # (vectorised); B then combines each tile's four columns.
    H, W = x.shape[2], x.shape[3]
    Wp = 2 * tw + 2
    xr = np.empty((4, Wp), V.dtype)
    r = np.empty((4, Wp), V.dtype)
    for ty in range(th):
        h0 = 2 * ty - 1
        for a in range(4):
            h = h0 + a
            row = xr[a]
            row[:] = 0
            if h >= 0 and h < H:
                src = x[n, c, h]
                for w in range(min(W, Wp - 1)):  # uint64 index: see conv._im2col_row
                    row[uint64(w + 1)] = src[w]
        x0, x1, x2, x3 = xr[0], xr[1], xr[2], xr[3]
        r0, r1, r2, r3 = r[0], r[1], r[2], r[3]
        for k in range(Wp):
            r0[k] = x0[k] - x2[k]
            r1[k] = x1[k] + x2[k]
            r2[k] = x2[k] - x1[k]
            r3[k] = x1[k] - x3[k]
        tb = t0 + ty * tw
        for a in range(4):
            ra = r[a]
            Va0 = V[a * 4, c]
            Va1 = V[a * 4 + 1, c]
            Va2 = V[a * 4 + 2, c]
            Va3 = V[a * 4 + 3, c]
            for tx in range(tw):
                j = 2 * tx
                t = uint64(tb + tx)
                Va0[t] = ra[j] - ra[j + 2]
                Va1[t] = ra[j + 1] + ra[j + 2]
                Va2[t] = ra[j + 2] - ra[j + 1]
                Va3[t] = ra[j + 1] - ra[j + 3]


@kernel
def _input_transform(x, th, tw, V, lo, hi):
    # x (N, C, H, W) -> V (16, C, N*th*tw)
    N, C = x.shape[0], x.shape[1]
    for nc in range(lo, hi):
        n = nc // C
        c = nc % C
        _input_plane(x, n, c, th, tw, V, n * th * tw)


@kernel
def _output_plane(M, n, o, bo, th, tw, y):
    Ho, Wo = y.shape[2], y.shape[3]
    t0 = n * th * tw
    for ty in range(th):
        oh = 2 * ty
        for tx in range(tw):
            ow = 2 * tx
            t = t0 + ty * tw + tx
            s00 = M[0, o, t] + M[4, o, t] + M[8, o, t]
            s10 = M[4, o, t] - M[8, o, t] - M[12, o, t]
            s01 = M[1, o, t] + M[5, o, t] + M[9, o, t]
            s11 = M[5, o, t] - M[9, o, t] - M[13, o, t]
            s02 = M[2, o, t] + M[6, o, t] + M[10, o, t]
            s12 = M[6, o, t] - M[10, o, t] - M[14, o, t]
            s03 = M[3, o, t] + M[7, o, t] + M[11, o, t]
            s13 = M[7, o, t] - M[11, o, t] - M[15, o, t]
            y[n, o, oh, ow] = s00 + s01 + s02 + bo
            if ow + 1 < Wo:
                y[n, o, oh, ow + 1] = s01 - s02 - s03 + bo
            if oh + 1 < Ho:
                y[n, o, oh + 1, ow] = s10 + s11 + s12 + bo
                if ow + 1 < Wo:
                    y[n, o, oh + 1, ow + 1] = s11 - s12 - s13 + bo


@kernel
def _output_transform(M, b, th, tw, y, lo, hi):
    # M (16, O, N*th*tw) -> y (N, O, Ho, Wo) = A^T m A + b
    N, O = y.shape[0], y.shape[1]
    for no in range(lo, hi):
        n = no // O
        o = no % O
        _output_plane(M, n, o, b[o], th, tw, y)


def forward(x, w, b, y, U=None):
    """y (N, O, H, W) = conv3x3(x, w, padding 1) + b; x, y C-contiguous. U: the
    transformed weights if the caller has them."""
    N, C, H, W = x.shape
    O = w.shape[0]
    th, tw = (H + 1) // 2, (W + 1) // 2
    if U is None:
        U = transform_weights(w)
    per_sample = 16 * (C + O) * th * tw * x.itemsize
    nb = max(1, min(N, WORKSPACE_BYTES // max(1, per_sample)))
    for n0 in range(0, N, nb):
        n1 = min(N, n0 + nb)
        T = (n1 - n0) * th * tw
        V = workspace("wino.V", (16, C, T), x.dtype)
        M = workspace("wino.M", (16, O, T), x.dtype)
        parallel_for(_input_transform, (n1 - n0) * C, x[n0:n1], th, tw, V, work=V.size)
        for k in range(16):
            gemm(U[k], V[k], out=M[k])
        parallel_for(_output_transform, (n1 - n0) * O, M, b, th, tw, y[n0:n1], work=M.size)
    return y


def backward_input(g, w, dx):
    """dx (N, C, H, W) for y = conv3x3(x, w, padding 1), from g (N, O, H, W)."""
    wt = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    forward(g, wt, np.zeros(wt.shape[0], g.dtype), dx)
    return dx
