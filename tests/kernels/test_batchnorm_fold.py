"""batchnorm_fold on every kernel set: a layer's weight and bias followed by an eval-mode
batch norm, folded into one layer, equal the two run one after the other."""
import numpy as np
import pytest

from engine.errors import ShapeError


def _params(rng, o=5, c=3, k=3):
    w = rng.standard_normal((o, c, k, k)).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32)
    gamma, beta, mean = (rng.standard_normal(o).astype(np.float32) for _ in range(3))
    var = rng.uniform(0.1, 2.0, o).astype(np.float32)
    return w, b, gamma, beta, mean, var


@pytest.mark.parametrize("with_bias", [True, False])
def test_fold_is_the_batch_norm_formula(ops, with_bias):
    rng = np.random.default_rng(0)
    w, b, gamma, beta, mean, var = _params(rng)
    eps = 1e-3
    w2, b2 = ops.batchnorm_fold(*(ops.asarray(a) for a in (w,)), ops.asarray(b) if with_bias else None,
                                *(ops.asarray(a) for a in (gamma, beta, mean, var)), eps)
    s = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
    bias = b.astype(np.float64) if with_bias else 0.0
    np.testing.assert_allclose(ops.to_host(w2), w * s[:, None, None, None], rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(ops.to_host(b2), (bias - mean) * s + beta, rtol=2e-6, atol=1e-6)
    assert ops.to_host(w2).dtype == np.float32 and ops.to_host(w2).shape == w.shape


def test_folded_convolution_equals_convolution_then_batch_norm(ops):
    rng = np.random.default_rng(1)
    w, b, gamma, beta, mean, var = (ops.asarray(a) for a in _params(rng, o=4, c=2))
    x = ops.asarray(rng.standard_normal((2, 2, 7, 7)).astype(np.float32))
    y, _ = ops.batchnorm_forward_eval(ops.conv2d_forward(x, w, b, (1, 1), (1, 1)), gamma, beta, mean, var, 1e-5)
    w2, b2 = ops.batchnorm_fold(w, b, gamma, beta, mean, var, 1e-5)
    folded = ops.conv2d_forward(x, w2, b2, (1, 1), (1, 1))
    np.testing.assert_allclose(ops.to_host(folded), ops.to_host(y), rtol=1e-4, atol=1e-4)


def test_a_linear_layers_weight_folds_too(ops):
    rng = np.random.default_rng(2)
    w = rng.standard_normal((6, 10)).astype(np.float32)
    ones, zeros = np.ones(6, np.float32), np.zeros(6, np.float32)
    w2, b2 = ops.batchnorm_fold(ops.asarray(w), None, ops.asarray(ones), ops.asarray(zeros), ops.asarray(zeros),
                                ops.asarray(ones), 0.0)
    np.testing.assert_array_equal(ops.to_host(w2), w)
    np.testing.assert_array_equal(ops.to_host(b2), zeros)


@pytest.mark.parametrize("change, message", [
    ({"gamma": np.ones(4, np.float32)}, "batchnorm_fold: gamma has shape (4,); it must be (5,)"),
    ({"b": np.ones(5, np.float64)}, "batchnorm_fold: b has dtype float64"),
    ({"w": np.ones(5, np.float32)}, "batchnorm_fold: w has shape (5,); it must be (O, ...)"),
    ({"eps": -1.0}, "batchnorm_fold: eps is -1.0; it must be >= 0"),
])
def test_bad_arguments_are_one_sentence(ops, change, message):
    w, b, gamma, beta, mean, var = _params(np.random.default_rng(3))
    args = dict(w=w, b=b, gamma=gamma, beta=beta, running_mean=mean, running_var=var, eps=1e-5)
    args.update(change)
    args = {k: ops.asarray(v) if isinstance(v, np.ndarray) else v for k, v in args.items()}
    with pytest.raises(ShapeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ops.batchnorm_fold(**args)
