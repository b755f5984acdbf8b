"""Max, average and adaptive average pooling on the CPU, forward and backward.

x (N, C, H, W) -> y (N, C, Ho, Wo), Ho = (H + 2p - k) // s + 1. Every kernel runs over
a range of the N*C planes (``parallel_for`` gives each thread a block of them), and each
plane is written by one thread only.
"""
from __future__ import annotations

import numpy as np

from .conv import conv_output_size
from .parallel import kernel, parallel_for


@kernel
def _max_fwd(x, kh, kw, sh, sw, ph, pw, y, idx, lo, hi):
    N, C, H, W = x.shape
    _, _, Ho, Wo = y.shape
    for nc in range(lo, hi):
        n = nc // C
        c = nc % C
        for oh in range(Ho):
            h0 = oh * sh - ph
            for ow in range(Wo):
                w0 = ow * sw - pw
                best = -np.inf
                arg = -1
                for i in range(max(h0, 0), min(h0 + kh, H)):
                    for j in range(max(w0, 0), min(w0 + kw, W)):
                        v = x[n, c, i, j]
                        if v > best or arg < 0:
                            best = v
                            arg = i * W + j
                y[n, c, oh, ow] = best
                idx[n, c, oh, ow] = arg


@kernel
def _max_bwd(g, idx, dx, lo, hi):
    N, C, H, W = dx.shape
    _, _, Ho, Wo = g.shape
    for nc in range(lo, hi):
        n = nc // C
        c = nc % C
        dx[n, c, :, :] = 0
        for oh in range(Ho):
            for ow in range(Wo):
                a = idx[n, c, oh, ow]
                dx[n, c, a // W, a % W] += g[n, c, oh, ow]


@kernel
def _avg_fwd(x, kh, kw, sh, sw, ph, pw, count_include_pad, y, lo, hi):
    N, C, H, W = x.shape
    _, _, Ho, Wo = y.shape
    for nc in range(lo, hi):
        n = nc // C
        c = nc % C
        for oh in range(Ho):
            h0 = oh * sh - ph
            for ow in range(Wo):
                w0 = ow * sw - pw
                hs, he = max(h0, 0), min(h0 + kh, H)
                ws, we = max(w0, 0), min(w0 + kw, W)
                acc = 0.0
                for i in range(hs, he):
                    for j in range(ws, we):
                        acc += x[n, c, i, j]
                if count_include_pad:
                    cnt = (min(h0 + kh, H + ph) - h0) * (min(w0 + kw, W + pw) - w0)
                else:
                    cnt = (he - hs) * (we - ws)
                y[n, c, oh, ow] = acc / cnt


@kernel
def _avg_bwd(g, kh, kw, sh, sw, ph, pw, count_include_pad, dx, lo, hi):
    N, C, H, W = dx.shape
    _, _, Ho, Wo = g.shape
    for nc in range(lo, hi):
        n = nc // C
        c = nc % C
        dx[n, c, :, :] = 0
        for oh in range(Ho):
            h0 = oh * sh - ph
            for ow in range(Wo):
                w0 = ow * sw - pw
                hs, he = max(h0, 0), min(h0 + kh, H)
                ws, we = max(w0, 0), min(w0 + kw, W)
                if count_include_pad:
                    cnt = (min(h0 + kh, H + ph) - h0) * (min(w0 + kw, W + pw) - w0)
                else:
                    cnt = (he - hs) * (we - ws)
                v = g[n, c, oh, ow] / cnt
                for i in range(hs, he):
                    for j in range(ws, we):
                        dx[n, c, i, j] += v


@kernel
def _adaptive_avg_fwd(x, y, lo, hi):
    N, C, H, W = x.shape
    _, _, Ho, Wo = y.shape
    for nc in range(lo, hi):
        n = nc // C
        c = nc % C
        for oh in range(Ho):
            hs, he = (oh * H) // Ho, -((-(oh + 1) * H) // Ho)
            for ow in range(Wo):
                ws, we = (ow * W) // Wo, -((-(ow + 1) * W) // Wo)
                acc = 0.0
                for i in range(hs, he):
                    for j in range(ws, we):
                        acc += x[n, c, i, j]
                y[n, c, oh, ow] = acc / ((he - hs) * (we - ws))


@kernel
def _adaptive_avg_bwd(g, dx, lo, hi):
    N, C, H, W = dx.shape
    _, _, Ho, Wo = g.shape
    for nc in range(lo, hi):
        n = nc // C
        c = nc % C
        dx[n, c, :, :] = 0
        for oh in range(Ho):
            hs, he = (oh * H) // Ho, -((-(oh + 1) * H) // Ho)
            for ow in range(Wo):
                ws, we = (ow * W) // Wo, -((-(ow + 1) * W) // Wo)
                v = g[n, c, oh, ow] / ((he - hs) * (we - ws))
                for i in range(hs, he):
                    for j in range(ws, we):
                        dx[n, c, i, j] += v


def _over_planes(kernel, a, *args):
    """Runs a pooling kernel over the N*C planes of ``a`` (N, C, H, W), the larger of its
    input and output."""
    parallel_for(kernel, a.shape[0] * a.shape[1], *args, work=a.size)


def _out(x, kernel, stride, padding):
    N, C, H, W = x.shape
    return (N, C, conv_output_size(H, kernel[0], stride[0], padding[0]),
            conv_output_size(W, kernel[1], stride[1], padding[1]))


def maxpool2d_forward(x, kernel, stride, padding):
    """Max over each window (padding never wins). Returns (y, argmax) with argmax the
    flat h*W + w index of the winner in its plane, int32 (N, C, Ho, Wo)."""
    y = np.empty(_out(x, kernel, stride, padding), x.dtype)
    idx = np.empty(y.shape, np.int32)
    _over_planes(_max_fwd, x, x, kernel[0], kernel[1], stride[0], stride[1], padding[0], padding[1], y, idx)
    return y, idx


def maxpool2d_backward(grad_y, argmax, x_shape):
    """dx[winner] += grad_y for every window. Returns dx of x_shape."""
    dx = np.empty(x_shape, grad_y.dtype)
    _over_planes(_max_bwd, dx, np.ascontiguousarray(grad_y), argmax, dx)
    return dx


def avgpool2d_forward(x, kernel, stride, padding, count_include_pad=True):
    """Mean over each window; the divisor counts padding when count_include_pad."""
    y = np.empty(_out(x, kernel, stride, padding), x.dtype)
    _over_planes(_avg_fwd, x, x, kernel[0], kernel[1], stride[0], stride[1], padding[0], padding[1],
                 count_include_pad, y)
    return y


def avgpool2d_backward(grad_y, x_shape, kernel, stride, padding, count_include_pad=True):
    """Spreads grad_y / count evenly over each window."""
    dx = np.empty(x_shape, grad_y.dtype)
    _over_planes(_avg_bwd, dx, np.ascontiguousarray(grad_y), kernel[0], kernel[1], stride[0], stride[1],
                 padding[0], padding[1], count_include_pad, dx)
    return dx


def adaptive_avgpool2d_forward(x, output_size):
    """Window i spans [floor(i*H/Ho), ceil((i+1)*H/Ho)), as in torch."""
    N, C = x.shape[:2]
    y = np.empty((N, C) + tuple(output_size), x.dtype)
    _over_planes(_adaptive_avg_fwd, x, x, y)
    return y


def adaptive_avgpool2d_backward(grad_y, x_shape):
    dx = np.empty(x_shape, grad_y.dtype)
    _over_planes(_adaptive_avg_bwd, dx, np.ascontiguousarray(grad_y), dx)
    return dx
