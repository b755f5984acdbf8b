"""Every engine.nn.functional function's forward and backward against
torch.nn.functional (float32: output, dtype and every input gradient) and against
central differences (float64). Weights are inputs like any other, so their gradients
are compared too. Each case is written once and run by both libraries."""
import numpy as np
import pytest
from helpers.autograd_parity import OURS, assert_close, distinct, gradchecks, parity, torch_ns

import engine
from engine.nn import functional as F


def _stats(ns, x, mean, var):
    """Running statistics as tensors of x's dtype, fresh for each call."""
    return ns.torch.tensor(mean, dtype=x.dtype), ns.torch.tensor(var, dtype=x.dtype)


def _bn_eval(ns, x, w, b):
    rm, rv = _stats(ns, x, [0.1, -0.2, 0.3], [0.5, 1.5, 2.0])
    return ns.F.batch_norm(x, rm, rv, w, b, training=False, eps=1e-3)


def _bn_train(ns, x, w, b):
    rm, rv = _stats(ns, x, [0.0, 0.0, 0.0], [1.0, 1.0, 1.0])
    return ns.F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.2)


def _target(ns):
    return ns.torch.tensor([1, 0, 3, 3])


X4 = (2, 3, 6, 5)   # a small (N, C, H, W)

# (id, fn(ns, *tensors), input shapes, positive inputs?)
CASES = [
    ("relu", lambda ns, x: ns.F.relu(x), [X4], False),
    ("relu_inplace_flag", lambda ns, x: ns.F.relu(x * 1, inplace=True), [X4], False),
    ("relu_method", lambda ns, x: x.relu(), [(3, 4)], False),
    ("leaky_relu", lambda ns, x: ns.F.leaky_relu(x, 0.2), [X4], False),
    ("leaky_relu_default", lambda ns, x: ns.F.leaky_relu(x), [(3, 4)], False),
    ("sigmoid", lambda ns, x: ns.F.sigmoid(x), [X4], False),
    ("sigmoid_method", lambda ns, x: x.sigmoid(), [(3, 4)], False),
    ("tanh", lambda ns, x: ns.F.tanh(x), [X4], False),
    ("torch_relu_sigmoid_tanh", lambda ns, x: ns.torch.relu(x) + ns.torch.sigmoid(x) * ns.torch.tanh(x), [X4],
     False),
    ("torch_softmax", lambda ns, x: ns.torch.softmax(x, 1) + ns.torch.log_softmax(x, dim=0), [(3, 5)], False),
    ("softmax", lambda ns, x: ns.F.softmax(x, dim=1), [(3, 5)], False),
    ("softmax_dim0", lambda ns, x: ns.F.softmax(x, 0), [(3, 5)], False),
    ("softmax_channels", lambda ns, x: ns.F.softmax(x, dim=1), [X4], False),
    ("log_softmax", lambda ns, x: ns.F.log_softmax(x, dim=1), [(3, 5)], False),
    ("log_softmax_last", lambda ns, x: ns.F.log_softmax(x, dim=-1), [(2, 3, 4)], False),
    ("log_softmax_method", lambda ns, x: x.log_softmax(1), [(3, 5)], False),
    # convolution: stride / padding variants, weights and bias as inputs
    ("conv2d", lambda ns, x, w, b: ns.F.conv2d(x, w, b), [X4, (4, 3, 3, 3), (4,)], False),
    ("conv2d_stride2_pad1", lambda ns, x, w, b: ns.F.conv2d(x, w, b, stride=2, padding=1),
     [X4, (4, 3, 3, 3), (4,)], False),
    ("conv2d_pairs", lambda ns, x, w, b: ns.F.conv2d(x, w, b, stride=(2, 1), padding=(1, 0)),
     [X4, (2, 3, 3, 2), (2,)], False),
    ("conv2d_no_bias", lambda ns, x, w: ns.F.conv2d(x, w, padding=2), [X4, (2, 3, 5, 5)], False),
    ("conv2d_1x1", lambda ns, x, w, b: ns.F.conv2d(x, w, b), [X4, (5, 3, 1, 1), (5,)], False),
    ("conv2d_same", lambda ns, x, w: ns.F.conv2d(x, w, padding="same"), [X4, (2, 3, 3, 3)], False),
    ("conv2d_valid", lambda ns, x, w: ns.F.conv2d(x, w, None, 1, "valid"), [X4, (2, 3, 3, 3)], False),
    ("conv2d_relu_pool", lambda ns, x, w, b: ns.F.max_pool2d(ns.F.relu(ns.F.conv2d(x, w, b, padding=1)), 2),
     [X4, (4, 3, 3, 3), (4,)], False),
    # linear
    ("linear", lambda ns, x, w, b: ns.F.linear(x, w, b), [(4, 6), (3, 6), (3,)], False),
    ("linear_no_bias", lambda ns, x, w: ns.F.linear(x, w), [(4, 6), (3, 6)], False),
    ("linear_3d", lambda ns, x, w, b: ns.F.linear(x, w, b), [(2, 4, 6), (3, 6), (3,)], False),
    # pooling
    ("max_pool2d", lambda ns, x: ns.F.max_pool2d(x, 2), [X4], False),
    ("max_pool2d_stride_pad", lambda ns, x: ns.F.max_pool2d(x, 3, stride=2, padding=1), [X4], False),
    ("max_pool2d_pairs", lambda ns, x: ns.F.max_pool2d(x, (2, 3), (1, 2)), [X4], False),
    ("avg_pool2d", lambda ns, x: ns.F.avg_pool2d(x, 2), [X4], False),
    ("avg_pool2d_pad", lambda ns, x: ns.F.avg_pool2d(x, 3, 2, 1), [X4], False),
    ("avg_pool2d_pad_exclude", lambda ns, x: ns.F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), [X4], False),
    ("adaptive_avg_pool2d_1", lambda ns, x: ns.F.adaptive_avg_pool2d(x, 1), [X4], False),
    ("adaptive_avg_pool2d_pair", lambda ns, x: ns.F.adaptive_avg_pool2d(x, (4, 3)), [X4], False),
    ("adaptive_avg_pool2d_none", lambda ns, x: ns.F.adaptive_avg_pool2d(x, (2, None)), [X4], False),
    # dropout where it is deterministic: p = 0, and evaluation
    ("dropout_p0", lambda ns, x: ns.F.dropout(x, 0.0), [X4], False),
    ("dropout_eval", lambda ns, x: ns.F.dropout(x, 0.5, training=False), [X4], False),
    ("dropout2d_eval", lambda ns, x: ns.F.dropout2d(x, 0.5, False), [X4], False),
    # normalisation
    ("batch_norm_eval", _bn_eval, [X4, (3,), (3,)], False),
    ("batch_norm_train", _bn_train, [X4, (3,), (3,)], False),
    ("batch_norm_train_2d", _bn_train, [(5, 3), (3,), (3,)], False),
    ("local_response_norm", lambda ns, x: ns.F.local_response_norm(x, 3), [(2, 5, 3, 4)], False),
    ("local_response_norm_args", lambda ns, x: ns.F.local_response_norm(x, 4, alpha=0.5, beta=0.6, k=1.5),
     [(2, 6, 3, 2)], False),
    # losses
    ("cross_entropy", lambda ns, z: ns.F.cross_entropy(z, _target(ns)), [(4, 5)], False),
    ("cross_entropy_smoothing", lambda ns, z: ns.F.cross_entropy(z, _target(ns), label_smoothing=0.1),
     [(4, 5)], False),
    ("cross_entropy_sum", lambda ns, z: ns.F.cross_entropy(z, _target(ns), reduction="sum"), [(4, 5)], False),
    ("cross_entropy_none", lambda ns, z: ns.F.cross_entropy(z, _target(ns), reduction="none"), [(4, 5)], False),
    ("cross_entropy_none_smoothing",
     lambda ns, z: ns.F.cross_entropy(z, _target(ns), reduction="none", label_smoothing=0.2), [(4, 5)], False),
    ("cross_entropy_sum_smoothing",
     lambda ns, z: ns.F.cross_entropy(z, _target(ns), reduction="sum", label_smoothing=0.3), [(4, 5)], False),
    ("cross_entropy_scaled", lambda ns, z: 3 * ns.F.cross_entropy(z, _target(ns)), [(4, 5)], False),
    ("nll_loss", lambda ns, z: ns.F.nll_loss(ns.F.log_softmax(z, 1), _target(ns)), [(4, 5)], False),
    ("nll_loss_sum", lambda ns, z: ns.F.nll_loss(z, _target(ns), reduction="sum"), [(4, 5)], False),
    ("nll_loss_none", lambda ns, z: ns.F.nll_loss(z, _target(ns), reduction="none"), [(4, 5)], False),
    ("mse_loss", lambda ns, y, t: ns.F.mse_loss(y, t), [(3, 4), (3, 4)], False),
    ("mse_loss_scaled", lambda ns, y, t: ns.F.mse_loss(y, t) * 2.5, [(3, 4), (3, 4)], False),
    ("mse_loss_sum", lambda ns, y, t: ns.F.mse_loss(y, t, reduction="sum"), [(3, 4), (3, 4)], False),
    ("mse_loss_none", lambda ns, y, t: ns.F.mse_loss(y, t, reduction="none"), [(3, 4), (3, 4)], False),
    # reshaping
    ("flatten", lambda ns, x: ns.torch.flatten(x, 1), [X4], False),
    ("F_flatten_via_view", lambda ns, x: x.view(x.size(0), -1), [X4], False),
    ("pad_last", lambda ns, x: ns.F.pad(x, (1, 2)), [X4], False),
    ("pad_last_two", lambda ns, x: ns.F.pad(x, (1, 1, 2, 0), value=0.5), [X4], False),
    ("pad_2d_input", lambda ns, x: ns.F.pad(x, [0, 1, 1, 0]), [(3, 4)], False),
]


