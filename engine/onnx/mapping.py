"""What each engine operation is in ONNX: ``RULES[Function class](tracer, *args, **kwargs)``
appends the nodes that compute the call's eval-mode result (through the
:class:`~engine.onnx.trace.Tracer`) and returns the name of its output.

Layers (:mod:`engine.nn.functional`): conv2d -> Conv (then Relu, or a 2x2 MaxPool /
AveragePool where the engine fused them), linear -> Gemm (transB), batch norm (eval) ->
BatchNormalization, pooling -> MaxPool / AveragePool, adaptive average pooling ->
GlobalAveragePool, an AveragePool where the sizes divide, else two MatMuls with averaging
matrices; LocalResponseNorm -> LRN (odd sizes), the activations, softmax and log_softmax,
channel concatenation -> Concat, dropout -> Identity. Tensor operations
(:mod:`engine.autograd.ops`): + - * / ** and the unary math, clamp -> Clip, matmul, sum
and mean (ReduceSum, then Div for the mean), reshape/view/flatten -> Reshape, permute ->
Transpose, basic indexing (ints, slices, None, ...) -> Slice / Squeeze / Unsqueeze,
expand, cat, stack, pad; clone and device moves -> Identity. Anything else (argmax,
comparisons, a user's autograd.Function, losses...) has no rule, and the tracer refuses it.
"""
from __future__ import annotations

import numpy as np

from ..autograd import ops as tops
from ..nn import functional as F

__all__ = ["RULES"]

INT64_MAX, INT64_MIN = np.iinfo(np.int64).max, np.iinfo(np.int64).min


def _pads(padding) -> list:
    """ONNX pads (begin of each axis, then end of each) for torch's symmetric (ph, pw)."""
    return [padding[0], padding[1], padding[0], padding[1]]


def _axes(tr, axes) -> str:
    return tr.const(np.asarray(axes, np.int64), "axes")


# --- layers --------------------------------------------------------------------------------
def _conv_node(tr, x, w, b, stride, padding) -> str:
    inputs = [tr.input(x), tr.input(w)] + ([tr.input(b)] if b is not None else [])
    return tr.emit("Conv", inputs, kernel_shape=list(w.shape[2:]), strides=list(stride), pads=_pads(padding))


def _conv(tr, x, w, b, stride, padding, relu):
    y = _conv_node(tr, x, w, b, stride, padding)
    return tr.emit("Relu", [y]) if relu else y


