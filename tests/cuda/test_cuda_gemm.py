"""The tiled SGEMM in every operand layout the engine uses, against numpy."""
import numpy as np
import pytest
from helpers.cuda import SIM, assert_close, big, randn, up

from engine.kernels.cuda import gemm as G


def _nchw_as_matrix(a):
    """(N, R, P) -> the R x (N*P) matrix the grouped view describes."""
    N, R, P = a.shape
    return a.transpose(1, 0, 2).reshape(R, N * P)


@pytest.mark.parametrize("M,N,K", [(5, 7, 9), (13, 40, 17)] + ([] if SIM else [(300, 257, 1000)]))
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_dense_layouts_and_bias(rng, M, N, K, ta, tb):
    a = randn(rng, K, M) if ta else randn(rng, M, K)
    b = randn(rng, N, K) if tb else randn(rng, K, N)
    bias_n = randn(rng, N)
    A = G.dense_t(up(a), M, K) if ta else G.dense(up(a), M, K)
    B = G.dense_t(up(b), K, N) if tb else G.dense(up(b), K, N)
    c = G.memory.empty((M, N))
    G.gemm(A, B, G.dense(c, M, N), M, N, K, bias=up(bias_n), bias_axis=1)
    want = (a.T if ta else a) @ (b.T if tb else b) + bias_n
    assert_close(c, want.astype(np.float32), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("splits", [1, 2, 3])
def test_grouped_operands_and_split_k(rng, splits):
    """C grouped (conv forward), A grouped (dW), B grouped by rows (1x1 dW): one product each."""
    Nimg, R, P, K = 2, 5, 6, 7
    g = randn(rng, Nimg, R, P)                     # NCHW-like (N, R, P)
    Gm = _nchw_as_matrix(g)                        # R x (N*P)
    w = randn(rng, R, K)
    bias = randn(rng, R)
    # C grouped: y (N, R, P) = W^T?  use C = w (R, K) @ X (K, N*P) with bias per row
    x = randn(rng, K, Nimg * P)
    y = G.memory.empty((Nimg, R, P))
    G.gemm(G.dense(up(w), R, K), G.dense(up(x), K, Nimg * P), G.grouped(y, R, P), R, Nimg * P, K,
           bias=up(bias), bias_axis=0, splits=splits)
    want = (w @ x + bias[:, None]).reshape(R, Nimg, P).transpose(1, 0, 2)
    assert_close(y, want, atol=1e-4)
    # A grouped (columns), B = its own transpose grouped by rows: G @ G^T
    c = G.memory.empty((R, R))
    gm = G.grouped(up(g), R, P)
    G.gemm(gm, gm.T, G.dense(c, R, R), R, R, Nimg * P, splits=splits)
    assert_close(c, Gm @ Gm.T, atol=1e-4)


def test_gpu_tile_under_any_backend(rng):
    """The 128x128x8 GPU tile (256 threads) on a small product with ragged edges."""
    M, N, K = 9, 11, 19
    a, b = randn(rng, M, K), randn(rng, K, N)
    c = G.memory.empty((M, N))
    G.gemm(G.dense(up(a), M, K), G.dense(up(b), K, N), G.dense(c, M, N), M, N, K, tile=G.GPU_TILE)
    assert_close(c, a @ b, atol=1e-4)


def test_choose_splits_bounds():
    assert G.choose_splits(4096, 4096, 100000) == 1           # the output tiles alone fill the GPU
    s = G.choose_splits(64, 576, big(4096, 131072))
    assert 1 <= s <= 64
