"""Max, average and adaptive average pooling on the GPU, forward and backward (twin of
cpu/pool.py).

Forward kernels run one thread per output element; the device functions below give
every kernel its plane/row/column of a flat index, an average window's divisor and an
adaptive window's bounds. The average-pool backward kernels are
gathers, one thread per input element summing the windows that contain it, so no two
threads write one element (race-free and deterministic). Max-pool backward only gets
the recorded winners (the CPU signature carries no window geometry), so it scatters
them with atomic adds into a zeroed dx: race-free, and deterministic whenever windows
do not overlap. A winner outside its input plane is skipped (the CPU set raises; here
that would cost a device-to-host copy per call), so no caller can make it write
outside dx.
"""
from __future__ import annotations

import numpy as np
from numba import cuda, float32

from .. import contracts
from . import memory
from .activation import relu_backward, sigmoid_backward, tanh_backward
from .memory import flat
from .runtime import DEVICE, grid1d, inline_device
from .tensor import fill


@inline_device
def _unravel(e, H, W):
    """(plane n*C + c, row, column) of flat index e into planes of H x W."""
    t = e // W
    return t // H, t % H, e % W


@inline_device
def _avg_count(h0, w0, kh, kw, H, W, ph, pw, count_include_pad):
    """The divisor of the average-pool window at (h0, w0) (its top-left, padding included):
    the window's cells inside the padded input with count_include_pad, else inside the input."""
    if count_include_pad:
        return (min(h0 + kh, H + ph) - h0) * (min(w0 + kw, W + pw) - w0)
    return (min(h0 + kh, H) - max(h0, 0)) * (min(w0 + kw, W) - max(w0, 0))


@inline_device
def _adaptive_window(o, size, out):
    """[start, end) of adaptive window o of ``out`` over ``size``: [floor(o*size/out),
    ceil((o+1)*size/out)), as torch."""
    return (o * size) // out, -((-(o + 1) * size) // out)


@cuda.jit(fastmath=True)
def _max_fwd(x, C, H, W, kh, kw, sh, sw, ph, pw, Ho, Wo, total, y, idx):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for e in range(start, total, step):
        nc, oh, ow = _unravel(e, Ho, Wo)
        h0 = oh * sh - ph
        w0 = ow * sw - pw
        base = nc * H * W
        best = x[base] - x[base]
        arg = -1
        for i in range(max(h0, 0), min(h0 + kh, H)):
            for j in range(max(w0, 0), min(w0 + kw, W)):
                v = x[base + i * W + j]
                if v > best or arg < 0:
                    best = v
                    arg = i * W + j
        y[e] = best
        idx[e] = arg


