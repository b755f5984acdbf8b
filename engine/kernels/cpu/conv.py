"""2-D convolution on the CPU: im2col/col2im plus large sgemms, or a direct kernel.

Shapes: x (N, C, H, W), w (O, C, kh, kw), b (O,), y (N, O, Ho, Wo) with
Ho = (H + 2*ph - kh) // sh + 1 and Wo = (W + 2*pw - kw) // sw + 1.

GEMM path. The batch is folded into the GEMM's columns: for a block of ``nb`` samples
cols is (K, nb*P) with K = C*kh*kw, P = Ho*Wo, and

    forward      y_mat (O, nb*P)  = W (O, K) @ cols            (then bias, to NCHW)
    weight grad  dW^T  (K, O)    += cols @ G^T,  G (O, nb*P) the output gradient
    input grad   dcols (K, nb*P)  = W^T @ G                     (then col2im)

Each thread takes its share of the samples and runs im2col, the products (single-threaded
OpenBLAS) and the output pass block by block on its own buffers, with no hand-off between
the steps: measured 1.05-1.3x faster on VGG's 256- and 512-channel layers than one
shared block at a time with the products split between the threads (which remains for
batches smaller than the thread count, through :func:`.parallel.gemm`). ``nb`` is the
thread's share unless its cols would pass WORKSPACE_BYTES, so the scratch memory stays
bounded (VGG's 64-channel 32x32 layers at batch 128 would otherwise need a 300 MB cols
buffer) while the products stay large. The weight gradient is computed transposed,
(K, nb*P) @ (nb*P, O): OpenBLAS is much faster with the long reduction on that side; each
thread sums its own and the threads' sums are added at the end.

Winograd path. 3x3 stride-1 layers with at least 16 channels in and out and outputs of
at least 4x4 run :mod:`.winograd`, F(4x4, 3x3): 4x fewer multiplies, its transforms on
vectors of channels: 1.1-1.5x faster than the direct kernels on 16 and 32 channels,
2-3x from 64 (1.4-1.9x faster than F(2x2, 3x3), whose forward it replaced on 16 to 63
channels). An earlier F(2x2, 3x3) path lost to vectorised im2col + GEMM (its input
transform wrote 16 streams 2^k bytes apart, which share cache sets, at 2 GB/s); the
transforms keep their streams off 4 KiB multiples. Its weight gradient sums its 36
products on register tiles up to 128 channels (1.4-1.8x the F(2x2, 3x3) weight gradient
it replaced on 16 to 128 channels).

Pointwise path. 1x1 stride-1 unpadded layers with at least 96 channels in and out run
:mod:`.pointwise`: each sample's planes are already the column matrix.

Small-map path. Padded layers that the direct kernels do not run, on maps so small that
at most two thirds of the kernel's taps read the input (VGG's 512 channels on 2x2 maps:
4 of 9), run :mod:`.smallmap`: one product per output position and tap inside the input
(measured 1.9x forward, 2.4x backward on VGG's 2x2 layers).

Direct path. Layers with up to 1200 taps in and out (C*kh*kw, O*kh*kw: every layer of the
small nets and ResNet-20 but its Winograd passes, VGG's up to 128 channels) and
padding smaller than the kernel run :mod:`.conv_direct`, register-tiled SIMD kernels that
read x in place of im2col columns; BLAS keeps the rest.
"""
from __future__ import annotations

import numpy as np
from numba import uint64

from .. import contracts
from ..checks import NUMPY
from ..contracts import conv_output_size  # noqa: F401  (the set's public name)
from . import conv_direct, pointwise, smallmap, winograd
from .parallel import gemm, get_num_threads, helper, kernel, parallel_for
from .activation import sigmoid_forward, tanh_forward
from .pool import avgpool2d_forward, maxpool2d_forward
from .workspace import workspace

WORKSPACE_BYTES = 8 * 2**20  # cols per block of samples and thread: 1-8 MB measured, 8 fastest


