"""Element-wise activations on the CPU, forward and backward, over arrays of any shape.

relu: y = max(x, 0);            dx = dy * (y > 0)
leaky_relu: y = x if x > 0 else a*x; dx = dy * (1 if x > 0 else a)
sigmoid: y = 1 / (1 + e^-x);     dx = dy * y * (1 - y)
tanh: y = tanh(x);               dx = dy * (1 - y^2)
"""
from __future__ import annotations

import numpy as np

from .. import contracts
from ..checks import NUMPY
from . import vmath
from .parallel import kernel, parallel_for
from .vmath import NAN_PRESERVING


# Every kernel first cuts its block [lo, hi) out of the flat arrays, then indexes from 0:
# Numba gives an index it cannot prove non-negative (i in range(lo, hi)) a wraparound
# branch, and that branch stops LLVM vectorising the loop (ReLU's backward ran 27x slower).

@kernel(fastmath=NAN_PRESERVING)
def _relu(x, y, lo, hi):
    x, y = x[lo:hi], y[lo:hi]
    zero = y.dtype.type(0)
    for i in range(x.size):
        v = x[i]
        y[i] = zero if v <= zero else v


@kernel
def _relu_bwd(y, g, dx, lo, hi):
    y, g, dx = y[lo:hi], g[lo:hi], dx[lo:hi]
    zero = dx.dtype.type(0)
    for i in range(y.size):
        dx[i] = g[i] if y[i] > zero else zero


@kernel
def _leaky(x, slope, y, lo, hi):
    x, y = x[lo:hi], y[lo:hi]
    for i in range(x.size):
        v = x[i]
        y[i] = v if v > 0 else v * slope


@kernel
def _leaky_bwd(x, g, slope, dx, lo, hi):
    x, g, dx = x[lo:hi], g[lo:hi], dx[lo:hi]
    for i in range(x.size):
        dx[i] = g[i] if x[i] > 0 else g[i] * slope


@kernel(fastmath=NAN_PRESERVING)
def _sigmoid(x, y, lo, hi):  # vectorised in float32 (vmath)
    x, y = x[lo:hi], y[lo:hi]
    for i in range(x.size):
        y[i] = vmath.sigmoid(x[i])


@kernel
def _sigmoid_bwd(y, g, dx, lo, hi):
    y, g, dx = y[lo:hi], g[lo:hi], dx[lo:hi]
    for i in range(y.size):
        dx[i] = g[i] * y[i] * (1 - y[i])


@kernel(fastmath=NAN_PRESERVING)
def _tanh(x, y, lo, hi):
    x, y = x[lo:hi], y[lo:hi]
    for i in range(x.size):
        y[i] = vmath.tanh(x[i])


@kernel
def _tanh_bwd(y, g, dx, lo, hi):
    y, g, dx = y[lo:hi], g[lo:hi], dx[lo:hi]
    for i in range(y.size):
        dx[i] = g[i] * (1 - y[i] * y[i])


def _flat(a):
    return np.ascontiguousarray(a).reshape(-1)


def _empty(a):
    """A C-contiguous result of a's shape and dtype (np.empty_like would copy a's memory
    order, and reshape(-1) of a non-C-ordered array is a copy the kernel's writes miss)."""
    return np.empty(a.shape, a.dtype)


def _unary(kernel, x, *args):
    y = _empty(x)
    parallel_for(kernel, x.size, _flat(x), *args, y.reshape(-1))
    return y


def _backward(kernel, saved, grad_y, *args):
    dx = _empty(saved)
    parallel_for(kernel, saved.size, _flat(saved), _flat(grad_y), *args, dx.reshape(-1))
    return dx


def relu_forward(x):
    contracts.unary(NUMPY, "relu_forward", x)
    return _unary(_relu, x)


def relu_backward(y, grad_y):
    contracts.unary_backward(NUMPY, "relu_backward", "y", y, grad_y)
    return _backward(_relu_bwd, y, grad_y)


def leaky_relu_forward(x, negative_slope):
    contracts.unary(NUMPY, "leaky_relu_forward", x)
    contracts.leaky_relu(NUMPY, "leaky_relu_forward", negative_slope)
    return _unary(_leaky, x, x.dtype.type(negative_slope))


def leaky_relu_backward(x, grad_y, negative_slope):
    contracts.unary_backward(NUMPY, "leaky_relu_backward", "x", x, grad_y)
    contracts.leaky_relu(NUMPY, "leaky_relu_backward", negative_slope)
    return _backward(_leaky_bwd, x, grad_y, x.dtype.type(negative_slope))


def sigmoid_forward(x):
    contracts.unary(NUMPY, "sigmoid_forward", x)
    return _unary(_sigmoid, x)


def sigmoid_backward(y, grad_y):
    contracts.unary_backward(NUMPY, "sigmoid_backward", "y", y, grad_y)
    return _backward(_sigmoid_bwd, y, grad_y)


def tanh_forward(x):
    contracts.unary(NUMPY, "tanh_forward", x)
    return _unary(_tanh, x)


def tanh_backward(y, grad_y):
    contracts.unary_backward(NUMPY, "tanh_backward", "y", y, grad_y)
    return _backward(_tanh_bwd, y, grad_y)
