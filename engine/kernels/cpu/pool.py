"""Max, average and adaptive average pooling on the CPU, forward and backward.

x (N, C, H, W) -> y (N, C, Ho, Wo), Ho = (H + 2p - k) // s + 1. Every kernel runs over
a range of the N*C planes (``parallel_for`` gives each thread a block of them), and each
plane is written by one thread only.
"""
from __future__ import annotations

import numpy as np
from numba import uint64

from .. import contracts
from ..checks import NUMPY, fail
from .parallel import helper, kernel, parallel_for


# The kernels see x, y and the gradients as stacks of planes (N*C, H, W) and index each
# plane from 0, so the inner loops carry no wraparound branches (see activation.py).

@helper
def _max2x2_plane(xp, yp, ip):
    # the common 2x2 window, stride 2, no padding: four compares per output
    Ho, Wo = yp.shape
    W = xp.shape[1]
    for oh in range(Ho):
        r0 = xp[2 * oh]
        r1 = xp[2 * oh + 1]
        yr = yp[oh]
        ir = ip[oh]
        base = 2 * oh * W
        for ow in range(Wo):
            j = 2 * ow
            best = r0[j]
            arg = base + j
            v = r0[j + 1]
            if v > best:
                best = v
                arg = base + j + 1
            v = r1[j]
            if v > best:
                best = v
                arg = base + W + j
            v = r1[j + 1]
            if v > best:
                best = v
                arg = base + W + j + 1
            yr[ow] = best
            ir[ow] = arg


@helper
def _max_window(xp, h0, w0, kh, kw):
    """(max, flat index of the first maximum in row-major order) of the window at (h0, w0)
    clipped to the plane xp."""
    H, W = xp.shape
    hs, he = max(h0, 0), min(h0 + kh, H)
    ws, we = max(w0, 0), min(w0 + kw, W)
    best = xp[hs, ws]
    arg = hs * W + ws
    for i in range(hs, he):
        row = xp[i]
        for j in range(ws, we):
            v = row[j]
            if v > best:
                best = v
                arg = i * W + j
    return best, arg


@helper
def _max_plane(xp, kh, kw, sh, sw, ph, pw, yp, ip):
    Ho, Wo = yp.shape
    for oh in range(Ho):
        for ow in range(Wo):
            yp[oh, ow], ip[oh, ow] = _max_window(xp, oh * sh - ph, ow * sw - pw, kh, kw)


