"""Batch norm (training and eval) and LRN: CUDA vs CPU."""
import numpy as np
import pytest
from helpers.cuda import assert_close, big, randn, up


@pytest.mark.parametrize("shape", big([(3, 4, 3, 5), (5, 3)], [(64, 32, 16, 16), (128, 256), (8, 7, 3, 2)]))
def test_batchnorm_train(gpu, cpu, rng, shape):
    C = shape[1]
    x = randn(rng, *shape) * 2 + 3          # offset data: the shifted moments must cope
    gamma, beta = randn(rng, C), randn(rng, C)
    rm, rv = randn(rng, C), np.abs(randn(rng, C)) + 0.5
    d_rm, d_rv = up(rm), up(rv)
    y_c, cache_c = cpu.batchnorm_forward_train(x, gamma, beta, rm, rv, 0.1, 1e-5)
    y_g, cache_g = gpu.batchnorm_forward_train(up(x), up(gamma), up(beta), d_rm, d_rv, 0.1, 1e-5)
    assert_close(y_g, y_c, rtol=1e-4, atol=1e-4, what="y")
    assert_close(d_rm, rm, rtol=1e-5, atol=1e-5, what="running_mean")
    assert_close(d_rv, rv, rtol=1e-4, atol=1e-5, what="running_var")
    g = randn(rng, *shape)
    dx_c, dg_c, db_c = cpu.batchnorm_backward(g, gamma, cache_c)
    dx_g, dg_g, db_g = gpu.batchnorm_backward(up(g), up(gamma), cache_g)
    assert_close(dx_g, dx_c, rtol=1e-3, atol=1e-4, what="dx")
    assert_close(dg_g, dg_c, rtol=1e-4, atol=1e-3, what="dgamma")
    assert_close(db_g, db_c, rtol=1e-4, atol=1e-3, what="dbeta")


def test_batchnorm_train_relu_epilogue(gpu, cpu, rng):
    x, gamma, beta = randn(rng, 3, 4, 3, 5), randn(rng, 4), randn(rng, 4)
    stats = lambda: (np.zeros(4, np.float32), np.ones(4, np.float32))  # noqa: E731
    y, _ = cpu.batchnorm_forward_train(x, gamma, beta, *stats(), 0.1, 1e-5, relu=True)
    plain, _ = cpu.batchnorm_forward_train(x, gamma, beta, *stats(), 0.1, 1e-5)
    assert (y == 0).any() and np.array_equal(y, np.maximum(plain, 0))
    d_rm, d_rv = (up(a) for a in stats())
    assert_close(gpu.batchnorm_forward_train(up(x), up(gamma), up(beta), d_rm, d_rv, 0.1, 1e-5, relu=True)[0],
                 y, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("train", [True, False])
def test_batchnorm_backward_with_relu_mask(gpu, cpu, rng, train):
    x, gamma, beta, g = randn(rng, 3, 4, 3, 5), randn(rng, 4), randn(rng, 4), randn(rng, 3, 4, 3, 5)
    rm, rv = np.zeros(4, np.float32), np.ones(4, np.float32)
    if train:
        y, cache = cpu.batchnorm_forward_train(x, gamma, beta, rm.copy(), rv.copy(), 0.1, 1e-5, relu=True)
        y_g, cache_g = gpu.batchnorm_forward_train(up(x), up(gamma), up(beta), up(rm), up(rv), 0.1, 1e-5, relu=True)
    else:
        y, cache = cpu.batchnorm_forward_eval(x, gamma, beta, rm, rv, 1e-5)
        y_g, cache_g = gpu.batchnorm_forward_eval(up(x), up(gamma), up(beta), up(rm), up(rv), 1e-5)
        y, y_g = cpu.relu_forward(y), gpu.relu_forward(y_g)
    fused = cpu.batchnorm_backward(g, gamma, cache, relu_y=y)
    apart = cpu.batchnorm_backward(cpu.relu_backward(y, g), gamma, cache)
    for a, b in zip(fused, apart):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    for a, b in zip(gpu.batchnorm_backward(up(g), up(gamma), cache_g, relu_y=y_g), fused):
        assert_close(a, b, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("shape", big([(2, 3, 2, 3), (4, 3)], [(64, 32, 16, 16), (128, 256)]))
def test_batchnorm_eval(gpu, cpu, rng, shape):
    C = shape[1]
    x = randn(rng, *shape)
    gamma, beta = randn(rng, C), randn(rng, C)
    rm, rv = randn(rng, C), np.abs(randn(rng, C)) + 0.5
    y_c, cache_c = cpu.batchnorm_forward_eval(x, gamma, beta, rm, rv, 1e-5)
    y_g, cache_g = gpu.batchnorm_forward_eval(up(x), up(gamma), up(beta), up(rm), up(rv), 1e-5)
    assert_close(y_g, y_c, atol=1e-4)
    g = randn(rng, *shape)
    for got, want, what in zip(gpu.batchnorm_backward(up(g), up(gamma), cache_g),
                               cpu.batchnorm_backward(g, gamma, cache_c), ("dx", "dgamma", "dbeta")):
        assert_close(got, want, rtol=1e-4, atol=1e-4, what=what)


@pytest.mark.parametrize("size", [3, 4])
def test_lrn(gpu, cpu, rng, size):
    x = randn(rng, *big((2, 5, 2, 3), (16, 64, 8, 8)))
    y_c, s_c = cpu.lrn_forward(x, size, 1e-2, 0.75, 2.0)
    y_g, s_g = gpu.lrn_forward(up(x), size, 1e-2, 0.75, 2.0)
    assert_close(y_g, y_c, atol=1e-5)
    g = randn(rng, *x.shape)
    assert_close(gpu.lrn_backward(up(x), y_g, s_g, up(g), size, 1e-2, 0.75),
                 cpu.lrn_backward(x, y_c, s_c, g, size, 1e-2, 0.75), atol=1e-5)
