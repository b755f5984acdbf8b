"""Every backward kernel of every kernel set (the ``ops`` fixture) against central
differences in float64 (engine.nn.gradcheck), through the layers and functions that call
them: a small net (convolution, batch norm, ReLU, max pooling, fully connected), the other
pools, local response norm, the activations and the losses. (The forward kernels and every
element of each gradient against the numpy reference: test_conv.py, test_pool.py, ...)"""
import numpy as np
from helpers.cuda import big

from engine import manual_seed, nn
from engine.nn import functional as F
from engine.nn.gradcheck import gradcheck


def test_a_small_net(ops):
    manual_seed(2)
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(12, 2)).double().to(ops.DEVICE)
    x = np.random.default_rng(5).standard_normal((2, 2, 4, 4))
    report = gradcheck(net, ops.asarray(x), max_elements=big(3, 20), atol=1e-6, rtol=1e-4)
    assert report, str(report)


def _pools_and_lrn(t):
    """Average pooling, local response norm, then adaptive average pooling: one check runs
    the three backward kernels."""
    return F.adaptive_avg_pool2d(F.local_response_norm(F.avg_pool2d(t, 3, 2, 1), 3, 0.5, 0.75, 1.5), (2, 2))


def test_the_other_pools_and_local_response_norm(ops):
    x = np.random.default_rng(4).standard_normal((1, 3, 5, 6))
    report = gradcheck(_pools_and_lrn, ops.asarray(x), max_elements=4)
    assert report, str(report)


def _all_four(t):
    """relu + leaky_relu + sigmoid + tanh of t: one check runs every activation's backward kernel."""
    return F.relu(t) + F.leaky_relu(t, 0.1) + F.sigmoid(t) + F.tanh(t)


def test_the_activations(ops):
    x = np.random.default_rng(3).standard_normal((2, 6)) * 2
    x[np.abs(x) < 0.01] = 0.5                 # away from ReLU's kink
    report = gradcheck(_all_four, ops.asarray(x), max_elements=2)
    assert report, str(report)


def test_the_losses(ops):
    x = ops.asarray(np.random.default_rng(8).standard_normal((4, 5)))
    target = ops.asarray(np.array([0, 2, 1, 0], np.int64))
    report = gradcheck(nn.CrossEntropyLoss(label_smoothing=0.1).to(ops.DEVICE), x, target=target, max_elements=2)
    assert report, str(report)
    report = gradcheck(nn.MSELoss().to(ops.DEVICE), x, target=ops.asarray(np.random.default_rng(9).standard_normal(
        (4, 5))), max_elements=2)
    assert report, str(report)
