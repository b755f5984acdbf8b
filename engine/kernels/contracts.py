"""What every kernel entry point takes, written once for both kernel sets.

Each function here has the name of the kernel it guards (or of the family, taking the
kernel's name) and takes that kernel's arguments after the set's
:class:`.checks.Arrays`; both sets call it first thing, so no caller can make a kernel
read or write outside its arrays. It checks the arrays' kind, number of dimensions,
every shape relation between them, their dtype (float32, or float64 for gradient
checks; all float arrays of one call share one dtype; targets int64, max-pool winners
int32), the layout of arrays written in place (C-contiguous), the geometry (kernel and
stride >= 1, padding >= 0 (at most half the kernel for pools), an output of at least
1x1) and the scalars, and raises :class:`engine.errors.ShapeError` with one sentence
otherwise. Some return what the kernel needs next (the convolution's geometry, a pool's
output shape).

A batch of 0 samples gives the empty result (and zero parameter gradients) everywhere
that result is defined; batch-norm training (no batch statistics) and the losses (no
mean) refuse it. Other empty dimensions are errors in the layer kernels; plumbing and
optimizer steps take any empty array and do nothing. Index values (cross-entropy
targets, max-pool winners) are checked by each set where it indexes memory with them
(see the sets' docstrings).
"""
from __future__ import annotations

import math

import numpy as np

from .checks import (ANY, BATCH, SAMPLES, Arrays, array, fail, flag, floats, indices, integer, ndim, pair, real,
                     shape, shape_arg, show, writable)

NCHW = "(N, C, H, W)"
_INT64, _INT32 = np.dtype(np.int64), np.dtype(np.int32)


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution or pooling window along one axis:
    (N + 2p - F) // s + 1 (the floor drops input rows no window reaches); kernel and
    stride >= 1, padding >= 0."""
    if not (type(size) is int and type(kernel) is int and type(stride) is int and type(padding) is int
            and size >= 0 and kernel >= 1 and stride >= 1 and padding >= 0):  # the common case, fast
        fn = "conv_output_size"
        integer(fn, "size", size, 0)
        integer(fn, "kernel", kernel, 1)
        integer(fn, "stride", stride, 1)
        integer(fn, "padding", padding, 0)
    return (size + 2 * padding - kernel) // stride + 1


_PARAMS = ("w", "b", "gamma", "beta", "running_mean", "running_var")
"""Arrays never empty (``floats(full=...)``): weights, biases, per-channel parameters."""


# --- convolution ---------------------------------------------------------------------------
def _conv(A: Arrays, fn: str, x, w, b, stride, padding) -> tuple:
    """x (N, C, H, W), w (O, C, kh, kw) and b (O,) or None, of one float dtype, with a
    geometry that gives an output of at least 1x1. Returns the convolution's geometry
    (N, C, H, W, O, kh, kw, sh, sw, ph, pw, Ho, Wo)."""
    if b is None:
        floats(A, fn, "x", x, "w", w, full=_PARAMS)
    else:
        floats(A, fn, "x", x, "w", w, "b", b, full=_PARAMS)
    ndim(fn, "x", x, 4, NCHW)
    ndim(fn, "w", w, 4, "(O, C, kh, kw)")
    N, C, H, W = x.shape
    O, Cw, kh, kw = w.shape
    if Cw != C:
        fail(fn, f"x has {C} channels (shape {tuple(x.shape)}) but w takes {Cw} (shape {tuple(w.shape)})")
    if b is not None:
        shape(fn, "b", b, (O,), "(one value per output channel of w)")
    sh, sw = pair(fn, "stride", stride, 1)
    ph, pw = pair(fn, "padding", padding, 0)
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    if Ho < 1 or Wo < 1:
        fail(fn, f"a {kh}x{kw} kernel with padding {(ph, pw)} does not fit x of shape {tuple(x.shape)}")
    return N, C, H, W, O, kh, kw, sh, sw, ph, pw, Ho, Wo


def conv2d_forward(A: Arrays, x, w, b, stride, padding, relu) -> tuple:
    """Returns the geometry (N, C, H, W, O, kh, kw, sh, sw, ph, pw, Ho, Wo)."""
    fn = "conv2d_forward"
    g = _conv(A, fn, x, w, b, stride, padding)
    flag(fn, "relu", relu)
    return g


def conv2d_relu_maxpool2x2(A: Arrays, x, w, b, stride, padding) -> tuple:
    """Returns the convolution's geometry (N, C, H, W, O, kh, kw, sh, sw, ph, pw, Ho, Wo)."""
    fn = "conv2d_relu_maxpool2x2"
    g = _conv(A, fn, x, w, b, stride, padding)
    Ho, Wo = g[11], g[12]
    if Ho < 2 or Wo < 2:
        fail(fn, f"the convolution gives {Ho}x{Wo} maps; a 2x2 pool needs at least 2x2")
    return g


