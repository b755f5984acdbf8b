"""The tiled shared-memory SGEMM behind convolution and Linear: C = A @ B (+ bias).

Each block computes a BM x BN tile of C; its BM/TM x BN/TN threads each hold a TM x TN
register tile, strided across the block tile (rows ty + i*TY, columns tx + j*TX) so that
shared-memory reads are conflict-free and global writes coalesce. K advances in BK-deep
slices through double-buffered shared memory: while a slice is multiplied, the next is
already in flight from global memory into registers, so there is one barrier per slice.

Operands are flat device arrays described by strides (``Mat``), so no transpose or
layout copy is ever made:

    element (r, c) = data[r*rs + c*cs]                               (P == 0)
    element (r, c) = data[r*rs + (c // P)*ns + (c % P)*cs]           (P > 0)
    element (r, c) = data[(r // P)*ns + (r % P)*rs + c*cs]           (P > 0, grows)

The grouped forms read or write an (N, R, P) array -- NCHW with P = H*W -- as the
R x (N*P) matrix convolution needs (or its transpose, ``Mat.T``), so a convolution's
output is stored straight into NCHW with its bias added in the same pass (``grouped``).

When the output has too few tiles to fill the GPU but K is long (the weight gradients,
where K runs over batch x pixels), K is split across blockIdx.z into partial products
that a second kernel sums in a fixed order: deterministic, no atomics.

Tile shape: 128 x 128 x 8 with 8 x 8 per thread (256 threads) on a GPU (64 x 64 x 8
with 4 x 4 for float64, which gradient checks use); 8 x 32 x 8 with 4 x 8 per thread
(8 threads) under the simulator, where every thread is a Python thread (the tests also
run the GPU tile under the simulator on small shapes). Compiled for sm_90 the float32
kernel takes ~167 registers, no spills, and its inner loop is 64 FMAs + 16 shared loads
(tests/cuda/ptx_check.py --ptxas).
"""
from __future__ import annotations

import os
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from numba import cuda, from_dtype, uint64

from . import memory
from .memory import flat
from .runtime import SHARED_ALIGN as ALIGN, SIM, grid1d, inline_device, sm_count

GPU_TILE = (128, 128, 8, 8, 8)   # BM, BN, BK, TM, TN
GPU_TILE_F64 = (64, 64, 8, 4, 4)
SIM_TILE = (8, 32, 8, 4, 8)      # 8 threads: the simulator runs each as a Python thread
DEFAULT_TILE = SIM_TILE if SIM else tuple(
    int(v) for v in os.environ.get("NUMBACNN_GEMM_TILE", ",".join(map(str, GPU_TILE))).split(","))
MAXREG = int(os.environ.get("NUMBACNN_GEMM_MAXREG", "0"))


class Mat(NamedTuple):
    """A strided matrix view of a flat device array (see the module docstring).
    ``grows``: the row index (not the column index) is the one grouped by P."""
    data: object
    rs: int
    cs: int
    P: int = 0
    ns: int = 0
    grows: bool = False

    @property
    def T(self) -> "Mat":
        """The transposed view (no copy)."""
        return Mat(self.data, self.cs, self.rs, self.P, self.ns, not self.grows if self.P else False)


def dense(a, rows: int, cols: int) -> Mat:
    """A row-major (rows, cols) array."""
    return Mat(flat(a), cols, 1)


def dense_t(a, rows: int, cols: int) -> Mat:
    """The (rows, cols) transpose of a row-major (cols, rows) array."""
    return Mat(flat(a), 1, rows)


def grouped(a, R: int, P: int) -> Mat:
    """An (N, R, P) array (NCHW with P = H*W) seen as the R x (N*P) matrix."""
    return Mat(flat(a), P, 1, P, R * P)


@inline_device
def offset(r, c, rs, cs, P, ns, grows):
    """Flat index of element (r, c) of a Mat."""
    if P == 0:
        return r * rs + c * cs
    if grows:
        q = r // P
        return q * ns + (r - q * P) * rs + c * cs
    q = c // P
    return r * rs + q * ns + (c - q * P) * cs


