"""Non-finite values pass through the activations, as in torch, so divergence stays visible."""
import numpy as np

from engine import nn


def test_relu_keeps_nan_and_inf():
    x = np.array([[np.nan, -1.0, 2.0, np.inf, -np.inf]], np.float32)
    y = nn.ReLU()(x)
    assert np.isnan(y[0, 0])
    np.testing.assert_array_equal(y[0, 1:], [0.0, 2.0, np.inf, 0.0])