def _conv_relu_maxpool(tr, x, w, b, stride, padding):
    y = tr.emit("Relu", [_conv_node(tr, x, w, b, stride, padding)])
    return tr.emit("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])


def _conv_act_avgpool(tr, x, w, b, stride, padding, act):
    y = tr.emit({"sigmoid": "Sigmoid", "tanh": "Tanh"}[act], [_conv_node(tr, x, w, b, stride, padding)])
    return tr.emit("AveragePool", [y], kernel_shape=[2, 2], strides=[2, 2])


def _linear(tr, x, w, b):
    inputs = [tr.input(x), tr.input(w)] + ([tr.input(b)] if b is not None else [])
    return tr.emit("Gemm", inputs, transB=1)


def _batch_norm(tr, x, gamma, beta, running_mean, running_var, training, momentum, eps, relu, residual=None):
    if training:   # (a residual joins the norm only in training)
        tr.fail("normalises with the batch's statistics (training=True); export runs batch norm in eval form, "
                "so call it with training=self.training")
    y = tr.emit("BatchNormalization", [tr.input(a) for a in (x, gamma, beta, running_mean, running_var)],
                epsilon=eps)
    return tr.emit("Relu", [y]) if relu else y


def _max_pool(tr, x, kernel, stride, padding):
    return tr.emit("MaxPool", [tr.input(x)], kernel_shape=list(kernel), strides=list(stride), pads=_pads(padding))


def _avg_pool(tr, x, kernel, stride, padding, count_include_pad):
    return tr.emit("AveragePool", [tr.input(x)], kernel_shape=list(kernel), strides=list(stride),
                   pads=_pads(padding), count_include_pad=int(count_include_pad))


def _averaging(size: int, out: int) -> np.ndarray:
    """(out, size) matrix whose row o averages torch's adaptive window
    [floor(o*size/out), ceil((o+1)*size/out))."""
    a = np.zeros((out, size), np.float32)
    for o in range(out):
        lo, hi = (o * size) // out, -((-(o + 1) * size) // out)
        a[o, lo:hi] = 1.0 / (hi - lo)
    return a


def _adaptive_avg_pool(tr, x, size):
    (h, w), (oh, ow) = x.shape[2:], size
    if (oh, ow) == (1, 1):
        return tr.emit("GlobalAveragePool", [tr.input(x)])
    if h % oh == 0 and w % ow == 0:
        k = [h // oh, w // ow]
        return tr.emit("AveragePool", [tr.input(x)], kernel_shape=k, strides=k)
    t = tr.emit("MatMul", [tr.input(x), tr.const(_averaging(w, ow).T.copy(), "cols")])    # (N, C, H, ow)
    return tr.emit("MatMul", [tr.const(_averaging(h, oh), "rows"), t])                     # (N, C, oh, ow)


def _lrn(tr, x, size, alpha, beta, k):
    if size % 2 == 0:
        tr.fail(f"has an even size ({size}); ONNX's LRN centres an even window one channel off torch's, so only "
                "odd sizes export")
    return tr.emit("LRN", [tr.input(x)], size=size, alpha=alpha, beta=beta, bias=k)


def _unary(op_type, **attributes):
    def rule(tr, x, *args):
        return tr.emit(op_type, [tr.input(x)], **{k: f(*args) for k, f in attributes.items()})
    return rule


def _identity(tr, x, *args, **kwargs):
    return tr.emit("Identity", [tr.input(x)])


def _concat_channels(tr, *xs):
    return tr.emit("Concat", [tr.input(x) for x in xs], axis=1)


# --- tensor operations ------------------------------------------------------------------------
def _binary(op_type):
    def rule(tr, a, b):
        return tr.emit(op_type, [tr.input(a), tr.input(b)])
    return rule


def _add_same_shape(tr, a, b, relu=False):
    y = tr.emit("Add", [tr.input(a), tr.input(b)])
    return tr.emit("Relu", [y]) if relu else y


def _clamp(tr, a, min=None, max=None):
    inputs = [tr.input(a)] + [tr.const(np.asarray(v, np.float32), "bound") if v is not None else ""
                              for v in (min, max)]
    while inputs[-1] == "":      # optional inputs left out at the end
        inputs.pop()
    return tr.emit("Clip", inputs)


def _reduce_axes(a, dim) -> list | None:
    if dim is None:
        return None
    return [tops.dim_index(d, a.ndim) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))]


def _sum(tr, a, dim=None, keepdim=False):
    axes = _reduce_axes(a, dim)
    inputs = [tr.input(a)] + ([_axes(tr, axes)] if axes is not None else [])
    return tr.emit("ReduceSum", inputs, keepdims=int(keepdim))


def _mean(tr, a, dim=None, keepdim=False):
    axes = _reduce_axes(a, dim)
    count = int(np.prod(a.shape)) if axes is None else int(np.prod([a.shape[i] for i in axes]))
    total = _sum(tr, a, dim, keepdim)
    return tr.emit("Div", [total, tr.const(np.asarray(count, np.float32), "count")])


def _reshape(tr, a, shape):
    return tr.emit("Reshape", [tr.input(a), tr.target_shape(tr.outputs[0].shape)])


def _permute(tr, a, dims):
    return tr.emit("Transpose", [tr.input(a)], perm=list(dims))