@cuda.jit(fastmath=True)
def _max_bwd(g, idx, HW, HoWo, total, dx):
    # scatter through the recorded winners; atomics make overlapping windows race-free
    # (in the usual non-overlapping pools each input receives at most one add)
    start, step = cuda.grid(1), cuda.gridsize(1)
    for o in range(start, total, step):
        a = idx[o]
        if a >= 0 and a < HW:
            cuda.atomic.add(dx, (o // HoWo) * HW + a, g[o])


@cuda.jit(fastmath=True)
def _avg_fwd(x, C, H, W, kh, kw, sh, sw, ph, pw, Ho, Wo, count_include_pad, total, y):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for e in range(start, total, step):
        nc, oh, ow = _unravel(e, Ho, Wo)
        h0 = oh * sh - ph
        w0 = ow * sw - pw
        base = nc * H * W
        acc = x[base] - x[base]
        for i in range(max(h0, 0), min(h0 + kh, H)):
            for j in range(max(w0, 0), min(w0 + kw, W)):
                acc += x[base + i * W + j]
        y[e] = acc / float32(_avg_count(h0, w0, kh, kw, H, W, ph, pw, count_include_pad))


@cuda.jit(fastmath=True)
def _avg_bwd(g, C, H, W, kh, kw, sh, sw, ph, pw, Ho, Wo, count_include_pad, total, dx):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for e in range(start, total, step):
        nc, h, w = _unravel(e, H, W)
        acc = g[0] - g[0]
        lo = h + ph - kh + 1
        oh0 = 0 if lo <= 0 else (lo + sh - 1) // sh
        oh1 = min((h + ph) // sh, Ho - 1)
        lo = w + pw - kw + 1
        ow0 = 0 if lo <= 0 else (lo + sw - 1) // sw
        ow1 = min((w + pw) // sw, Wo - 1)
        for oh in range(oh0, oh1 + 1):
            h0 = oh * sh - ph
            for ow in range(ow0, ow1 + 1):
                cnt = _avg_count(h0, ow * sw - pw, kh, kw, H, W, ph, pw, count_include_pad)
                acc += g[(nc * Ho + oh) * Wo + ow] / float32(cnt)
        dx[e] = acc


@cuda.jit(fastmath=True)
def _adaptive_fwd(x, H, W, Ho, Wo, total, y):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for e in range(start, total, step):
        nc, oh, ow = _unravel(e, Ho, Wo)
        hs, he = _adaptive_window(oh, H, Ho)
        ws, we = _adaptive_window(ow, W, Wo)
        base = nc * H * W
        acc = x[base] - x[base]
        for i in range(hs, he):
            for j in range(ws, we):
                acc += x[base + i * W + j]
        y[e] = acc / float32((he - hs) * (we - ws))


@cuda.jit(fastmath=True)
def _adaptive_bwd(g, H, W, Ho, Wo, total, dx):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for e in range(start, total, step):
        nc, h, w = _unravel(e, H, W)
        acc = g[0] - g[0]
        # windows oh with floor(oh*H/Ho) <= h < ceil((oh+1)*H/Ho)
        for oh in range((h * Ho) // H, min(((h + 1) * Ho - 1) // H, Ho - 1) + 1):
            hs, he = _adaptive_window(oh, H, Ho)
            if h < hs or h >= he:
                continue
            for ow in range((w * Wo) // W, min(((w + 1) * Wo - 1) // W, Wo - 1) + 1):
                ws, we = _adaptive_window(ow, W, Wo)
                if w < ws or w >= we:
                    continue
                acc += g[(nc * Ho + oh) * Wo + ow] / float32((he - hs) * (we - ws))
        dx[e] = acc


def _geom(shape, win):
    """The kernels' (C, H, W, kh, kw, sh, sw, ph, pw) of x's shape and a checked window."""
    return (int(shape[1]), int(shape[2]), int(shape[3])) + win


def maxpool2d_forward(x, kernel, stride, padding):
    """Max over each window (padding never wins). Returns (y, argmax) with argmax the
    flat h*W + w index of the winner in its plane, int32 (N, C, Ho, Wo), on the device."""
    shape, win = contracts.maxpool2d_forward(DEVICE, x, kernel, stride, padding)
    y = memory.empty(shape, x.dtype, "the max-pool output")
    idx = memory.empty(shape, np.int32, "the max-pool argmax")
    if y.size:
        _max_fwd[grid1d(y.size)](flat(x), *_geom(x.shape, win), shape[2], shape[3],
                                 y.size, flat(y), flat(idx))
    return y, idx


def maxpool2d_backward(grad_y, argmax, x_shape, y=None):
    """dx[winner] += grad_y for every window (atomic adds into a zeroed dx). Returns dx;
    with y (the pool's output over a ReLU's output) that ReLU's backward as well: windows
    with y <= 0 pass nothing."""
    x_shape = contracts.maxpool2d_backward(DEVICE, grad_y, argmax, x_shape, y)
    dx = memory.empty(x_shape, grad_y.dtype, "the max-pool gradient")
    fill(dx, 0)
    if y is not None:
        grad_y = relu_backward(y, grad_y)
    if grad_y.size:
        HoWo = int(grad_y.shape[2]) * int(grad_y.shape[3])
        _max_bwd[grid1d(grad_y.size)](flat(grad_y), flat(argmax), x_shape[2] * x_shape[3], HoWo,
                                      grad_y.size, flat(dx))
    return dx


def avgpool2d_forward(x, kernel, stride, padding, count_include_pad=True):
    """Mean over each window; the divisor counts padding when count_include_pad."""
    shape, win = contracts.avgpool2d_forward(DEVICE, x, kernel, stride, padding, count_include_pad)
    y = memory.empty(shape, x.dtype, "the avg-pool output")
    if y.size:
        _avg_fwd[grid1d(y.size)](flat(x), *_geom(x.shape, win), shape[2], shape[3],
                                 bool(count_include_pad), y.size, flat(y))
    return y


def avgpool2d_backward(grad_y, x_shape, kernel, stride, padding, count_include_pad=True):
    """Spreads grad_y / count evenly over each window (gathered per input)."""
    x_shape, win = contracts.avgpool2d_backward(DEVICE, grad_y, x_shape, kernel, stride, padding,
                                                count_include_pad)
    dx = memory.empty(x_shape, grad_y.dtype, "the avg-pool gradient")
    if dx.size:
        _avg_bwd[grid1d(dx.size)](flat(grad_y), *_geom(x_shape, win),
                                  int(grad_y.shape[2]), int(grad_y.shape[3]), bool(count_include_pad),
                                  dx.size, flat(dx))
    return dx


def adaptive_avgpool2d_forward(x, output_size):
    """Window i spans [floor(i*H/Ho), ceil((i+1)*H/Ho)), as in torch."""
    N, C, Ho, Wo = contracts.adaptive_avgpool2d_forward(DEVICE, x, output_size)
    H, W = int(x.shape[2]), int(x.shape[3])
    y = memory.empty((N, C, Ho, Wo), x.dtype, "the adaptive-pool output")
    if y.size:
        _adaptive_fwd[grid1d(y.size)](flat(x), H, W, Ho, Wo, y.size, flat(y))
    return y


def adaptive_avgpool2d_backward(grad_y, x_shape):
    x_shape = contracts.adaptive_avgpool2d_backward(DEVICE, grad_y, x_shape)
    dx = memory.empty(x_shape, grad_y.dtype, "the adaptive-pool gradient")
    if dx.size:
        _adaptive_bwd[grid1d(dx.size)](flat(grad_y), x_shape[2], x_shape[3], int(grad_y.shape[2]),
                                       int(grad_y.shape[3]), dx.size, flat(dx))
    return dx


def act_avgpool2x2_backward(grad_y, a, act):
    """The gradient of the convolution output z under a = act(z) ("sigmoid" or "tanh") and
    y = avgpool2d_forward(a, 2, 2, 0), as the CPU set's one-pass kernel (composed here)."""
    contracts.act_avgpool2x2_backward(DEVICE, grad_y, a, act)
    g = avgpool2d_backward(grad_y, tuple(int(s) for s in a.shape), (2, 2), (2, 2), (0, 0))
    return (sigmoid_backward if act == "sigmoid" else tanh_backward)(a, g)
