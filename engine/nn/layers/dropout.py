"""Dropout(p) and Dropout2d(p), as torch.nn: inverted dropout in training, identity in eval."""
from __future__ import annotations

from ...autograd import random
from .. import functional as F
from ..module import Module
from ._args import probability


class _DropoutBase(Module):
    """The mask comes from a counter-based hash of (seed, call count, element index), so
    the CPU and the GPU draw the same masks and a resumed run repeats them."""

    def __init__(self, p=0.5, inplace: bool = False):
        super().__init__()
        self.p = probability("p", p, type(self).__name__)
        self.seed = int(random.generator().integers(0, 2**31))
        self.calls = 0

    def config(self):
        return dict(p=self.p)

    def get_rng_state(self):
        return [self.seed, self.calls]

    def set_rng_state(self, state):
        self.seed, self.calls = int(state[0]), int(state[1])

    def _next_seed(self) -> int:
        self.calls += 1
        return (self.seed * 1000003 + self.calls - 1) % 2**32


class Dropout(_DropoutBase):
    """Zeroes each element with probability p and scales the rest by 1/(1-p)."""

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        return F.dropout(x, self.p, True, seed=self._next_seed())


class Dropout2d(_DropoutBase):
    """Zeroes whole channels of (N, C, H, W) with probability p, scaling the rest by 1/(1-p)."""

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        return F.dropout2d(x, self.p, True, seed=self._next_seed())