def _index(tr, a, key):
    """Basic indexing: ints, slices, None and one Ellipsis -> Slice, Squeeze, Unsqueeze."""
    key = key if isinstance(key, tuple) else (key,)
    if not all(k is None or k is Ellipsis or isinstance(k, slice) or _is_int(k) for k in key) or (
            sum(k is Ellipsis for k in key) > 1):
        tr.fail("indexes with arrays, lists or booleans; only ints, slices, None and ... export")
    if any(k is Ellipsis for k in key):
        i = next(i for i, k in enumerate(key) if k is Ellipsis)
        used = sum(k is not None and k is not Ellipsis for k in key)
        key = key[:i] + (slice(None),) * (a.ndim - used) + key[i + 1:]
    starts, ends, axes, steps, drop, new = [], [], [], [], [], []
    axis = out = 0
    for k in key:
        if k is None:
            new.append(out)
            out += 1
            continue
        if isinstance(k, slice):
            step = 1 if k.step is None else int(k.step)
            if k != slice(None) and k != slice(None, None, 1):
                starts.append((0 if step > 0 else INT64_MAX) if k.start is None else int(k.start))
                ends.append((INT64_MAX if step > 0 else INT64_MIN) if k.stop is None else int(k.stop))
                axes.append(axis)
                steps.append(step)
            out += 1
        else:
            i = int(k)
            starts.append(i)
            ends.append(INT64_MAX if i == -1 else i + 1)
            axes.append(axis)
            steps.append(1)
            drop.append(axis)
        axis += 1
    y = src = tr.input(a)
    if axes:
        y = tr.emit("Slice", [y, *(tr.const(np.asarray(v, np.int64), what)
                                  for v, what in ((starts, "starts"), (ends, "ends"), (axes, "axes"),
                                                  (steps, "steps")))])
    if drop:
        y = tr.emit("Squeeze", [y, _axes(tr, drop)])
    if new:
        y = tr.emit("Unsqueeze", [y, _axes(tr, new)])
    return y if y != src else tr.emit("Identity", [y])


def _is_int(k) -> bool:
    return isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_))


def _expand(tr, a, shape):
    lead = len(shape) - a.ndim
    keep = [1 if i >= lead and a.shape[i - lead] == s else s for i, s in enumerate(shape)]  # 1: the input's size
    return tr.emit("Expand", [tr.input(a), tr.const(np.asarray(keep, np.int64), "shape")])


def _cat(tr, *arrays, dim=0):
    return tr.emit("Concat", [tr.input(a) for a in arrays], axis=tops.dim_index(dim, arrays[0].ndim))


def _stack(tr, *arrays, dim=0):
    d = tops.dim_index(dim, arrays[0].ndim, new=True)
    parts = [tr.emit("Unsqueeze", [tr.input(a), _axes(tr, [d])]) for a in arrays]
    return tr.emit("Concat", parts, axis=d)


def _pad(tr, a, pad, value=0.0):
    begin, end = [0] * a.ndim, [0] * a.ndim
    for i in range(len(pad) // 2):
        begin[a.ndim - 1 - i], end[a.ndim - 1 - i] = pad[2 * i], pad[2 * i + 1]
    return tr.emit("Pad", [tr.input(a), tr.const(np.asarray(begin + end, np.int64), "pads"),
                           tr.const(np.asarray(value, np.float32), "value")], mode="constant")


RULES = {
    F._Conv2d: _conv, F._Conv2dReLUMaxPool2x2: _conv_relu_maxpool, F._Conv2dActAvgPool2x2: _conv_act_avgpool,
    F._Linear: _linear, F._BatchNorm: _batch_norm, F._LocalResponseNorm: _lrn,
    F._MaxPool2d: _max_pool, F._AvgPool2d: _avg_pool, F._AdaptiveAvgPool2d: _adaptive_avg_pool,
    F._ReLU: _unary("Relu"), F._Sigmoid: _unary("Sigmoid"), F._Tanh: _unary("Tanh"),
    F._LeakyReLU: _unary("LeakyRelu", alpha=lambda slope: slope),
    F._Softmax: _unary("Softmax", axis=lambda dim: dim), F._LogSoftmax: _unary("LogSoftmax", axis=lambda dim: dim),
    F._Dropout: _identity, F._ConcatChannels: _concat_channels,
    tops.Add: _binary("Add"), tops.Sub: _binary("Sub"), tops.Mul: _binary("Mul"), tops.Div: _binary("Div"),
    tops.Pow: _binary("Pow"), tops.MatMul: _binary("MatMul"), tops.AddSameShape: _add_same_shape,
    tops.Neg: _unary("Neg"), tops.Exp: _unary("Exp"), tops.Log: _unary("Log"), tops.Sqrt: _unary("Sqrt"),
    tops.Abs: _unary("Abs"), tops.Clamp: _clamp, tops.Sum: _sum, tops.Mean: _mean,
    tops.Reshape: _reshape, tops.Permute: _permute, tops.Index: _index, tops.Expand: _expand,
    tops.Cat: _cat, tops.Stack: _stack, tops.Pad: _pad, tops.Clone: _identity, tops.ToDevice: _identity,
}