def _inputs(rng, shapes, positive):
    return [distinct(rng, s, spacing=0.02, positive=positive) for s in shapes]


@pytest.mark.parametrize("name, fn, shapes, positive", CASES, ids=[c[0] for c in CASES])
def test_matches_torch(name, fn, shapes, positive, rng):
    pytest.importorskip("torch")
    parity(fn, *_inputs(rng, shapes, positive), rtol=1e-4)


@pytest.mark.parametrize("name, fn, shapes, positive", CASES, ids=[c[0] for c in CASES])
def test_gradcheck(name, fn, shapes, positive, rng):
    gradchecks(fn, *_inputs(rng, shapes, positive))


def test_batch_norm_updates_running_stats_as_torch(rng):
    """Training mode: running = (1 - momentum) running + momentum batch (unbiased var), in place."""
    pytest.importorskip("torch")
    x = distinct(rng, X4).astype(np.float32)
    stats = []
    for ns in (OURS, torch_ns()):
        rm, rv = _stats(ns, ns.torch.tensor(x), [0.5, 0.0, -0.5], [1.0, 2.0, 0.5])
        ns.F.batch_norm(ns.torch.tensor(x), rm, rv, training=True, momentum=0.3)
        stats.append((rm, rv))
    assert_close(stats[0][0], stats[1][0], what="running_mean")
    assert_close(stats[0][1], stats[1][1], what="running_var")


def test_dropout_training_scales_survivors_and_routes_gradient(rng):
    """Training dropout (random, so not compared with torch): every output is 0 or x/(1-p),
    about p of them 0, and the gradient is the same mask times the scale."""
    x = engine.tensor(distinct(rng, (4, 8, 8, 8)).astype(np.float32), requires_grad=True)
    y = F.dropout(x, 0.25, training=True)
    y.sum().backward()
    kept = y.numpy() != 0
    np.testing.assert_allclose(y.numpy()[kept], x.numpy()[kept] / 0.75, rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.75, rtol=1e-6)
    assert 0.2 < 1 - kept.mean() < 0.3


def test_dropout2d_training_drops_whole_channels(rng):
    x = engine.tensor(distinct(rng, (4, 16, 3, 3)).astype(np.float32), requires_grad=True)
    y = F.dropout2d(x, 0.5)
    (y * 2).sum().backward()
    kept = (y.numpy() != 0).reshape(4, 16, 9)
    assert (kept.all(axis=2) | ~kept.any(axis=2)).all(), "a channel was dropped in part"
    np.testing.assert_allclose(x.grad.numpy(), 4.0 * (y.numpy() != 0), rtol=1e-6)