@helper
def _max3x3_plane(xp, sh, sw, ph, pw, yp, ip):
    # 3x3 windows (GoogLeNet's and AlexNet's pools): each row of windows inside the plane
    # compares its nine values in _max_window's order with no clipping (unsigned indices:
    # no wraparound branch); windows that cross the border go through _max_window. Measured
    # 1.7-2x faster than _max_plane on GoogLeNet's and AlexNet's pools (selects instead of
    # branches made one chain of nine dependent steps per window: slower)
    H, W = xp.shape
    Ho, Wo = yp.shape
    lo = min(Wo, (pw + sw - 1) // sw)          # first window column with w0 >= 0
    hi = max(lo, min(Wo, (W - 3 + pw) // sw + 1))  # one past the last with w0 + 3 <= W
    for oh in range(Ho):
        h0 = oh * sh - ph
        yr, ir = yp[oh], ip[oh]
        if h0 < 0 or h0 + 3 > H:
            for ow in range(Wo):
                yr[ow], ir[ow] = _max_window(xp, h0, ow * sw - pw, 3, 3)
            continue
        for ow in range(lo):
            yr[ow], ir[ow] = _max_window(xp, h0, ow * sw - pw, 3, 3)
        for ow in range(hi, Wo):
            yr[ow], ir[ow] = _max_window(xp, h0, ow * sw - pw, 3, 3)
        r0, r1, r2 = xp[h0], xp[h0 + 1], xp[h0 + 2]
        for ow in range(lo, hi):
            w = uint64(ow * sw - pw)
            a = h0 * W + ow * sw - pw
            best, arg = r0[w], a
            for i, row in ((0, r0), (1, r1), (2, r2)):
                for j in range(3):
                    v = row[w + j]
                    if v > best:
                        best, arg = v, a + i * W + j
            yr[ow] = best
            ir[ow] = arg


@kernel
def _max_fwd(x, kh, kw, sh, sw, ph, pw, y, idx, lo, hi):
    fast = kh == 2 and kw == 2 and sh == 2 and sw == 2 and ph == 0 and pw == 0
    for p in range(lo, hi):
        if fast:
            _max2x2_plane(x[p], y[p], idx[p])
        elif kh == 3 and kw == 3:
            _max3x3_plane(x[p], sh, sw, ph, pw, y[p], idx[p])
        else:
            _max_plane(x[p], kh, kw, sh, sw, ph, pw, y[p], idx[p])


@kernel
def _max_bwd(g, idx, relu, y, dx, bad, lo, hi):
    # g, idx, y (N*C, Ho*Wo); dx (N*C, H*W); with relu, only windows with y > 0 pass.
    # A zeroing pass and one scattered add per window: on 2x2/2 windows this measured
    # 3-7x faster than writing each dx element once from its window (numbacnn issue 7).
    # Winners are read as uint64, so one compare finds those outside [0, H*W) (negative
    # ones wrap to huge): they are skipped and flag their plane in bad (N*C,).
    for p in range(lo, hi):
        d = dx[p]
        d[:] = 0
        gp = g[p]
        ip = idx[p]
        HW = uint64(d.size)
        flagged = False
        if relu:
            yp = y[p]
            for k in range(gp.size):
                a = uint64(ip[k])
                if a >= HW:
                    flagged = True
                elif yp[k] > 0:
                    d[a] += gp[k]
        else:
            for k in range(gp.size):
                a = uint64(ip[k])
                if a >= HW:
                    flagged = True
                else:
                    d[a] += gp[k]
        bad[p] = flagged


@helper
def _avg_count(h0, w0, kh, kw, H, W, ph, pw, count_include_pad):
    """(hs, he, ws, we, divisor) of the window whose top-left corner is (h0, w0)."""
    hs, he = max(h0, 0), min(h0 + kh, H)
    ws, we = max(w0, 0), min(w0 + kw, W)
    if count_include_pad:
        cnt = (min(h0 + kh, H + ph) - h0) * (min(w0 + kw, W + pw) - w0)
    else:
        cnt = (he - hs) * (we - ws)
    return hs, he, ws, we, cnt


@kernel
def _avg_fwd(x, kh, kw, sh, sw, ph, pw, count_include_pad, y, lo, hi):
    _, H, W = x.shape
    _, Ho, Wo = y.shape
    for p in range(lo, hi):
        xp = x[p]
        yp = y[p]
        for oh in range(Ho):
            for ow in range(Wo):
                hs, he, ws, we, cnt = _avg_count(oh * sh - ph, ow * sw - pw, kh, kw, H, W, ph, pw,
                                                 count_include_pad)
                acc = 0.0
                for i in range(hs, he):
                    row = xp[i]
                    for j in range(ws, we):
                        acc += row[j]
                yp[oh, ow] = acc / cnt


@kernel
def _avg_bwd(g, kh, kw, sh, sw, ph, pw, count_include_pad, dx, lo, hi):
    _, H, W = dx.shape
    _, Ho, Wo = g.shape
    for p in range(lo, hi):
        d = dx[p]
        gp = g[p]
        d[:, :] = 0
        for oh in range(Ho):
            for ow in range(Wo):
                hs, he, ws, we, cnt = _avg_count(oh * sh - ph, ow * sw - pw, kh, kw, H, W, ph, pw,
                                                 count_include_pad)
                v = gp[oh, ow] / cnt
                for i in range(hs, he):
                    row = d[i]
                    for j in range(ws, we):
                        row[j] += v


@kernel
def _act_avg2x2_bwd(g, a, sigmoid, dx, lo, hi):
    # planes [lo, hi) of g (P, Hp, Wp), a and dx (P, H, W): dx = the derivative of the
    # activation (sigmoid, else tanh) at a times g / 4 of the 2x2 window (stride 2) holding
    # it, in avgpool2d_backward's and sigmoid/tanh_backward's order of operations; rows and
    # columns no window covers (odd H, W) get 0
    _, H, W = a.shape
    _, Hp, Wp = g.shape
    quarter = dx.dtype.type(0.25)
    for p in range(lo, hi):
        ap, gp, dp = a[p], g[p], dx[p]
        for h in range(H):
            dr = dp[h]
            dr[:] = 0
            if h >= 2 * Hp:
                continue
            ar = ap[h]
            gr = gp[h // 2]
            for c in range(Wp):
                v = gr[c] * quarter
                y0 = ar[2 * c]
                y1 = ar[2 * c + 1]
                if sigmoid:
                    dr[2 * c] = v * y0 * (1 - y0)
                    dr[2 * c + 1] = v * y1 * (1 - y1)
                else:
                    dr[2 * c] = v * (1 - y0 * y0)
                    dr[2 * c + 1] = v * (1 - y1 * y1)


@helper
def _adaptive_span(o, size, out_size):
    """[floor(o*size/out), ceil((o+1)*size/out)), as torch."""
    return (o * size) // out_size, -((-(o + 1) * size) // out_size)


@kernel
def _adaptive_avg_fwd(x, y, lo, hi):
    _, H, W = x.shape
    _, Ho, Wo = y.shape
    for p in range(lo, hi):
        xp = x[p]
        for oh in range(Ho):
            hs, he = _adaptive_span(oh, H, Ho)
            for ow in range(Wo):
                ws, we = _adaptive_span(ow, W, Wo)
                acc = 0.0
                for i in range(hs, he):
                    row = xp[i]
                    for j in range(ws, we):
                        acc += row[j]
                y[p, oh, ow] = acc / ((he - hs) * (we - ws))


@kernel
def _adaptive_avg_bwd(g, dx, lo, hi):
    _, H, W = dx.shape
    _, Ho, Wo = g.shape
    for p in range(lo, hi):
        d = dx[p]
        d[:, :] = 0
        for oh in range(Ho):
            hs, he = _adaptive_span(oh, H, Ho)
            for ow in range(Wo):
                ws, we = _adaptive_span(ow, W, Wo)
                v = g[p, oh, ow] / ((he - hs) * (we - ws))
                for i in range(hs, he):
                    row = d[i]
                    for j in range(ws, we):
                        row[j] += v


def _planes(a):
    """a (N, C, H, W) as a C-contiguous stack of planes (N*C, H, W) (a view when it can be)."""
    a = np.ascontiguousarray(a)
    return a.reshape(a.shape[0] * a.shape[1], a.shape[2], a.shape[3])


def _over_planes(kernel, a, *args):
    """Runs a pooling kernel over the N*C planes of ``a`` (N, C, H, W), the larger of its
    input and output."""
    parallel_for(kernel, a.shape[0] * a.shape[1], *args, work=a.size)


def maxpool2d_forward(x, kernel, stride, padding):
    """Max over each window (padding never wins). Returns (y, argmax) with argmax the
    flat h*W + w index of the winner in its plane, int32 (N, C, Ho, Wo)."""
    shape, win = contracts.maxpool2d_forward(NUMPY, x, kernel, stride, padding)
    y = np.empty(shape, x.dtype)
    idx = np.empty(shape, np.int32)
    _over_planes(_max_fwd, x, _planes(x), *win, _planes(y), _planes(idx))
    return y, idx


def maxpool2d_backward(grad_y, argmax, x_shape, y=None):
    """dx[winner] += grad_y for every window. Returns dx of x_shape. With y, the pool's
    output over the output of a ReLU, this is that ReLU's backward too: a window passes
    its gradient only where y > 0 (the max of ReLU outputs is > 0 exactly where the
    winner's ReLU passed its gradient). A winner outside its input plane is a ShapeError."""
    x_shape = contracts.maxpool2d_backward(NUMPY, grad_y, argmax, x_shape, y)
    dx = np.empty(x_shape, grad_y.dtype)
    P = x_shape[0] * x_shape[1]
    if P == 0:
        return dx
    grad_y = np.ascontiguousarray(grad_y).reshape(P, -1)
    bad = np.empty(P, np.bool_)
    _over_planes(_max_bwd, dx, grad_y, np.ascontiguousarray(argmax).reshape(P, -1), y is not None,
                 grad_y if y is None else np.ascontiguousarray(y).reshape(P, -1), dx.reshape(P, -1), bad)
    if bad.any():
        fail("maxpool2d_backward", f"argmax holds winners outside the {x_shape[2]}x{x_shape[3]} input planes "
                                   f"of x_shape {x_shape}; it must come from maxpool2d_forward of that input")
    return dx


def avgpool2d_forward(x, kernel, stride, padding, count_include_pad=True):
    """Mean over each window; the divisor counts padding when count_include_pad."""
    shape, win = contracts.avgpool2d_forward(NUMPY, x, kernel, stride, padding, count_include_pad)
    y = np.empty(shape, x.dtype)
    _over_planes(_avg_fwd, x, _planes(x), *win, count_include_pad, _planes(y))
    return y


def avgpool2d_backward(grad_y, x_shape, kernel, stride, padding, count_include_pad=True):
    """Spreads grad_y / count evenly over each window."""
    x_shape, win = contracts.avgpool2d_backward(NUMPY, grad_y, x_shape, kernel, stride, padding,
                                                count_include_pad)
    dx = np.empty(x_shape, grad_y.dtype)
    _over_planes(_avg_bwd, dx, _planes(grad_y), *win, count_include_pad, _planes(dx))
    return dx


def adaptive_avgpool2d_forward(x, output_size):
    """Window i spans [floor(i*H/Ho), ceil((i+1)*H/Ho)), as in torch."""
    y = np.empty(contracts.adaptive_avgpool2d_forward(NUMPY, x, output_size), x.dtype)
    _over_planes(_adaptive_avg_fwd, x, _planes(x), _planes(y))
    return y


def adaptive_avgpool2d_backward(grad_y, x_shape):
    dx = np.empty(contracts.adaptive_avgpool2d_backward(NUMPY, grad_y, x_shape), grad_y.dtype)
    _over_planes(_adaptive_avg_bwd, dx, _planes(grad_y), _planes(dx))
    return dx


def act_avgpool2x2_backward(grad_y, a, act):
    """The gradient of the convolution output z under a = act(z) ("sigmoid" or "tanh") and
    y = avgpool2d_forward(a, 2, 2, 0): act'(z) (from a) times grad_y / 4 of each 2x2
    window, in one pass. a (N, C, H, W), grad_y (N, C, H//2, W//2) -> (N, C, H, W)."""
    contracts.act_avgpool2x2_backward(NUMPY, grad_y, a, act)
    dx = np.empty(a.shape, a.dtype)
    _over_planes(_act_avg2x2_bwd, dx, _planes(grad_y), _planes(a), act == "sigmoid", _planes(dx))
    return dx