@lru_cache(maxsize=None)
def make_sgemm(BM: int, BN: int, BK: int, TM: int, TN: int, dtype=np.float32):
    """The (kernel, threads per block) for one tile shape and dtype."""
    TX, TY = BN // TN, BM // TM
    NT = TX * TY
    AL, BL = BM * BK // NT, BK * BN // NT
    if TX * TN != BN or TY * TM != BM or AL * NT != BM * BK or BL * NT != BK * BN or AL < 1 or BL < 1:
        raise ValueError(f"bad sgemm tile {(BM, BN, BK, TM, TN)}")
    PADA = 4 if BM >= 32 else 0
    PADB = 4 if BN >= 32 else 0
    dt = from_dtype(np.dtype(dtype))
    # ptxas gives the GPU tile ~165 registers (one 256-thread block per SM, no spills);
    # NUMBACNN_GEMM_MAXREG=128 trades some spills for two blocks per SM.
    REGS = {} if SIM or not MAXREG else {"max_registers": MAXREG}
    LDA, LDB = BM + PADA, BN + PADB                    # shared row lengths (padded)
    SA, SB = 2 * BK * LDA, 2 * BK * LDB                # flat double buffers: compile-time constants

    @inline_device
    def load_tiles(A, B, M, N, K, kend, m0, n0, k0, tid,
                   ars, acs, aP, ans, ag, a_kfast, brs, bcs, bP, bns, bg, b_nfast, ga, gb):
        for l in range(AL):
            e = tid + l * NT
            if a_kfast:
                kk = e % BK
                mm = e // BK
            else:
                mm = e % BM
                kk = e // BM
            gm = m0 + mm
            gk = k0 + kk
            v = dt(0)
            if gm < M and gk < kend:
                v = A[offset(gm, gk, ars, acs, aP, ans, ag)]
            ga[l] = v
        for l in range(BL):
            e = tid + l * NT
            if b_nfast:
                nn = e % BN
                kk = e // BN
            else:
                kk = e % BK
                nn = e // BK
            gn = n0 + nn
            gk = k0 + kk
            v = dt(0)
            if gn < N and gk < kend:
                v = B[offset(gk, gn, brs, bcs, bP, bns, bg)]
            gb[l] = v

    @cuda.jit(fastmath=True, **REGS)
    def sgemm(A, B, C, bias, part, M, N, K,
              ars, acs, aP, ans, ag, a_kfast,
              brs, bcs, bP, bns, bg, b_nfast,
              crs, ccs, cP, cns, cg,
              bias_mode, k_chunk, partial):
        tid = cuda.threadIdx.x
        tx = tid % TX
        ty = tid // TX
        n0 = cuda.blockIdx.x * BN
        m0 = cuda.blockIdx.y * BM
        z = cuda.blockIdx.z
        kbeg = z * k_chunk
        kend = min(K, kbeg + k_chunk)

        sA = cuda.shared.array(SA, dt, alignment=ALIGN)
        sB = cuda.shared.array(SB, dt, alignment=ALIGN)
        acc = cuda.local.array((TM, TN), dt)
        ra = cuda.local.array(TM, dt)
        rb = cuda.local.array(TN, dt)
        ga = cuda.local.array(AL, dt)
        gb = cuda.local.array(BL, dt)
        for i in range(TM):
            for j in range(TN):
                acc[i, j] = dt(0)

        ntiles = (kend - kbeg + BK - 1) // BK
        load_tiles(A, B, M, N, K, kend, m0, n0, kbeg, tid,
                   ars, acs, aP, ans, ag, a_kfast, brs, bcs, bP, bns, bg, b_nfast, ga, gb)
        for t in range(ntiles):
            abuf = (t & 1) * (BK * LDA)
            bbuf = (t & 1) * (BK * LDB)
            for l in range(AL):
                e = tid + l * NT
                if a_kfast:
                    sA[abuf + (e % BK) * LDA + e // BK] = ga[l]
                else:
                    sA[abuf + (e // BM) * LDA + e % BM] = ga[l]
            for l in range(BL):
                e = tid + l * NT
                if b_nfast:
                    sB[bbuf + (e // BN) * LDB + e % BN] = gb[l]
                else:
                    sB[bbuf + (e % BK) * LDB + e // BK] = gb[l]
            cuda.syncthreads()
            if t + 1 < ntiles:
                load_tiles(A, B, M, N, K, kend, m0, n0, kbeg + (t + 1) * BK, tid,
                           ars, acs, aP, ans, ag, a_kfast, brs, bcs, bP, bns, bg, b_nfast, ga, gb)
            # unsigned shared offsets: no negative-index wraparound code in the hot loop
            pa = uint64(abuf + ty)
            pb = uint64(bbuf + tx)
            for kk in range(BK):
                for i in range(TM):
                    ra[i] = sA[pa + uint64(i * TY)]
                for j in range(TN):
                    rb[j] = sB[pb + uint64(j * TX)]
                for i in range(TM):
                    for j in range(TN):
                        acc[i, j] += ra[i] * rb[j]
                pa += uint64(LDA)
                pb += uint64(LDB)

        for i in range(TM):
            gm = m0 + ty + i * TY
            if gm < M:
                for j in range(TN):
                    gn = n0 + tx + j * TX
                    if gn < N:
                        v = acc[i, j]
                        if partial:
                            part[(z * M + gm) * N + gn] = v
                        else:
                            if bias_mode == 1:
                                v += bias[gm]
                            elif bias_mode == 2:
                                v += bias[gn]
                            C[offset(gm, gn, crs, ccs, cP, cns, cg)] = v

    return sgemm, NT


@cuda.jit(fastmath=True)
def _splitk_reduce(part, S, M, N, C, bias, bias_mode, crs, ccs, cP, cns, cg):
    start, step = cuda.grid(1), cuda.gridsize(1)
    MN = M * N
    for e in range(start, MN, step):
        v = part[e]
        for z in range(1, S):
            v += part[z * MN + e]
        gm = e // N
        gn = e - gm * N
        if bias_mode == 1:
            v += bias[gm]
        elif bias_mode == 2:
            v += bias[gn]
        C[offset(gm, gn, crs, ccs, cP, cns, cg)] = v


_dummies: dict = {}


def _dummy(dtype):
    key = np.dtype(dtype).str
    if key not in _dummies:
        _dummies[key] = memory.empty((1,), dtype)
    return _dummies[key]


def choose_splits(M: int, N: int, K: int, tile=DEFAULT_TILE) -> int:
    """How many K-slices: enough blocks for about two waves over the GPU, each slice
    at least 256 deep (1 when the output tiles alone fill the GPU)."""
    BM, BN, BK = tile[:3]
    tiles = -(-M // BM) * -(-N // BN)
    target = 2 * sm_count()
    if tiles >= target or K < 512:
        return 1
    return int(max(1, min(-(-target // tiles), K // 256, 64)))


def gemm(A: Mat, B: Mat, C: Mat, M: int, N: int, K: int, bias=None, bias_axis: int = 0,
         splits: int | None = None, tile=None):
    """C = A @ B (+ bias along rows (bias_axis=0, one per row of C) or columns (1)), with
    A (M, K), B (K, N) and C (M, N) strided views. Queued on the default stream."""
    if tile is None:  # float64 (gradient checks only) doubles the registers: a smaller tile
        tile = DEFAULT_TILE if SIM or np.dtype(C.data.dtype).itemsize <= 4 else GPU_TILE_F64
    tile = tuple(tile)
    BM, BN, BK = tile[:3]
    dtype = C.data.dtype
    kernel, NT = make_sgemm(*tile, dtype=np.dtype(dtype).type)
    if M == 0 or N == 0:
        return
    S = choose_splits(M, N, K, tile) if splits is None else max(1, int(splits))
    k_chunk = max(BK, -(-(-(-K // S)) // BK) * BK)  # ceil(K / S) rounded up to BK
    S = max(1, -(-K // k_chunk))                   # (K == 0: one slice, C = bias or 0)
    bias_mode = 0 if bias is None else (1 if bias_axis == 0 else 2)
    b = _dummy(dtype) if bias is None else flat(bias)
    part = memory.workspace("gemm.splitk", (S * M * N,), dtype) if S > 1 else _dummy(dtype)
    grid = (-(-N // BN), -(-M // BM), S)
    kernel[grid, NT](A.data, B.data, C.data, b, part, M, N, K,
                     A.rs, A.cs, A.P, A.ns, bool(A.grows), A.cs == 1,
                     B.rs, B.cs, B.P, B.ns, bool(B.grows), B.cs == 1,
                     C.rs, C.cs, C.P, C.ns, bool(C.grows),
                     bias_mode, k_chunk, S > 1)
    if S > 1:
        _splitk_reduce[grid1d(M * N)](part, S, M, N, C.data, b, bias_mode,
                                      C.rs, C.cs, C.P, C.ns, bool(C.grows))