@helper
def _valid_range(j, sw, pw, W, Wo):
    """Output columns ow whose input column ow*sw - pw + j lies in [0, W)."""
    lo = 0
    if pw - j > 0:
        lo = (pw - j + sw - 1) // sw
    hi = (W - 1 + pw - j) // sw + 1
    if hi > Wo:
        hi = Wo
    if hi < lo:
        hi = lo
    return lo, hi


# The kernels run over a range [lo, hi) of rows, channels or planes; parallel_for gives
# each thread a block of the range.

@helper
def _im2col_row(x, row, kh, kw, sh, sw, ph, pw, Ho, Wo, out):
    # out = cols[row]: the (c, i, j) tap of every output pixel of every sample, in order.
    # The copies index with uint64: Numba gives a signed index it cannot prove
    # non-negative (k + t, src + t) a wraparound branch, which stops LLVM vectorising the
    # loop (3.5 GB/s against 14-17 measured here; slicing every 32-wide row instead
    # costs about as much in slice set-up).
    N, C, H, W = x.shape
    c = row // (kh * kw)
    i = (row // kw) % kh
    j = row % kw
    lo, hi = _valid_range(j, sw, pw, W, Wo)
    start = lo * sw + j - pw  # input column of output column lo
    xf = x.reshape(-1)
    k = 0
    for n in range(N):
        plane = (n * C + c) * H * W
        for oh in range(Ho):
            h = oh * sh - ph + i
            if h < 0 or h >= H:
                for t in range(Wo):
                    out[uint64(k + t)] = 0
            else:
                for t in range(lo):
                    out[uint64(k + t)] = 0
                src = plane + h * W + start
                dst = k + lo
                if sw == 1:
                    for t in range(hi - lo):
                        out[uint64(dst + t)] = xf[uint64(src + t)]
                else:
                    for t in range(hi - lo):
                        out[uint64(dst + t)] = xf[uint64(src + t * sw)]
                for t in range(hi, Wo):
                    out[uint64(k + t)] = 0
            k += Wo


@kernel
def _im2col(x, kh, kw, sh, sw, ph, pw, Ho, Wo, cols, lo, hi):
    # Rows of cols, each written front to back: the rows are N*P long (up to megabytes),
    # and writing each sequentially ran 2-3x faster than going by input plane, whose
    # writes hop between kh*kw rows far apart.
    for row in range(lo, hi):
        _im2col_row(x, row, kh, kw, sh, sw, ph, pw, Ho, Wo, cols[row])


@helper
def _col2im_channel(cols, c, kh, kw, sh, sw, ph, pw, Ho, Wo, dx):
    # dx (N, C, H, W): accumulates channel c from its kh*kw rows of cols (uint64 indices,
    # as in _im2col_row)
    N, C, H, W = dx.shape
    P = Ho * Wo
    for n in range(N):
        dx[n, c] = 0
    df = dx.reshape(-1)
    for i in range(kh):
        for j in range(kw):
            r = cols[(c * kh + i) * kw + j]
            lo, hi = _valid_range(j, sw, pw, W, Wo)
            start = lo * sw + j - pw
            for n in range(N):
                plane = (n * C + c) * H * W
                for oh in range(Ho):
                    h = oh * sh - ph + i
                    if h < 0 or h >= H:
                        continue
                    src = n * P + oh * Wo + lo
                    dst = plane + h * W + start
                    if sw == 1:
                        for t in range(hi - lo):
                            df[uint64(dst + t)] += r[uint64(src + t)]
                    else:
                        for t in range(hi - lo):
                            df[uint64(dst + t * sw)] += r[uint64(src + t)]


@kernel
def _col2im(cols, kh, kw, sh, sw, ph, pw, Ho, Wo, dx, lo, hi):
    # By input channel c: each owns dx[:, c] (no races between blocks) and reads its
    # kh*kw rows of cols front to back; dx[:, c] (N*H*W) is revisited kh*kw times from cache.
    for c in range(lo, hi):
        _col2im_channel(cols, c, kh, kw, sh, sw, ph, pw, Ho, Wo, dx)


@kernel
def _mat_to_nchw(y_mat, b, relu, y, lo, hi):
    # y_mat (O, N*P) -> y (N, O, P) plus bias b (O,), then max(., 0) if relu
    N, O, P = y.shape
    for no in range(lo, hi):
        n = no // O
        o = no % O
        bo = b[o]
        src = y_mat[o, n * P:(n + 1) * P]
        dst = y[n, o]
        if relu:
            for p in range(P):
                dst[p] = max(src[p] + bo, 0)
        else:
            for p in range(P):
                dst[p] = src[p] + bo


@kernel
def _nchw_to_mat(g, g_mat, db, lo, hi):
    # g (N, O, P) -> g_mat (O, N*P); db[o] += sum over n, p of g
    N, O, P = g.shape
    for o in range(lo, hi):
        acc = 0.0
        for n in range(N):
            src = g[n, o]
            dst = g_mat[o, n * P:(n + 1) * P]
            for p in range(P):
                v = src[p]
                dst[p] = v
                acc += v
        db[o] += acc


def _block(N, K, P, itemsize):
    """Samples per im2col block: all N unless cols would pass WORKSPACE_BYTES; then N in
    equal blocks (no small last one)."""
    nb = max(1, min(N, WORKSPACE_BYTES // max(1, K * P * itemsize)))
    return -(-N // -(-N // nb)) if N else 1


def _over_samples(step, x, K, P, *args):
    """Runs ``step(x, *args, nb, mm, lo, hi)`` over the samples of x: one share of them per
    thread, each running its products with single-threaded ``np.matmul``; or, with fewer
    samples than threads, all of them on this thread with :func:`.parallel.gemm`, which
    splits each product between the threads."""
    N, T = x.shape[0], get_num_threads()
    if N < T:
        step(x, *args, _block(N, K, P, x.itemsize), gemm, 0, N)
    else:
        parallel_for(step, N, x, *args, _block(-(-N // T), K, P, x.itemsize), np.matmul, work=N * K * P)


def _forward_samples(x, w2, b, relu, kh, kw, sh, sw, ph, pw, Ho, Wo, y3, nb, mm, lo, hi):
    """y3[lo:hi] (n, O, P) = w2 @ cols + b, nb samples at a time (see _over_samples)."""
    K, O, P = w2.shape[1], w2.shape[0], Ho * Wo
    for n0 in range(lo, hi, nb):
        n1 = min(hi, n0 + nb)
        m = (n1 - n0) * P
        cols, y_mat = workspace("conv.cols", (K, m), x.dtype), workspace("conv.mat", (O, m), x.dtype)
        _im2col(x[n0:n1], kh, kw, sh, sw, ph, pw, Ho, Wo, cols, 0, K)
        mm(w2, cols, out=y_mat)
        _mat_to_nchw(y_mat, b, relu, y3[n0:n1], 0, (n1 - n0) * O)


def _backward_samples(x, wt, g3, kh, kw, sh, sw, ph, pw, Ho, Wo, dx, sums, nb, mm, lo, hi):
    """Samples [lo, hi): their dx (when dx is not None), and (dW^T (K, O), db (O,)) summed
    over them, appended to ``sums``; nb samples at a time (see _over_samples)."""
    C, O, P = x.shape[1], g3.shape[1], Ho * Wo
    K = C * kh * kw
    dt = x.dtype
    dwt, db = None, np.zeros(O, dt)
    for n0 in range(lo, hi, nb):
        n1 = min(hi, n0 + nb)
        m = (n1 - n0) * P
        cols, g_mat = workspace("conv.cols", (K, m), dt), workspace("conv.mat", (O, m), dt)
        _nchw_to_mat(g3[n0:n1], g_mat, db, 0, O)
        _im2col(x[n0:n1], kh, kw, sh, sw, ph, pw, Ho, Wo, cols, 0, K)
        if dwt is None:
            dwt = mm(cols, g_mat.T, out=np.empty((K, O), dt))
        else:
            dwt += mm(cols, g_mat.T, out=workspace("conv.dw", (K, O), dt))
        if dx is not None:
            mm(wt, g_mat, out=cols)
            _col2im(cols, kh, kw, sh, sw, ph, pw, Ho, Wo, dx[n0:n1], 0, C)
    sums.append((np.zeros((K, O), dt) if dwt is None else dwt, db))


def _use_direct(C, O, kh, kw, sh, sw, ph, pw) -> bool:
    """Whether :mod:`.conv_direct` runs this layer."""
    return conv_direct.suitable(C, O, kh, kw, sh, sw, ph, pw)


def _use_winograd(C, O, kh, kw, sh, sw, ph, pw, Ho, Wo) -> bool:
    """Whether :mod:`.winograd` runs this layer (before the direct kernels and BLAS)."""
    return winograd.suitable(C, O, kh, kw, sh, sw, ph, pw, Ho, Wo)


def _use_pointwise(C, O, kh, kw, sh, sw, ph, pw) -> bool:
    """Whether :mod:`.pointwise` runs this layer (before the direct kernels and BLAS)."""
    return pointwise.suitable(C, O, kh, kw, sh, sw, ph, pw)


def _use_smallmap(H, W, kh, kw, sh, sw, ph, pw, Ho, Wo) -> bool:
    """Whether :mod:`.smallmap` runs this layer (after the direct kernels, before im2col)."""
    return smallmap.suitable(H, W, kh, kw, sh, sw, ph, pw, Ho, Wo)


def conv2d_forward(x, w, b, stride, padding, relu=False):
    """y = conv(x, w) + b, or max(that, 0) with relu. x (N, C, H, W), w (O, C, kh, kw),
    b (O,) or None -> y (N, O, Ho, Wo)."""
    N, C, H, W, O, kh, kw, sh, sw, ph, pw, Ho, Wo = contracts.conv2d_forward(NUMPY, x, w, b, stride, padding, relu)
    x = np.ascontiguousarray(x)
    if b is None:
        b = np.zeros(O, x.dtype)
    y = np.empty((N, O, Ho, Wo), x.dtype)
    if _use_winograd(C, O, kh, kw, sh, sw, ph, pw, Ho, Wo):
        return winograd.forward(x, w, b, ph, y, relu=relu)
    if _use_pointwise(C, O, kh, kw, sh, sw, ph, pw):
        return pointwise.forward(x, w, b, y, relu=relu)
    if _use_direct(C, O, kh, kw, sh, sw, ph, pw):
        return conv_direct.forward(x, w, b, (sh, sw), (ph, pw), y, relu=relu)
    if _use_smallmap(H, W, kh, kw, sh, sw, ph, pw, Ho, Wo):
        return smallmap.forward(x, w, b, (sh, sw), (ph, pw), y, relu=relu)
    K, P = C * kh * kw, Ho * Wo
    _over_samples(_forward_samples, x, K, P, np.ascontiguousarray(w.reshape(O, K)), b, relu,
                  kh, kw, sh, sw, ph, pw, Ho, Wo, y.reshape(N, O, P))
    return y


def _fuse_pool(C, O, kh, kw, sh, sw, ph, pw, Ho, Wo) -> bool:
    """Whether a convolution followed by an activation and a 2x2 pool runs as one pass of
    the direct kernels: where they run the layer and Winograd does not (Winograd's 1.4-2x
    on VGG's 64- and 128-channel layers outweighs the pooling pass it leaves)."""
    return _use_direct(C, O, kh, kw, sh, sw, ph, pw) and not _use_winograd(C, O, kh, kw, sh, sw, ph, pw, Ho, Wo)


def conv2d_relu_maxpool2x2(x, w, b, stride, padding):
    """maxpool2d_forward(max(conv(x, w) + b, 0), 2, 2, 0) in one pass where the direct
    kernels run the layer (the convolution's output is never stored): (y (N, O, Ho//2,
    Wo//2), argmax int32 as y, flat index in the (Ho, Wo) plane)."""
    N, C, _, _, O, kh, kw, sh, sw, ph, pw, Ho, Wo = contracts.conv2d_relu_maxpool2x2(NUMPY, x, w, b, stride, padding)
    if not _fuse_pool(C, O, kh, kw, sh, sw, ph, pw, Ho, Wo):
        return maxpool2d_forward(conv2d_forward(x, w, b, stride, padding, relu=True), (2, 2), (2, 2), (0, 0))
    y = np.empty((N, O, Ho // 2, Wo // 2), x.dtype)
    argmax = np.empty(y.shape, np.int32)
    b = np.zeros(O, x.dtype) if b is None else b
    conv_direct.forward(np.ascontiguousarray(x), w, b, (sh, sw), (ph, pw), y, relu=True, argmax=argmax)
    return y, argmax


def conv2d_act_avgpool2x2(x, w, b, stride, padding, act):
    """a = act(conv(x, w) + b), act "sigmoid" or "tanh", and y = avgpool2d_forward(a, 2, 2, 0),
    in one pass where the direct kernels run the layer (the activation runs on the
    convolution's output while it is in cache): (y (N, O, Ho//2, Wo//2), a (N, O, Ho, Wo)),
    a for the backward (act_avgpool2x2_backward)."""
    N, C, _, _, O, kh, kw, sh, sw, ph, pw, Ho, Wo = contracts.conv2d_act_avgpool2x2(NUMPY, x, w, b, stride, padding,
                                                                                    act)
    if not _fuse_pool(C, O, kh, kw, sh, sw, ph, pw, Ho, Wo):
        a = (sigmoid_forward if act == "sigmoid" else tanh_forward)(conv2d_forward(x, w, b, stride, padding))
        return avgpool2d_forward(a, (2, 2), (2, 2), (0, 0)), a
    y = np.empty((N, O, Ho // 2, Wo // 2), x.dtype)
    a = np.empty((N, O, Ho, Wo), x.dtype)
    b = np.zeros(O, x.dtype) if b is None else b
    conv_direct.forward(np.ascontiguousarray(x), w, b, (sh, sw), (ph, pw), y, act=act, a=a)
    return y, a


def conv2d_backward(x, w, grad_y, stride, padding, need_input_grad=True):
    """Gradients of conv2d_forward: returns (dx or None, dw (O, C, kh, kw), db (O,))."""
    N, C, H, W, O, kh, kw, sh, sw, ph, pw, Ho, Wo = contracts.conv2d_backward(NUMPY, x, w, grad_y, stride, padding,
                                                                              need_input_grad)
    x = np.ascontiguousarray(x)
    grad_y = np.ascontiguousarray(grad_y)
    K, P = C * kh * kw, Ho * Wo
    dt = x.dtype
    if _use_winograd(C, O, kh, kw, sh, sw, ph, pw, Ho, Wo):
        dx = None
        if need_input_grad:  # first: the transformed filter is freed before the weight gradient's sums
            dx = winograd.backward_input(grad_y, w, ph, np.empty(x.shape, dt))
        dw, db = winograd.backward_weight(x, grad_y, ph)
        return dx, dw, db
    if _use_pointwise(C, O, kh, kw, sh, sw, ph, pw):
        return pointwise.backward(x, w, grad_y, need_input_grad)
    if _use_direct(C, O, kh, kw, sh, sw, ph, pw):
        dw, db = np.empty(w.shape, dt), np.zeros(O, dt)
        conv_direct.backward_weight(x, grad_y, (sh, sw), (ph, pw), dw, db)
        dx = None
        if need_input_grad:
            dx = conv_direct.backward_input(grad_y, w, (sh, sw), (ph, pw), np.empty(x.shape, dt))
        return dx, dw, db
    if _use_smallmap(H, W, kh, kw, sh, sw, ph, pw, Ho, Wo):
        return smallmap.backward(x, w, grad_y, (sh, sw), (ph, pw), need_input_grad)
    dx = np.empty(x.shape, dt) if need_input_grad else None
    wt = np.ascontiguousarray(w.reshape(O, K).T) if need_input_grad else None
    sums = []
    _over_samples(_backward_samples, x, K, P, wt, grad_y.reshape(N, O, P), kh, kw, sh, sw, ph, pw, Ho, Wo,
                  dx, sums)
    dwt, db = sums[0]
    for part, dbp in sums[1:]:
        dwt += part
        db += dbp
    dw = np.ascontiguousarray(dwt.T).reshape(w.shape)
    return dx, dw, db
