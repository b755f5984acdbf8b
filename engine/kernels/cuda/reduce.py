"""Sums on the GPU: the block-wide tree sum every reducing kernel ends with
(``block_sum``), and per-channel sums over (N, L) of an (N, C, L) array (bias gradients,
batch-norm statistics).

Per-channel sums take two deterministic stages, no atomics: a (S, C) grid of blocks each tree-reduces one slice
of one channel into ``partials[c, s]``, then one thread per channel adds its S partials
in order. S is chosen so the first stage has a few blocks per SM even when C is small.

``channel_sums(a, b, mode)`` returns device arrays (s1, s2) of shape (C, S):
  mode 0: s1 = sum (a - a[n=0, c, l=0]), s2 = sum (a - shift)^2   (shifted moments)
  mode 1: s1 = sum a,                    s2 = sum a * b
  mode 2: s1 = sum a                                              (s2 untouched)
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import cuda, from_dtype

from . import memory
from .runtime import RED_THREADS, grid1d, inline_device, sm_count
from .tensor import fill


@inline_device
def block_sum(sh, t):
    """Sums each row of the shared array ``sh`` (R, W), W a power of two, into sh[r, 0] by
    a tree over the block's threads (thread ``t`` adds at each level while t < width),
    with a barrier before it and after every level: every thread of the block calls it."""
    cuda.syncthreads()
    w = sh.shape[1] // 2
    while w > 0:
        if t < w:
            for r in range(sh.shape[0]):
                sh[r, t] += sh[r, t + w]
        cuda.syncthreads()
        w //= 2


@lru_cache(maxsize=None)
def _make_partials(dtype):
    dt = from_dtype(np.dtype(dtype))
    RT = RED_THREADS

    @cuda.jit(fastmath=True)
    def partials(a, b, mode, N, C, L, S, chunk, out1, out2):
        s = cuda.blockIdx.x
        c = cuda.blockIdx.y
        t = cuda.threadIdx.x
        M = N * L
        e0 = s * chunk
        e1 = min(M, e0 + chunk)
        shift = a[c * L] if mode == 0 else dt(0)
        acc1 = dt(0)
        acc2 = dt(0)
        for e in range(e0 + t, e1, RT):
            n = e // L
            idx = (n * C + c) * L + (e - n * L)
            v = a[idx]
            if mode == 0:
                d = v - shift
                acc1 += d
                acc2 += d * d
            elif mode == 1:
                acc1 += v
                acc2 += v * b[idx]
            else:
                acc1 += v
        sh = cuda.shared.array((2, RT), dt)
        sh[0, t] = acc1
        sh[1, t] = acc2
        block_sum(sh, t)
        if t == 0:
            out1[c * S + s] = sh[0, 0]
            if mode != 2:
                out2[c * S + s] = sh[1, 0]

    return partials


@cuda.jit(fastmath=True)
def _sum_partials(p, C, S, out):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for c in range(start, C, step):
        v = p[c * S]
        for s in range(1, S):
            v += p[c * S + s]
        out[c] = v


def choose_slices(C: int, M: int) -> int:
    """Blocks per channel: about four blocks per SM in all, each slice >= 4 items/thread."""
    target = 4 * sm_count()
    s = max(1, -(-target // max(C, 1)))
    return int(max(1, min(s, M // (RED_THREADS * 4) if M >= RED_THREADS * 4 else 1, 4096)))


def channel_sums(a, N: int, C: int, L: int, mode: int, b=None, slices: int | None = None):
    """Stage one: (s1, s2) partial sums, each (C, S) flat device arrays; see module doc."""
    M = N * L
    S = choose_slices(C, M) if slices is None else max(1, int(slices))
    chunk = -(-M // S) if M else 1
    S = max(1, -(-M // chunk)) if M else 1
    s1 = memory.workspace("reduce.s1", (C * S,), a.dtype)
    s2 = memory.workspace("reduce.s2", (C * S,), a.dtype)
    kernel = _make_partials(np.dtype(a.dtype).type)
    kernel[(S, C), RED_THREADS](a, a if b is None else b, mode, N, C, L, S, chunk, s1, s2)
    return s1, s2, S


def channel_sum(a, N: int, C: int, L: int, slices: int | None = None):
    """sum over n, l of a (N, C, L) -> new device array (C,)."""
    out = memory.empty((C,), a.dtype, "a channel sum")
    if C == 0:
        return out
    if N * L == 0:
        fill(out, 0)
        return out
    s1, _, S = channel_sums(a, N, C, L, 2, slices=slices)
    _sum_partials[grid1d(C)](s1, C, S, out)
    return out

