"""Normalisation kernels of every kernel set (the ``ops`` fixture): batch norm in training
and eval mode (with its fused ReLU epilogue and ReLU-masked backward, and the residual
join in its output pass) and local response
normalisation, against the numpy reference. (Against central differences:
test_backward_gradcheck.py.)"""
import numpy as np
import pytest
from helpers import kernel_reference as ref
from helpers.cuda import big


EPS, MOMENTUM = 1e-5, 0.1


def _randn(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _stats(c, seed=7):
    """Running mean and variance (positive) of ``c`` channels."""
    return _randn(c, seed), np.abs(_randn(c, seed + 1)) + 0.5


@pytest.mark.parametrize("shape", big([(3, 4, 3, 5), (5, 3)], [(64, 32, 16, 16), (128, 256), (8, 7, 3, 2)]))
def test_batch_norm_in_training(ops, shape):
    C = shape[1]
    x = _randn(shape, 0) * 2 + 3          # offset data: the shifted moments must cope
    gamma, beta = _randn(C, 1), _randn(C, 2)
    rm, rv = _stats(C)
    d_rm, d_rv = ops.asarray(rm.copy()), ops.asarray(rv.copy())      # updated in place (on the CPU: these)
    y, cache = ops.batchnorm_forward_train(ops.asarray(x), ops.asarray(gamma), ops.asarray(beta), d_rm, d_rv,
                                           MOMENTUM, EPS)
    want, want_rm, want_rv = ref.batchnorm_train(x, gamma, beta, rm, rv, MOMENTUM, EPS)
    np.testing.assert_allclose(ops.to_host(y), want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ops.to_host(d_rm), want_rm, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ops.to_host(d_rv), want_rv, rtol=1e-4, atol=1e-5)
    g = _randn(shape, 3)
    for got, r, what in zip(ops.batchnorm_backward(ops.asarray(g), ops.asarray(gamma), cache),
                            ref.batchnorm_train_backward(x, gamma, g, EPS), ("dx", "dgamma", "dbeta")):
        np.testing.assert_allclose(ops.to_host(got), r, rtol=1e-3, atol=1e-3, err_msg=what)


@pytest.mark.parametrize("shape", big([(2, 3, 2, 3), (4, 3)], [(64, 32, 16, 16), (128, 256)]))
def test_batch_norm_in_eval_mode(ops, shape):
    C = shape[1]
    x, gamma, beta = _randn(shape, 0), _randn(C, 1), _randn(C, 2)
    rm, rv = _stats(C)
    y, cache = ops.batchnorm_forward_eval(ops.asarray(x), ops.asarray(gamma), ops.asarray(beta), ops.asarray(rm),
                                          ops.asarray(rv), EPS)
    np.testing.assert_allclose(ops.to_host(y), ref.batchnorm_eval(x, gamma, beta, rm, rv, EPS), rtol=1e-4, atol=1e-4)
    g = _randn(shape, 3)
    for got, r, what in zip(ops.batchnorm_backward(ops.asarray(g), ops.asarray(gamma), cache),
                            ref.batchnorm_eval_backward(x, gamma, rm, rv, g, EPS), ("dx", "dgamma", "dbeta")):
        np.testing.assert_allclose(ops.to_host(got), r, rtol=1e-4, atol=1e-4, err_msg=what)


@pytest.mark.parametrize("train", [True, False])
def test_the_relu_epilogue_and_the_relu_masked_backward(ops, train):
    shape, C = (3, 4, 3, 5), 4
    x, gamma, beta, g = _randn(shape, 0), _randn(C, 1), _randn(C, 2), _randn(shape, 3)
    rm, rv = np.zeros(C, np.float32), np.ones(C, np.float32)
    args = [ops.asarray(a) for a in (x, gamma, beta, rm, rv)]
    if train:
        y, cache = ops.batchnorm_forward_train(*args, MOMENTUM, EPS, relu=True)
        want = ref.batchnorm_train(x, gamma, beta, rm, rv, MOMENTUM, EPS)[0]
        dx, dgamma, dbeta = ref.batchnorm_train_backward(x, gamma, np.where(want > 0, g, 0), EPS)
    else:
        y, cache = ops.batchnorm_forward_eval(*args, EPS)
        y = ops.relu_forward(y)
        want = ref.batchnorm_eval(x, gamma, beta, rm, rv, EPS)
        dx, dgamma, dbeta = ref.batchnorm_eval_backward(x, gamma, rm, rv, np.where(want > 0, g, 0), EPS)
    want = np.maximum(want, 0)
    assert (want == 0).any() and (want > 0).any()
    np.testing.assert_allclose(ops.to_host(y), want, rtol=1e-4, atol=1e-4)
    for got, r, what in zip(ops.batchnorm_backward(ops.asarray(g), ops.asarray(gamma), cache, relu_y=y),
                            (dx, dgamma, dbeta), ("dx", "dgamma", "dbeta")):
        np.testing.assert_allclose(ops.to_host(got), r, rtol=1e-3, atol=1e-4, err_msg=what)


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("shape", [(3, 4, 3, 5), (5, 3)])
def test_the_residual_join_in_the_norms_pass(ops, shape, relu):
    # y = [max(., 0) of] the norm + residual: on the CPU bit for bit the norm, then the add
    # kernel (the norm's output rounded first); the statistics move as without it
    C = shape[1]
    x, gamma, beta, r = _randn(shape, 0) * 2 + 3, _randn(C, 1), _randn(C, 2), _randn(shape, 4)
    rm, rv = _stats(C)
    d_rm, d_rv = ops.asarray(rm.copy()), ops.asarray(rv.copy())
    args = [ops.asarray(a) for a in (x, gamma, beta)]
    y, _ = ops.batchnorm_forward_train(*args, d_rm, d_rv, MOMENTUM, EPS, relu=relu, residual=ops.asarray(r))
    plain, _ = ops.batchnorm_forward_train(*args, ops.asarray(rm.copy()), ops.asarray(rv.copy()), MOMENTUM, EPS)
    joined = ops.to_host(ops.add(plain, ops.asarray(r), relu=relu))
    if relu:
        assert (joined == 0).any() and (joined > 0).any()
    if ops.__name__.endswith("cpu"):
        np.testing.assert_array_equal(ops.to_host(y), joined)
    np.testing.assert_allclose(ops.to_host(y), joined, rtol=1e-6, atol=1e-6)
    want, want_rm, want_rv = ref.batchnorm_train(x, gamma, beta, rm, rv, MOMENTUM, EPS)
    np.testing.assert_allclose(ops.to_host(y), np.maximum(want + r, 0) if relu else want + r, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ops.to_host(d_rm), want_rm, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ops.to_host(d_rv), want_rv, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("size", [3, 4])
def test_local_response_norm(ops, size):
    shape = big((2, 5, 2, 3), (16, 64, 8, 8))
    x, g = _randn(shape, 0), _randn(shape, 1)
    y, s = ops.lrn_forward(ops.asarray(x), size, 1e-2, 0.75, 2.0)
    want, dx = ref.lrn(x, size, 1e-2, 0.75, 2.0, g)
    np.testing.assert_allclose(ops.to_host(y), want, rtol=1e-5, atol=1e-5)
    got = ops.lrn_backward(ops.asarray(x), y, s, ops.asarray(g), size, 1e-2, 0.75)
    np.testing.assert_allclose(ops.to_host(got), dx, rtol=1e-5, atol=1e-5)
