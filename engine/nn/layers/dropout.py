"""Dropout(p), as torch.nn.Dropout: inverted dropout in training, identity in eval."""
from __future__ import annotations

from .. import init
from ..module import Module
from ._args import probability


class Dropout(Module):
    """Zeroes each element with probability p and scales the rest by 1/(1-p).

    The mask comes from a counter-based hash of (seed, call count, element index),
    so the CPU and the GPU draw the same masks and a resumed run repeats them."""

    def __init__(self, p=0.5):
        super().__init__()
        self.p = probability("p", p, "Dropout")
        self.seed = int(init.generator().integers(0, 2**31))
        self.calls = 0

    def config(self):
        return dict(p=self.p)

    def get_rng_state(self):
        return [self.seed, self.calls]

    def set_rng_state(self, state):
        self.seed, self.calls = int(state[0]), int(state[1])

    def forward(self, x):
        if not self.training or self.p == 0:
            self._mask = None
            return x
        y, self._mask = self.ops.dropout_forward(x, self.p, (self.seed * 1000003 + self.calls) % 2**32)
        self.calls += 1
        return y

    def backward(self, grad_y):
        return grad_y if self._mask is None else self.ops.dropout_backward(grad_y, self._mask)
