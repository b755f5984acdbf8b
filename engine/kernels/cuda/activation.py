"""Element-wise activations on the GPU, forward and backward (twin of cpu/activation.py).

relu: y = max(x, 0);            dx = dy * (y > 0)
leaky_relu: y = x if x > 0 else a*x; dx = dy * (1 if x > 0 else a)
sigmoid: y = 1 / (1 + e^-x);     dx = dy * y * (1 - y)
tanh: y = tanh(x);               dx = dy * (1 - y^2)
Grid-stride loops over the flat arrays; literals are float32 so float32 stays float32.
"""
from __future__ import annotations

from numba import cuda, float32

from .. import contracts
from . import memory
from .memory import flat
from .runtime import DEVICE, grid1d, kmath as math, scalar


@cuda.jit  # no fastmath: a NaN must pass through (as on the CPU and in torch), or a
def _relu(x, y):  # diverged run would look finite to the trainer's NaN guard
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, x.size, step):
        v = x[i]
        y[i] = float32(0) if v <= float32(0) else v


@cuda.jit(fastmath=True)
def _relu_bwd(y, g, dx):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, y.size, step):
        dx[i] = g[i] if y[i] > float32(0) else float32(0)


@cuda.jit(fastmath=True)
def _leaky(x, slope, y):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, x.size, step):
        v = x[i]
        y[i] = v if v > float32(0) else v * slope


@cuda.jit(fastmath=True)
def _leaky_bwd(x, g, slope, dx):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, x.size, step):
        dx[i] = g[i] if x[i] > float32(0) else g[i] * slope


@cuda.jit(fastmath=True)
def _sigmoid(x, y):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, x.size, step):
        v = x[i]
        if v >= float32(0):
            y[i] = float32(1) / (float32(1) + math.exp(-v))
        else:
            e = math.exp(v)
            y[i] = e / (float32(1) + e)


@cuda.jit(fastmath=True)
def _sigmoid_bwd(y, g, dx):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, y.size, step):
        dx[i] = g[i] * y[i] * (float32(1) - y[i])


@cuda.jit(fastmath=True)
def _tanh(x, y):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, x.size, step):
        y[i] = math.tanh(x[i])


@cuda.jit(fastmath=True)
def _tanh_bwd(y, g, dx):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, y.size, step):
        dx[i] = g[i] * (float32(1) - y[i] * y[i])


def _launch(kernel, like, *arrays_and_args):
    out = memory.empty(like.shape, like.dtype, "an activation")
    if out.size:
        kernel[grid1d(out.size)](*arrays_and_args, flat(out))
    return out


def relu_forward(x):
    contracts.unary(DEVICE, "relu_forward", x)
    return _launch(_relu, x, flat(x))


def relu_backward(y, grad_y):
    contracts.unary_backward(DEVICE, "relu_backward", "y", y, grad_y)
    return _launch(_relu_bwd, y, flat(y), flat(grad_y))


def leaky_relu_forward(x, negative_slope):
    contracts.unary(DEVICE, "leaky_relu_forward", x)
    contracts.leaky_relu(DEVICE, "leaky_relu_forward", negative_slope)
    return _launch(_leaky, x, flat(x), scalar(x, negative_slope))


def leaky_relu_backward(x, grad_y, negative_slope):
    contracts.unary_backward(DEVICE, "leaky_relu_backward", "x", x, grad_y)
    contracts.leaky_relu(DEVICE, "leaky_relu_backward", negative_slope)
    return _launch(_leaky_bwd, x, flat(x), flat(grad_y), scalar(x, negative_slope))


def sigmoid_forward(x):
    contracts.unary(DEVICE, "sigmoid_forward", x)
    return _launch(_sigmoid, x, flat(x))


def sigmoid_backward(y, grad_y):
    contracts.unary_backward(DEVICE, "sigmoid_backward", "y", y, grad_y)
    return _launch(_sigmoid_bwd, y, flat(y), flat(grad_y))


def tanh_forward(x):
    contracts.unary(DEVICE, "tanh_forward", x)
    return _launch(_tanh, x, flat(x))


def tanh_backward(y, grad_y):
    contracts.unary_backward(DEVICE, "tanh_backward", "y", y, grad_y)
    return _launch(_tanh_bwd, y, flat(y), flat(grad_y))