POOLED_ACTIVATIONS = ("sigmoid", "tanh")
"""The activations conv2d_act_avgpool2x2 applies before its average pool."""


def _pooled_activation(fn: str, act) -> None:
    if not (isinstance(act, str) and act in POOLED_ACTIVATIONS):
        fail(fn, f"act is {show(act)}; it must be 'sigmoid' or 'tanh'")


def conv2d_act_avgpool2x2(A: Arrays, x, w, b, stride, padding, act) -> tuple:
    """Returns the convolution's geometry (N, C, H, W, O, kh, kw, sh, sw, ph, pw, Ho, Wo)."""
    fn = "conv2d_act_avgpool2x2"
    g = _conv(A, fn, x, w, b, stride, padding)
    if g[11] < 2 or g[12] < 2:
        fail(fn, f"the convolution gives {g[11]}x{g[12]} maps; a 2x2 pool needs at least 2x2")
    _pooled_activation(fn, act)
    return g


def act_avgpool2x2_backward(A: Arrays, grad_y, a, act) -> None:
    """a (N, C, H, W) of at least 2x2 and grad_y (N, C, H//2, W//2), one float dtype."""
    fn = "act_avgpool2x2_backward"
    floats(A, fn, "a", a, "grad_y", grad_y)
    ndim(fn, "a", a, 4, NCHW)
    N, C, H, W = a.shape
    if H < 2 or W < 2:
        fail(fn, f"a has shape {tuple(a.shape)}; a 2x2 pool needs maps of at least 2x2")
    shape(fn, "grad_y", grad_y, (N, C, H // 2, W // 2), "(the 2x2 pooling of a)")
    _pooled_activation(fn, act)


def conv2d_backward(A: Arrays, x, w, grad_y, stride, padding, need_input_grad) -> tuple:
    """Returns the geometry (N, C, H, W, O, kh, kw, sh, sw, ph, pw, Ho, Wo)."""
    fn = "conv2d_backward"
    g = _conv(A, fn, x, w, None, stride, padding)
    floats(A, fn, "grad_y", grad_y, dtype=x.dtype)
    shape(fn, "grad_y", grad_y, (g[0], g[4], g[11], g[12]), "for this x, w, stride and padding")
    flag(fn, "need_input_grad", need_input_grad)
    return g


# --- linear ----------------------------------------------------------------------------------
def _linear(A: Arrays, fn: str, x, w) -> None:
    floats(A, fn, "x", x, "w", w, full=_PARAMS)
    ndim(fn, "x", x, 2, "(N, in_features)")
    ndim(fn, "w", w, 2, "(out_features, in_features)")
    if x.shape[1] != w.shape[1]:
        fail(fn, f"x has {x.shape[1]} features (shape {tuple(x.shape)}) but w takes {w.shape[1]} "
                 f"(shape {tuple(w.shape)})")


def linear_forward(A: Arrays, x, w, b) -> None:
    fn = "linear_forward"
    _linear(A, fn, x, w)
    if b is not None:
        floats(A, fn, "b", b, dtype=x.dtype, full=_PARAMS)
        shape(fn, "b", b, (w.shape[0],), "(one value per output feature of w)")


def linear_backward(A: Arrays, x, w, grad_y, need_input_grad) -> None:
    fn = "linear_backward"
    _linear(A, fn, x, w)
    floats(A, fn, "grad_y", grad_y, dtype=x.dtype)
    shape(fn, "grad_y", grad_y, (x.shape[0], w.shape[0]), "for this x and w")
    flag(fn, "need_input_grad", need_input_grad)


# --- element-wise ----------------------------------------------------------------------------
def unary(A: Arrays, fn: str, x) -> None:
    """A float array of any shape (the activations' forward)."""
    floats(A, fn, "x", x)


def unary_backward(A: Arrays, fn: str, saved_name: str, saved, grad_y) -> None:
    """``saved`` (the forward's x, y or mask) and grad_y: one shape and float dtype."""
    floats(A, fn, saved_name, saved, "grad_y", grad_y)
    shape(fn, "grad_y", grad_y, saved.shape, f"(the shape of {saved_name})")


def leaky_relu(A: Arrays, fn: str, negative_slope) -> None:
    real(fn, "negative_slope", negative_slope)


def dropout_forward(A: Arrays, x, p, seed) -> None:
    fn = "dropout_forward"
    floats(A, fn, "x", x)
    real(fn, "p", p, 0, 1)
    integer(fn, "seed", seed, 0, 2**32)


# --- pooling ---------------------------------------------------------------------------------
def _window(fn: str, kernel, stride, padding) -> tuple:
    """(kh, kw, sh, sw, ph, pw): padding at most half the kernel, as torch (so every
    window holds at least one input element)."""
    kh, kw = pair(fn, "kernel", kernel, 1)
    sh, sw = pair(fn, "stride", stride, 1)
    ph, pw = pair(fn, "padding", padding, 0)
    if 2 * ph > kh or 2 * pw > kw:
        fail(fn, f"padding {(ph, pw)} is more than half the kernel {(kh, kw)}")
    return kh, kw, sh, sw, ph, pw


def _pooled(fn: str, x_shape: tuple, win: tuple) -> tuple:
    """(N, C, Ho, Wo) of a pool of window ``win`` over x_shape (N, C, H, W); at least 1x1."""
    N, C, H, W = x_shape
    kh, kw, sh, sw, ph, pw = win
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    if Ho < 1 or Wo < 1:
        fail(fn, f"a {kh}x{kw} window with padding {(ph, pw)} does not fit an input of shape {x_shape}")
    return int(N), int(C), Ho, Wo


def _pool_forward(A: Arrays, fn: str, x, kernel, stride, padding) -> tuple:
    floats(A, fn, "x", x)
    ndim(fn, "x", x, 4, NCHW)
    win = _window(fn, kernel, stride, padding)
    return _pooled(fn, tuple(x.shape), win), win


def maxpool2d_forward(A: Arrays, x, kernel, stride, padding) -> tuple:
    """Returns ((N, C, Ho, Wo), (kh, kw, sh, sw, ph, pw))."""
    return _pool_forward(A, "maxpool2d_forward", x, kernel, stride, padding)


def avgpool2d_forward(A: Arrays, x, kernel, stride, padding, count_include_pad) -> tuple:
    """Returns ((N, C, Ho, Wo), (kh, kw, sh, sw, ph, pw))."""
    out = _pool_forward(A, "avgpool2d_forward", x, kernel, stride, padding)
    flag("avgpool2d_forward", "count_include_pad", count_include_pad)
    return out


def _x_shape(A: Arrays, fn: str, grad_y, x_shape) -> tuple:
    """grad_y (N, C, Ho, Wo) and x_shape (N, C, H, W) with the same N and C; returns x_shape."""
    floats(A, fn, "grad_y", grad_y)
    ndim(fn, "grad_y", grad_y, 4, "(N, C, Ho, Wo)")
    xs = shape_arg(fn, "x_shape", x_shape, 4)
    if xs[:2] != tuple(grad_y.shape[:2]):
        fail(fn, f"grad_y has shape {tuple(grad_y.shape)} but x_shape is {xs}; "
                 "their first two dimensions (N, C) must agree")
    return xs


def maxpool2d_backward(A: Arrays, grad_y, argmax, x_shape, y) -> tuple:
    """argmax is int32 of grad_y's shape (its values are each set's to check, where it
    indexes with them). Returns x_shape as a tuple."""
    fn = "maxpool2d_backward"
    xs = _x_shape(A, fn, grad_y, x_shape)
    indices(A, fn, "argmax", argmax, _INT32, grad_y.shape)
    if y is not None:
        floats(A, fn, "y", y, dtype=grad_y.dtype)
        shape(fn, "y", y, grad_y.shape, "(the shape of grad_y)")
    return xs


def avgpool2d_backward(A: Arrays, grad_y, x_shape, kernel, stride, padding, count_include_pad) -> tuple:
    """Returns (x_shape, (kh, kw, sh, sw, ph, pw))."""
    fn = "avgpool2d_backward"
    xs = _x_shape(A, fn, grad_y, x_shape)
    win = _window(fn, kernel, stride, padding)
    shape(fn, "grad_y", grad_y, _pooled(fn, xs, win), f"for x_shape {xs} and this window")
    flag(fn, "count_include_pad", count_include_pad)
    return xs, win


def adaptive_avgpool2d_forward(A: Arrays, x, output_size) -> tuple:
    """Returns (N, C, Ho, Wo)."""
    fn = "adaptive_avgpool2d_forward"
    floats(A, fn, "x", x)
    ndim(fn, "x", x, 4, NCHW)
    Ho, Wo = pair(fn, "output_size", output_size, 1)
    return int(x.shape[0]), int(x.shape[1]), Ho, Wo


def adaptive_avgpool2d_backward(A: Arrays, grad_y, x_shape) -> tuple:
    """Returns x_shape as a tuple."""
    return _x_shape(A, "adaptive_avgpool2d_backward", grad_y, x_shape)


# --- normalisation ---------------------------------------------------------------------------
def ncl(shape: tuple) -> tuple:
    """(N, C, L) of an (N, C, ...) shape, L the product of the rest (1 for none)."""
    return int(shape[0]), int(shape[1]), math.prod(int(s) for s in shape[2:])


def _channels(A: Arrays, fn: str, name: str, x, empty: str, **per_channel) -> tuple:
    """x (N, C, ...) (called ``name``, empty as ``empty`` allows) and non-empty arrays of
    shape (C,) of its dtype. Returns x's (N, C, L)."""
    floats(A, fn, name, x, *[v for item in per_channel.items() for v in item], empty=empty, full=_PARAMS)
    ndim(fn, name, x, 2, "(N, C, ...)", at_least=True)
    C = (x.shape[1],)
    for other, a in per_channel.items():
        shape(fn, other, a, C, f"(one value per channel of {name}, shape {tuple(x.shape)})")
    return ncl(x.shape)


def batchnorm_forward_train(A: Arrays, x, gamma, beta, running_mean, running_var, momentum, eps,
                            relu, residual) -> tuple:
    """residual: None or an array of x's shape and dtype. Returns x's (N, C, L)."""
    fn = "batchnorm_forward_train"
    dims = _channels(A, fn, "x", x, SAMPLES, gamma=gamma, beta=beta, running_mean=running_mean,
                     running_var=running_var)
    if residual is not None:
        floats(A, fn, "x", x, "residual", residual, empty=SAMPLES)
        shape(fn, "residual", residual, x.shape, "(the shape of x)")
    writable(A, fn, "running_mean", running_mean)
    writable(A, fn, "running_var", running_var)
    real(fn, "momentum", momentum, 0, 1)
    real(fn, "eps", eps, 0)
    flag(fn, "relu", relu)
    return dims


def batchnorm_forward_eval(A: Arrays, x, gamma, beta, running_mean, running_var, eps) -> tuple:
    """Returns x's (N, C, L)."""
    fn = "batchnorm_forward_eval"
    dims = _channels(A, fn, "x", x, BATCH, gamma=gamma, beta=beta, running_mean=running_mean,
                     running_var=running_var)
    real(fn, "eps", eps, 0)
    return dims


def batchnorm_backward(A: Arrays, grad_y, gamma, cache, relu_y) -> tuple:
    """Checks grad_y, gamma, relu_y and the cache's outline (a tuple of three whose last
    item says whether batch statistics were used); each set then checks the arrays inside
    its own cache (:func:`cache_array`). Returns grad_y's (N, C, L)."""
    fn = "batchnorm_backward"
    if not (isinstance(cache, tuple) and len(cache) == 3 and isinstance(cache[2], (bool, np.bool_))):
        fail(fn, "cache is not what this kernel set's batchnorm forward returned")
    dims = _channels(A, fn, "grad_y", grad_y, SAMPLES if cache[2] else BATCH, gamma=gamma)
    if relu_y is not None:
        floats(A, fn, "relu_y", relu_y, dtype=grad_y.dtype)
        shape(fn, "relu_y", relu_y, grad_y.shape, "(the shape of grad_y)")
    return dims


def cache_array(A: Arrays, name: str, a, want: tuple, dtype) -> None:
    """One array inside a batch-norm cache: ``want`` shape and ``dtype``."""
    fn = "batchnorm_backward"
    floats(A, fn, name, a, dtype=dtype, empty=ANY)
    shape(fn, name, a, want, "for this grad_y (was the cache made by another call?)")


def batchnorm_fold(A: Arrays, w, b, gamma, beta, running_mean, running_var, eps) -> tuple:
    """w (O, ...): the weight of the layer before an eval-mode batch norm of its O outputs,
    b (O,) or None: its bias, and the batch norm's per-channel arrays (O,), all of one
    float dtype; eps >= 0. Returns (O, K): w as O rows of K weights."""
    fn = "batchnorm_fold"
    named = ("w", w, "gamma", gamma, "beta", beta, "running_mean", running_mean, "running_var", running_var)
    floats(A, fn, *named, *(() if b is None else ("b", b)), full=_PARAMS)
    ndim(fn, "w", w, 2, "(O, ...)", at_least=True)
    Co = w.shape[0]
    for name, a in (("b", b), ("gamma", gamma), ("beta", beta), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if a is not None:
            shape(fn, name, a, (Co,), f"(one value per output channel of w, shape {tuple(w.shape)})")
    real(fn, "eps", eps, 0)
    return Co, math.prod(w.shape[1:])


def lrn_forward(A: Arrays, x, size, alpha, beta, k) -> tuple:
    """Returns x's (N, C, L)."""
    fn = "lrn_forward"
    floats(A, fn, "x", x)
    ndim(fn, "x", x, 2, "(N, C, ...)", at_least=True)
    integer(fn, "size", size, 1)
    real(fn, "alpha", alpha)
    real(fn, "beta", beta)
    real(fn, "k", k)
    return ncl(x.shape)


def lrn_backward(A: Arrays, x, y, s, grad_y, size, alpha, beta) -> tuple:
    """Returns x's (N, C, L)."""
    fn = "lrn_backward"
    floats(A, fn, "x", x, "y", y, "s", s, "grad_y", grad_y)
    ndim(fn, "x", x, 2, "(N, C, ...)", at_least=True)
    for name, a in (("y", y), ("s", s), ("grad_y", grad_y)):
        shape(fn, name, a, x.shape, "(the shape of x)")
    integer(fn, "size", size, 1)
    real(fn, "alpha", alpha)
    real(fn, "beta", beta)
    return ncl(x.shape)


# --- losses ----------------------------------------------------------------------------------
def cross_entropy(A: Arrays, fn: str, name: str, z, targets, label_smoothing) -> None:
    """z (N, K) (logits or probs; N >= 1) and int64 targets (N,); their values are each
    set's to check (:func:`target_range`)."""
    floats(A, fn, name, z, empty=SAMPLES)
    ndim(fn, name, z, 2, "(N, classes)")
    indices(A, fn, "targets", targets, _INT64, (z.shape[0],))
    real(fn, "label_smoothing", label_smoothing, 0, 1, hi_open=True)


def target_range(fn: str, lo: int, hi: int, K: int) -> None:
    """Raises unless the smallest and largest target lie in [0, K)."""
    if lo < 0 or hi >= K:
        fail(fn, f"targets run from {lo} to {hi}; class indices must be in [0, {K})")


def mse(A: Arrays, fn: str, y, target) -> None:
    """y a non-empty float array; target an array of its shape and any real dtype (the
    kernel converts it to y's)."""
    floats(A, fn, "y", y, empty=SAMPLES)
    array(A, fn, "target", target)
    if target.dtype.kind not in "iuf":
        fail(fn, f"target has dtype {target.dtype}; it must hold real numbers")
    shape(fn, "target", target, y.shape, "(the shape of y)")


# --- optimizers ------------------------------------------------------------------------------
def _state(A: Arrays, fn: str, p, g, **state) -> None:
    """p, g and the optimizer state: one shape and float dtype; p and the state are
    written in place."""
    floats(A, fn, "p", p, "g", g, *[v for item in state.items() for v in item], empty=ANY)
    shape(fn, "g", g, p.shape, "(the shape of p)")
    writable(A, fn, "p", p)
    for name, a in state.items():
        shape(fn, name, a, p.shape, "(the shape of p)")
        writable(A, fn, name, a)


def sgd_step(A: Arrays, p, g, buf, lr, momentum, dampening, nesterov, weight_decay, first) -> None:
    fn = "sgd_step"
    _state(A, fn, p, g, buf=buf)
    real(fn, "lr", lr)
    real(fn, "momentum", momentum)
    real(fn, "dampening", dampening)
    flag(fn, "nesterov", nesterov)
    real(fn, "weight_decay", weight_decay)
    flag(fn, "first", first)


def adam_step(A: Arrays, p, g, m, v, lr, betas, eps, weight_decay, decoupled, step) -> None:
    fn = "adam_step"
    _state(A, fn, p, g, m=m, v=v)
    real(fn, "lr", lr)
    if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
        fail(fn, f"betas is {show(betas)}; it must be a pair of numbers in [0, 1)")
    real(fn, "betas[0]", betas[0], 0, 1, hi_open=True)
    real(fn, "betas[1]", betas[1], 0, 1, hi_open=True)
    real(fn, "eps", eps)
    real(fn, "weight_decay", weight_decay)
    flag(fn, "decoupled", decoupled)
    integer(fn, "step", step, 1)


# --- plumbing --------------------------------------------------------------------------------
def _summands(A: Arrays, fn: str, a, b) -> None:
    floats(A, fn, "a", a, "b", b, empty=ANY)
    shape(fn, "b", b, a.shape, "(the shape of a)")


def add(A: Arrays, a, b, relu) -> None:
    """a and b: one shape and float dtype."""
    _summands(A, "add", a, b)
    flag("add", "relu", relu)


def add_(A: Arrays, a, b) -> None:
    """a and b: one shape and float dtype; a is written in place."""
    _summands(A, "add_", a, b)
    writable(A, "add_", "a", a)


def concat_channels(A: Arrays, xs) -> None:
    """A non-empty list of (N, C_i, ...) arrays of one float dtype, alike but in C_i."""
    fn = "concat_channels"
    if not isinstance(xs, (list, tuple)) or not xs:
        fail(fn, f"xs is {show(xs)}; it must be a non-empty list of arrays")
    floats(A, fn, *[v for i, x in enumerate(xs) for v in (f"xs[{i}]", x)], empty=ANY)
    first = xs[0]
    ndim(fn, "xs[0]", first, 2, "(N, C, ...)", at_least=True)
    for i, x in enumerate(xs[1:], 1):
        if len(x.shape) != len(first.shape) or x.shape[0] != first.shape[0] or x.shape[2:] != first.shape[2:]:
            fail(fn, f"xs[{i}] has shape {tuple(x.shape)} but xs[0] has {tuple(first.shape)}; "
                     "they may differ in channels (axis 1) only")


def split_channels(A: Arrays, g, sizes) -> None:
    """g (N, C, ...) and channel counts that add up to C."""
    fn = "split_channels"
    floats(A, fn, "g", g, empty=ANY)
    ndim(fn, "g", g, 2, "(N, C, ...)", at_least=True)
    if not isinstance(sizes, (list, tuple)):
        fail(fn, f"sizes is {show(sizes)}; it must be a list of channel counts")
    for s in sizes:
        integer(fn, "each of sizes", s, 0)
    if sum(sizes) != g.shape[1]:
        fail(fn, f"sizes {list(sizes)} add up to {sum(sizes)} but g has {g.shape[1]} channels")


def argmax_rows(A: Arrays, logits) -> None:
    """(N, K) floats with K >= 1 (N may be 0)."""
    fn = "argmax_rows"
    floats(A, fn, "logits", logits, empty=ANY)
    ndim(fn, "logits", logits, 2, "(N, classes)")
    if logits.shape[1] < 1:
        fail(fn, f"logits has shape {tuple(logits.shape)}; it needs at least one class")


def dtype_arg(fn: str, dtype) -> np.dtype:
    """``dtype`` as a numpy dtype of booleans, integers or floats."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        fail(fn, f"dtype {show(dtype)} is not a numpy dtype")
    if dt.kind not in "biuf":
        fail(fn, f"dtype {dt} is not numeric; kernel arrays hold booleans, integers or floats")
    return dt


def asarray(a, dtype) -> np.ndarray:
    """``a`` as a C-contiguous numpy array of ``dtype`` (default: its own) holding numbers."""
    fn = "asarray"
    dt = None if dtype is None else dtype_arg(fn, dtype)
    try:
        host = np.asarray(a, dtype=dt, order="C")  # keeps 0-d arrays 0-d
    except (TypeError, ValueError) as e:
        fail(fn, f"cannot make an array of the {type(a).__name__} given ({e})")
    if host.dtype.kind not in "biuf":
        fail(fn, f"got an array of dtype {host.dtype}; kernel arrays hold booleans, integers or floats")
    return host


def zeros(A: Arrays, shape_, dtype) -> tuple:
    """A shape (an integer or a tuple of them, each >= 0) and a numeric dtype; returns
    the shape as a tuple of ints."""
    fn = "zeros"
    dims = (shape_,) if isinstance(shape_, (int, np.integer)) else shape_
    if not isinstance(dims, (tuple, list)) or not all(isinstance(s, (int, np.integer)) and s >= 0 for s in dims):
        fail(fn, f"shape is {show(shape_)}; it must be an integer >= 0 or a tuple of them")
    dtype_arg(fn, dtype)
    return tuple(int(s) for s in dims)


def zeros_like(A: Arrays, a) -> None:
    array(A, "zeros_like", "a", a)


def _destination(A: Arrays, fn: str, a) -> None:
    """fill's and copy_into's target: a writable numpy array (any layout), or an array
    the set writes in place."""
    if isinstance(a, np.ndarray):
        if not a.flags.writeable:
            fail(fn, "the destination array is read-only")
        return
    writable(A, fn, "the destination", a)


def fill(A: Arrays, a, value) -> None:
    _destination(A, "fill", a)
    real("fill", "value", value)


def copy_into(A: Arrays, dst, src) -> None:
    """src: an array of dst's shape whose dtype converts to dst's ("same_kind")."""
    fn = "copy_into"
    _destination(A, fn, dst)
    array(A, fn, "src", src)
    shape(fn, "src", src, dst.shape, "(the shape of dst)")
    if src.dtype != dst.dtype and not np.can_cast(src.dtype, dst.dtype, "same_kind"):
        fail(fn, f"src has dtype {src.dtype}, which does not convert to dst's {dst.dtype}")
