"""``engine.nn.functional``: the network's operations as functions of tensors, shaped like
``torch.nn.functional``, each an :class:`~engine.autograd.ArrayFunction` over the kernel set of
its input's device (:mod:`engine.kernels`): the forward kernel runs now, the backward
kernel when ``loss.backward()`` reaches it, with what this call saved.

Fusion. Inside a module call (any forward, the zoo's Sequentials and a user's modules
alike) a few outputs are deferred (:mod:`engine.autograd.deferred`) so that what follows
can join them in one kernel:

- ``conv2d`` -> ``relu``: the ReLU runs in the loop that writes the convolution's output;
  -> ``max_pool2d(2)`` after them: one convolution writes only the pooled maps and the
  winners (the convolution's full output is never stored; the pool's backward masks by its
  own output, max(relu(v)) > 0 exactly where the winner's ReLU passed).
- ``conv2d`` -> ``sigmoid`` or ``tanh`` -> ``avg_pool2d(2)`` (LeNet-5): one convolution
  applies the activation to its output while it is in cache and writes the pooled maps and
  the activation (for the backward, which is one pass too: act' times the spread gradient).
- ``batch_norm`` (training) -> ``relu``, and the sum of two tensors of one shape (the
  residual join) -> ``relu``: the ReLU in the output loop, its mask in the backward.
- ``batch_norm`` (training) -> the sum with a tensor of its shape (a residual block's
  last norm and its shortcut) [-> ``relu``]: the norm's output pass adds the shortcut
  (the norm's output is never stored), then applies the ReLU.
- ``conv2d`` -> ``batch_norm`` in eval mode without a graph (``no_grad``,
  ``inference_mode``): the batch norm folds into the convolution's weights and bias,
  s = gamma / sqrt(running_var + eps), w' = w * s[o], b' = (b - running_mean) * s + beta.

Anything else computes the deferred output as recorded, so results and gradients are
those of the unfused operations. A module with a forward hook hands its hook a computed
output (nothing fuses across a hook).
"""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..autograd import ArrayFunction, Tensor
from ..autograd import ops as tops
from ..autograd import deferred, random
from ..autograd.grad_mode import is_grad_enabled
from ..errors import ShapeError

_ARGUMENT_HINT = "numbacnn supports only the default"


def _ops(a):
    return kernels.ops(kernels.device_of(a))


def _array(t):
    return t.array if isinstance(t, Tensor) else t


def _tensor(x, name: str = "input") -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray) or hasattr(x, "copy_to_host"):
        return Tensor(x)
    raise TypeError(f"{name} must be a Tensor (or an array), got {type(x).__name__}")


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _one_float(name: str, x: Tensor, weight) -> None:
    """A ShapeError unless input and weight have one floating point dtype (checked before
    a deferred kernel would find it, so a module call names the layer)."""
    if x.dtype != weight.dtype or x.dtype.kind != "f":
        raise ShapeError(f"{name} got input of dtype {x.dtype} and weight of dtype {weight.dtype}; they must be "
                         "one floating point dtype (.float() the input, or .double() the module)")


def _only(name: str, value, default) -> None:
    """Refuses a torch argument value we don't implement, naming it (a default of None
    is compared by identity: the value may be a tensor)."""
    if (value is not None) if default is None else (value != default):
        raise NotImplementedError(f"{name}={value!r} is not supported; {_ARGUMENT_HINT} {name}={default!r}")


# --- convolution and linear ------------------------------------------------------------
class _Conv2d(ArrayFunction):
    @staticmethod
    def forward(ctx, x, w, b, stride, padding, relu):
        y = _ops(x).conv2d_forward(x, w, b, stride, padding, relu=relu)
        ctx.save_for_backward(x, w, y if relu else None)
        ctx.geometry, ctx.has_bias = (stride, padding), b is not None
        return y

    @staticmethod
    def backward(ctx, g):
        x, w, y = ctx.saved_tensors
        ops = _ops(g)
        if y is not None:
            g = ops.relu_backward(y, g)
        dx, dw, db = ops.conv2d_backward(x, w, g, *ctx.geometry, need_input_grad=ctx.needs_input_grad[0])
        return dx, dw, (db if ctx.has_bias else None)


class _Conv2dReLUMaxPool2x2(ArrayFunction):
    @staticmethod
    def forward(ctx, x, w, b, stride, padding):
        y, argmax = _ops(x).conv2d_relu_maxpool2x2(x, w, b, stride, padding)
        h = kernels.conv_output_size(x.shape[2], w.shape[2], stride[0], padding[0])
        v = kernels.conv_output_size(x.shape[3], w.shape[3], stride[1], padding[1])
        ctx.save_for_backward(x, w, y, argmax)
        ctx.geometry, ctx.conv_shape, ctx.has_bias = (stride, padding), (x.shape[0], w.shape[0], h, v), b is not None
        return y

    @staticmethod
    def backward(ctx, g):
        x, w, y, argmax = ctx.saved_tensors
        ops = _ops(g)
        gc = ops.maxpool2d_backward(g, argmax, ctx.conv_shape, y=y)
        dx, dw, db = ops.conv2d_backward(x, w, gc, *ctx.geometry, need_input_grad=ctx.needs_input_grad[0])
        return dx, dw, (db if ctx.has_bias else None)


class _Conv2dActAvgPool2x2(ArrayFunction):
    @staticmethod
    def forward(ctx, x, w, b, stride, padding, act):
        y, a = _ops(x).conv2d_act_avgpool2x2(x, w, b, stride, padding, act)
        ctx.save_for_backward(x, w, a)
        ctx.geometry, ctx.act, ctx.has_bias = (stride, padding), act, b is not None
        return y

    @staticmethod
    def backward(ctx, g):
        x, w, a = ctx.saved_tensors
        ops = _ops(g)
        gc = ops.act_avgpool2x2_backward(g, a, ctx.act)
        dx, dw, db = ops.conv2d_backward(x, w, gc, *ctx.geometry, need_input_grad=ctx.needs_input_grad[0])
        return dx, dw, (db if ctx.has_bias else None)


def _conv_args(input, weight, stride, padding, dilation, groups):
    _only("dilation", _pair(dilation), (1, 1))
    _only("groups", groups, 1)
    stride = _pair(stride)
    if isinstance(padding, str):
        if padding == "valid":
            padding = 0
        elif padding == "same":
            kh, kw = weight.shape[2:]
            if stride != (1, 1) or kh % 2 == 0 or kw % 2 == 0:
                raise NotImplementedError("padding='same' is supported for stride 1 and odd kernel sizes; "
                                          "give the padding as numbers")
            padding = (kh // 2, kw // 2)
        else:
            raise ValueError(f"padding must be a number, a pair, 'valid' or 'same', got {padding!r}")
    x = _tensor(input)
    if x.ndim != 4 or weight.ndim != 4 or x.shape[1] != weight.shape[1]:
        raise ShapeError(f"conv2d got input of shape {x.shape} and weight of shape {weight.shape}; it needs "
                         f"input (N, {weight.shape[1] if weight.ndim == 4 else 'C'}, H, W) and weight "
                         "(out_channels, in_channels, kh, kw)")
    _one_float("conv2d", x, weight)
    padding = _pair(padding)
    out = [kernels.conv_output_size(n, k, s, p) for n, k, s, p in zip(x.shape[2:], weight.shape[2:], stride, padding)]
    if min(out) < 1:
        raise ShapeError(f"conv2d with kernel {tuple(weight.shape[2:])} and padding {padding} does not fit an "
                         f"input of {x.shape[2]}x{x.shape[3]}")
    return x, stride, padding


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """x (N, C, H, W), weight (O, C, kh, kw), bias (O,) -> (N, O, Ho, Wo) with
    Ho = (H + 2*padding - kh) // stride + 1 (deferred inside a module call: see Fusion)."""
    x, stride, padding = _conv_args(input, weight, stride, padding, dilation, groups)
    return _conv(x, weight, bias, stride, padding, False)


def _conv(x, w, b, stride, padding, relu: bool) -> Tensor:
    """The convolution (with relu, max(., 0) in its output loop): pending in a module call."""
    if not deferred.active():
        return _Conv2d.apply(x, w, b, stride, padding, relu)
    h = kernels.conv_output_size(x.shape[2], w.shape[2], stride[0], padding[0])
    v = kernels.conv_output_size(x.shape[3], w.shape[3], stride[1], padding[1])
    return deferred.Deferred("conv_relu" if relu else "conv", (x, w, b, stride, padding),
                             lambda spare: _Conv2d.apply(x, w, b, stride, padding, relu),
                             (x.shape[0], w.shape[0], h, v), x.dtype, x.device.type)


class _Linear(ArrayFunction):
    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        ctx.has_bias = b is not None
        return _ops(x).linear_forward(x, w, b)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        dx, dw, db = _ops(g).linear_backward(x, w, g, need_input_grad=ctx.needs_input_grad[0])
        return dx, dw, (db if ctx.has_bias else None)


def linear(input, weight, bias=None):
    """x (N, in) @ weight (out, in).T + bias (out,) -> (N, out); x of more dimensions is
    taken as rows of its last one."""
    x = _tensor(input)
    if x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ShapeError(f"linear got input of shape {x.shape}; it needs (..., {weight.shape[1]})")
    _one_float("linear", x, weight)
    if x.ndim == 2:
        return _Linear.apply(x, weight, bias)
    lead = x.shape[:-1]
    return _Linear.apply(x.reshape(-1, x.shape[-1]), weight, bias).reshape(lead + (weight.shape[0],))


# --- activations ---------------------------------------------------------------------------
class _OutputActivation(ArrayFunction):
    """y = f(x) elementwise, whose backward needs only y: the kernel set's
    ``{kernel}_forward`` and ``{kernel}_backward(y, g)``."""

    kernel = ""

    @classmethod
    def forward(cls, ctx, x):
        y = getattr(_ops(x), cls.kernel + "_forward")(x)
        ctx.save_for_backward(y)
        return y

    @classmethod
    def backward(cls, ctx, g):
        return getattr(_ops(g), cls.kernel + "_backward")(ctx.saved_tensors[0], g)


class _ReLU(_OutputActivation):
    kernel = "relu"


class _Sigmoid(_OutputActivation):
    kernel = "sigmoid"


class _Tanh(_OutputActivation):
    kernel = "tanh"


class _LeakyReLU(ArrayFunction):
    @staticmethod
    def forward(ctx, x, slope):
        ctx.save_for_backward(x)
        ctx.slope = slope
        return _ops(x).leaky_relu_forward(x, slope)

    @staticmethod
    def backward(ctx, g):
        return _ops(g).leaky_relu_backward(ctx.saved_tensors[0], g, ctx.slope)


def _contiguous(x) -> Tensor:
    return _tensor(x).contiguous()


def relu(input, inplace: bool = False) -> Tensor:
    """max(x, 0). ``inplace`` is accepted and ignored (the result is always a new tensor).
    A pending convolution, training batch norm or sum takes it into its own pass."""
    x = _tensor(input)
    if isinstance(x, deferred.Deferred):
        if x.takes("conv"):
            return _conv(*x.consume(), relu=True)
        if x.takes("bn"):
            return _BatchNorm.apply(*x.consume(), True)
        if x.takes("bn_add"):
            *args, residual = x.consume()
            return _BatchNorm.apply(*args, True, residual)
        if x.takes("add"):
            return tops.AddSameShape.apply(*x.consume(), relu=True)
    return _ReLU.apply(x.contiguous())


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return _LeakyReLU.apply(_contiguous(input), float(negative_slope))


def _conv_then(x, act: str, fn) -> Tensor:
    """A pending convolution followed by ``act`` ("sigmoid" or "tanh", applied by ``fn``):
    pending as "conv_<act>", which ``avg_pool2d(2)`` takes into one kernel."""
    cx, w, b, stride, padding = x.consume()
    return deferred.Deferred("conv_" + act, (cx, w, b, stride, padding),
                             lambda spare: fn.apply(_Conv2d.apply(cx, w, b, stride, padding, False)),
                             x.shape, x.dtype, x.device.type)


def sigmoid(input) -> Tensor:
    """1 / (1 + e^-x). A pending convolution stays pending with it (see Fusion)."""
    x = _tensor(input)
    if isinstance(x, deferred.Deferred) and x.takes("conv"):
        return _conv_then(x, "sigmoid", _Sigmoid)
    return _Sigmoid.apply(x.contiguous())


def tanh(input) -> Tensor:
    """tanh(x). A pending convolution stays pending with it (see Fusion)."""
    x = _tensor(input)
    if isinstance(x, deferred.Deferred) and x.takes("conv"):
        return _conv_then(x, "tanh", _Tanh)
    return _Tanh.apply(x.contiguous())


class _LogSoftmax(ArrayFunction):
    @staticmethod
    @tops.host
    def forward(ctx, x, dim):
        shifted = x - x.max(axis=dim, keepdims=True)
        y = shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    @tops.host
    def backward(ctx, g):
        y, = ctx.saved_tensors
        return g - np.exp(y) * g.sum(axis=ctx.dim, keepdims=True)


class _Softmax(ArrayFunction):
    @staticmethod
    @tops.host
    def forward(ctx, x, dim):
        e = np.exp(x - x.max(axis=dim, keepdims=True))
        y = e / e.sum(axis=dim, keepdims=True)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    @tops.host
    def backward(ctx, g):
        y, = ctx.saved_tensors
        return y * (g - (g * y).sum(axis=ctx.dim, keepdims=True))


def _softmax_dim(dim, ndim):
    if dim is None:  # torch's legacy choice: 1 for 2-D and up
        return 0 if ndim in (0, 1, 3) else 1
    return tops.dim_index(dim, ndim)


def _floating(x: Tensor, name: str) -> Tensor:
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} needs a float32 (or float64) tensor, got {x.dtype}; use .float() first")
    return x


def softmax(input, dim=None, dtype=None) -> Tensor:
    x = _floating(_tensor(input).to(dtype) if dtype is not None else _tensor(input), "softmax")
    return _Softmax.apply(x, _softmax_dim(dim, x.ndim))


def log_softmax(input, dim=None, dtype=None) -> Tensor:
    x = _floating(_tensor(input).to(dtype) if dtype is not None else _tensor(input), "log_softmax")
    return _LogSoftmax.apply(x, _softmax_dim(dim, x.ndim))


# --- pooling -------------------------------------------------------------------------------
class _MaxPool2d(ArrayFunction):
    @staticmethod
    def forward(ctx, x, kernel, stride, padding):
        y, argmax = _ops(x).maxpool2d_forward(x, kernel, stride, padding)
        ctx.save_for_backward(argmax)
        ctx.x_shape = x.shape
        return y

    @staticmethod
    def backward(ctx, g):
        return _ops(g).maxpool2d_backward(g, ctx.saved_tensors[0], ctx.x_shape)


class _AvgPool2d(ArrayFunction):
    @staticmethod
    def forward(ctx, x, kernel, stride, padding, count_include_pad):
        ctx.args, ctx.x_shape = (kernel, stride, padding, count_include_pad), x.shape
        return _ops(x).avgpool2d_forward(x, kernel, stride, padding, count_include_pad)

    @staticmethod
    def backward(ctx, g):
        return _ops(g).avgpool2d_backward(g, ctx.x_shape, *ctx.args)


class _AdaptiveAvgPool2d(ArrayFunction):
    @staticmethod
    def forward(ctx, x, output_size):
        ctx.x_shape = x.shape
        return _ops(x).adaptive_avgpool2d_forward(x, output_size)

    @staticmethod
    def backward(ctx, g):
        return _ops(g).adaptive_avgpool2d_backward(g, ctx.x_shape)


def _pool_args(input, kernel_size, stride, padding, name):
    x = _contiguous(input)
    if x.ndim != 4:
        raise ShapeError(f"{name} got input of shape {x.shape}; it needs (N, C, H, W)")
    k = _pair(kernel_size)
    s = k if stride is None or stride == [] else _pair(stride)
    p = _pair(padding)
    if any(2 * pi > ki for pi, ki in zip(p, k)):
        raise ValueError(f"{name}: padding {p} must be at most half the kernel size {k}")
    out = [kernels.conv_output_size(n, ki, si, pi) for n, ki, si, pi in zip(x.shape[2:], k, s, p)]
    if min(out) < 1:
        raise ShapeError(f"{name} with kernel {k} does not fit an input of {x.shape[2]}x{x.shape[3]}")
    return x, k, s, p


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False) -> Tensor:
    """Max over each window (N, C, H, W) -> (N, C, Ho, Wo); stride defaults to kernel_size."""
    _only("dilation", _pair(dilation), (1, 1))
    _only("ceil_mode", ceil_mode, False)
    _only("return_indices", return_indices, False)
    k = _pair(kernel_size)
    if (isinstance(input, deferred.Deferred) and input.takes("conv_relu") and k == (2, 2)
            and (stride is None or _pair(stride) == (2, 2)) and _pair(padding) == (0, 0)
            and min(input.shape[2:]) >= 2):
        return _Conv2dReLUMaxPool2x2.apply(*input.consume())
    x, k, s, p = _pool_args(input, kernel_size, stride, padding, "max_pool2d")
    return _MaxPool2d.apply(x, k, s, p)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None) -> Tensor:
    _only("ceil_mode", ceil_mode, False)
    _only("divisor_override", divisor_override, None)
    if isinstance(input, deferred.Deferred) and _pair(kernel_size) == (2, 2) and (
            stride is None or _pair(stride) == (2, 2)) and _pair(padding) == (0, 0) and min(input.shape[2:]) >= 2:
        for act in ("sigmoid", "tanh"):
            if input.takes("conv_" + act):
                return _Conv2dActAvgPool2x2.apply(*input.consume(), act)
    x, k, s, p = _pool_args(input, kernel_size, stride, padding, "avg_pool2d")
    return _AvgPool2d.apply(x, k, s, p, bool(count_include_pad))


def adaptive_avg_pool2d(input, output_size) -> Tensor:
    """Averages (N, C, H, W) down to (N, C, *output_size)."""
    x = _contiguous(input)
    size = _pair(output_size)
    if x.ndim != 4:
        raise ShapeError(f"adaptive_avg_pool2d got input of shape {x.shape}; it needs (N, C, H, W)")
    size = tuple(x.shape[2 + i] if s is None else s for i, s in enumerate(size))
    if x.shape[2] < size[0] or x.shape[3] < size[1]:
        raise ShapeError(f"adaptive_avg_pool2d to {size} needs an input at least that large, got "
                         f"{x.shape[2]}x{x.shape[3]}")
    return _AdaptiveAvgPool2d.apply(x, size)


# --- normalisation and dropout ------------------------------------------------------------
class _BatchNorm(ArrayFunction):
    """The norm, then (fused, in training) + residual, then ReLU, each when asked."""

    @staticmethod
    def forward(ctx, x, gamma, beta, running_mean, running_var, training, momentum, eps, relu, residual=None):
        ops = _ops(x)
        if training:
            y, cache = ops.batchnorm_forward_train(x, gamma, beta, running_mean, running_var, momentum, eps,
                                                   relu=relu, residual=residual)
        else:
            y, cache = ops.batchnorm_forward_eval(x, gamma, beta, running_mean, running_var, eps)
            if relu:
                y = ops.relu_forward(y)
        ctx.joined = residual is not None
        ctx.save_for_backward(gamma, cache, y if relu else None)
        return y

    @staticmethod
    def backward(ctx, g):
        gamma, cache, y = ctx.saved_tensors
        ops = _ops(g)
        if not ctx.joined:
            return (*ops.batchnorm_backward(g, gamma, cache, relu_y=y), None, None)
        if y is not None:   # the sum's ReLU: its masked gradient goes to both summands
            g = ops.relu_backward(y, g)
        return (*ops.batchnorm_backward(g, gamma, cache), None, None, None, None, None, None, g)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5) -> Tensor:
    """Per-channel (axis 1) normalisation; in training with the batch's statistics (and
    running = (1 - momentum) running + momentum batch, unbiased variance, updated in place),
    else with the running ones. See Fusion for what a module call defers."""
    x = _tensor(input)
    C = x.shape[1] if x.ndim > 1 else 0
    ops = kernels.ops(x.device.type)
    weight = weight if weight is not None else Tensor(ops.asarray(np.ones(C, x.dtype)))
    bias = bias if bias is not None else Tensor(ops.asarray(np.zeros(C, x.dtype)))
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if t is not None and (tuple(t.shape) != (C,) or np.dtype(t.dtype) != x.dtype or x.dtype.kind != "f"):
            raise ShapeError(f"batch_norm got {name} of shape {tuple(t.shape)} and dtype {np.dtype(t.dtype)} for "
                             f"an input of shape {x.shape} and dtype {x.dtype}; it needs ({C},) and one floating "
                             "point dtype")
    if (isinstance(x, deferred.Deferred) and x.takes("conv") and not training and not is_grad_enabled()
            and running_mean is not None and running_var is not None and x.shape[1] == C):
        cx, w, b, stride, padding = x.consume()
        w2, b2 = _fold_batch_norm(w, b, weight, bias, _array(running_mean), _array(running_var), eps)
        return _conv(cx, w2, b2, stride, padding, False)
    x = x.contiguous()
    if running_mean is None or running_var is None:
        if not training:
            raise ValueError("batch_norm without running statistics needs training=True")
        running_mean = ops.asarray(np.zeros(C, x.dtype))
        running_var = ops.asarray(np.ones(C, x.dtype))
    if training and x.numel() // max(C, 1) < 2:
        raise ShapeError(f"batch norm in training mode needs more than one value per channel, got input of "
                         f"shape {x.shape} (use a batch > 1, or eval())")
    if momentum is None:
        raise NotImplementedError("momentum=None (a cumulative average) is not supported; give a number")
    if not 0 < eps < float("inf"):
        raise ValueError(f"batch_norm: eps must be a finite number > 0, got {eps!r}")
    args = (x, weight, bias, _array(running_mean), _array(running_var), bool(training), float(momentum),
            float(eps))
    if not (training and deferred.active()):
        return _BatchNorm.apply(*args, False)

    def run(spare, residual=None):   # spare: a fusion took it in and updated the statistics then
        rm, rv = (ops.zeros_like(args[3]), ops.zeros_like(args[4])) if spare else args[3:5]
        return _BatchNorm.apply(*args[:3], rm, rv, *args[5:], False, residual)

    def plus(residual):   # + a tensor of its shape: the residual join, in the norm's pass
        return deferred.Deferred("bn_add", args + (residual,), lambda spare: run(spare, residual),
                                 x.shape, x.dtype, x.device.type, pure=False)
    return deferred.Deferred("bn", args, run, x.shape, x.dtype, x.device.type, pure=False, plus=plus)


def _fold_batch_norm(w, b, gamma, beta, mean, var, eps):
    """(w', b') of a convolution (w, b) followed by an eval-mode batch norm (see Fusion),
    folded on the weights' device by the kernel set's ``batchnorm_fold``."""
    w = _array(w)
    w2, b2 = _ops(w).batchnorm_fold(w, None if b is None else _array(b), _array(gamma), _array(beta),
                                    _array(mean), _array(var), float(eps))
    return Tensor(w2), Tensor(b2)


class _LocalResponseNorm(ArrayFunction):
    @staticmethod
    def forward(ctx, x, size, alpha, beta, k):
        y, s = _ops(x).lrn_forward(x, size, alpha, beta, k)
        ctx.save_for_backward(x, y, s)
        ctx.args = (size, alpha, beta)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y, s = ctx.saved_tensors
        return _ops(g).lrn_backward(x, y, s, g, *ctx.args)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0) -> Tensor:
    x = _contiguous(input)
    if x.ndim < 3:
        raise ShapeError(f"local_response_norm got input of shape {x.shape}; it needs (N, C, H, W)")
    return _LocalResponseNorm.apply(x, int(size), float(alpha), float(beta), float(k))


class _Dropout(ArrayFunction):
    @staticmethod
    def forward(ctx, x, p, seed):
        y, mask = _ops(x).dropout_forward(x, p, seed)
        ctx.save_for_backward(mask)
        return y

    @staticmethod
    def backward(ctx, g):
        return _ops(g).dropout_backward(g, ctx.saved_tensors[0])


def _check_p(p):
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False, seed: int | None = None) -> Tensor:
    """Zeroes each element with probability p and scales the rest by 1/(1-p) (training);
    the identity otherwise. The mask is a counter-based hash of (seed, element index):
    the same on CPU and GPU; ``seed`` defaults to a draw from the global generator."""
    _check_p(p)
    x = _tensor(input)
    if not training or p == 0:
        return x
    s = int(random.generator().integers(0, 2**32)) if seed is None else int(seed) % 2**32
    return _Dropout.apply(x.contiguous(), float(p), s)


def dropout2d(input, p: float = 0.5, training: bool = True, inplace: bool = False,
              seed: int | None = None) -> Tensor:
    """Zeroes whole channels of (N, C, H, W) with probability p, scaling the rest by 1/(1-p)."""
    _check_p(p)
    x = _tensor(input)
    if not training or p == 0:
        return x
    if x.ndim not in (3, 4):
        raise ShapeError(f"dropout2d got input of shape {x.shape}; it needs (N, C, H, W)")
    lead = x.shape[:-2]
    ones = Tensor(_ops(x.array).asarray(np.ones(lead, x.dtype)))
    mask = dropout(ones, p, True, seed=seed).detach()
    return x * mask.reshape(lead + (1, 1))


# --- joins -------------------------------------------------------------------------------------
class _ConcatChannels(ArrayFunction):
    @staticmethod
    def forward(ctx, *xs):
        ctx.sizes = [x.shape[1] for x in xs]
        return _ops(xs[0]).concat_channels(list(xs))

    @staticmethod
    def backward(ctx, g):
        return tuple(_ops(g).split_channels(g, ctx.sizes))


def concat_channels(tensors) -> Tensor:
    """Joins (N, C_i, H, W) tensors along channels."""
    return _ConcatChannels.apply(*[_contiguous(t) for t in tensors])


def one_hot(tensor, num_classes: int = -1) -> Tensor:
    """int64 (..., num_classes) with a 1 at each class index of ``tensor`` (num_classes -1:
    one more than the largest index)."""
    t = np.asarray(_tensor(tensor, "tensor").numpy())
    if t.dtype.kind not in "iu":
        raise TypeError(f"one_hot needs an integer tensor of class indices, got {t.dtype}")
    k = int(t.max()) + 1 if num_classes == -1 and t.size else int(num_classes)
    if t.size and (t.min() < 0 or t.max() >= k):
        raise ValueError(f"one_hot: class values must be in [0, {k}), got {t.min()} to {t.max()}")
    return Tensor(np.eye(max(k, 0), dtype=np.int64)[t])


def pad(input, pad, mode: str = "constant", value: float = 0.0) -> Tensor:
    """Constant padding; ``pad`` lists (before, after) pairs from the last axis backwards."""
    _only("mode", mode, "constant")
    return tops.Pad.apply(_tensor(input), tuple(int(p) for p in pad), value=value)


def flatten(input, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return _tensor(input).flatten(start_dim, end_dim)


# --- losses ------------------------------------------------------------------------------------
def _reduction(reduction: str) -> str:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def _scalar_of(g) -> float:
    return float(np.asarray(_ops(g).to_host(g)).reshape(-1)[0])


def _like(value, a):
    """A 0-d array holding ``value`` on ``a``'s device, in its dtype."""
    return _ops(a).asarray(np.asarray(value, dtype=a.dtype), dtype=a.dtype)


class _CrossEntropy(ArrayFunction):
    """Mean (or sum) of -sum_k q_k log softmax(z)_k with q = (1 - e) onehot + e/K."""

    @staticmethod
    def forward(ctx, logits, targets, smoothing, total):
        loss, probs = _ops(logits).cross_entropy_forward(logits, targets, smoothing)
        ctx.save_for_backward(probs, targets)
        ctx.smoothing, ctx.scale = smoothing, float(logits.shape[0]) if total else 1.0
        return _like(loss * ctx.scale, logits)

    @staticmethod
    def backward(ctx, g):
        probs, targets = ctx.saved_tensors
        ops = _ops(probs)
        dz = ops.cross_entropy_backward(probs, targets, ctx.smoothing)
        scale = _scalar_of(g) * ctx.scale
        if scale != 1.0:
            host_dz = np.asarray(ops.to_host(dz)) * np.asarray(scale, dz.dtype)
            dz = ops.asarray(host_dz, dtype=host_dz.dtype)
        return dz, None


class _CrossEntropyRows(ArrayFunction):
    """Per-sample cross entropy (reduction='none')."""

    @staticmethod
    @tops.host
    def forward(ctx, z, targets, smoothing):
        shifted = z - z.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        K = z.shape[1]
        q = np.full(z.shape, smoothing / K, z.dtype)
        q[np.arange(len(targets)), targets] += 1 - smoothing
        ctx.save_for_backward(np.exp(logp), q)
        return -(q * logp).sum(axis=1)

    @staticmethod
    @tops.host
    def backward(ctx, g):
        p, q = ctx.saved_tensors
        return (p - q) * g[:, None], None


def _targets(target, logits: Tensor, name: str):
    t = np.asarray(_ops(_array(target)).to_host(_array(target)))
    n, k = logits.shape[0], logits.shape[1]
    if t.shape != (n,) or t.dtype.kind not in "iu":
        raise ShapeError(f"{name} got targets of shape {t.shape} and dtype {t.dtype}; it needs ({n},) integer "
                         "class indices")
    if t.size and (t.min() < 0 or t.max() >= k):
        raise ValueError(f"{name}: targets must be in [0, {k}), got values from {t.min()} to {t.max()}")
    return _ops(logits.array).asarray(t, dtype=np.int64)


def cross_entropy(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Log-softmax + negative log-likelihood of logits (N, K) for class indices (N,)."""
    _only("weight", weight, None)
    _only("ignore_index", ignore_index, -100)
    reduction = _reduction(reduction)
    if not 0 <= label_smoothing < 1:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
    z = _tensor(input)
    if z.ndim != 2:
        raise ShapeError(f"cross_entropy got logits of shape {z.shape}; it needs (N, classes)")
    t = _targets(target, z, "cross_entropy")
    if reduction == "none":
        return _CrossEntropyRows.apply(z, t, float(label_smoothing))
    return _CrossEntropy.apply(z.contiguous(), t, float(label_smoothing), reduction == "sum")


class _NLL(ArrayFunction):
    @staticmethod
    @tops.host
    def forward(ctx, logp, targets, reduction):
        picked = -logp[np.arange(len(targets)), targets]
        ctx.shape, ctx.targets, ctx.reduction = logp.shape, targets, reduction
        if reduction == "none":
            return picked
        return np.asarray(picked.sum() / (len(targets) if reduction == "mean" else 1), dtype=logp.dtype)

    @staticmethod
    @tops.host
    def backward(ctx, g):
        out = np.zeros(ctx.shape, g.dtype)
        n = len(ctx.targets)
        scale = g if ctx.reduction == "none" else np.broadcast_to(g / (n if ctx.reduction == "mean" else 1), (n,))
        out[np.arange(n), ctx.targets] = -scale
        return out, None


def nll_loss(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities (N, K) for class indices (N,)."""
    _only("weight", weight, None)
    _only("ignore_index", ignore_index, -100)
    z = _tensor(input)
    if z.ndim != 2:
        raise ShapeError(f"nll_loss got input of shape {z.shape}; it needs (N, classes)")
    return _NLL.apply(z, _targets(target, z, "nll_loss"), _reduction(reduction))


class _MSE(ArrayFunction):
    @staticmethod
    def forward(ctx, y, t):
        ctx.save_for_backward(y, t)
        return _like(_ops(y).mse_forward(y, t), y)

    @staticmethod
    def backward(ctx, g):
        y, t = ctx.saved_tensors
        ops = _ops(y)
        dy = ops.mse_backward(y, t)
        scale = _scalar_of(g)
        if scale != 1.0:
            host = np.asarray(ops.to_host(dy)) * np.asarray(scale, dy.dtype)
            dy = ops.asarray(host, dtype=host.dtype)
        return dy, (None if not ctx.needs_input_grad[1] else _negate(dy))


def _negate(a):
    ops = _ops(a)
    host = -np.asarray(ops.to_host(a))
    return ops.asarray(host, dtype=host.dtype)


def mse_loss(input, target, reduction: str = "mean") -> Tensor:
    """Mean (or sum, or per-element) squared error of two tensors of one shape."""
    y, t = _tensor(input), _tensor(target, "target")
    if y.shape != t.shape:
        raise ShapeError(f"mse_loss got input {y.shape} and target {t.shape}; they must have one shape")
    reduction = _reduction(reduction)
    if reduction == "mean":
        return _MSE.apply(y.contiguous(), t.contiguous().to(y.dtype))
    d = y - t
    sq = d * d
    return sq if reduction == "none" else sq.sum()


# Tensor methods that run layer kernels (the rest of Tensor's methods are in autograd).
Tensor.relu = relu
Tensor.sigmoid = sigmoid
Tensor.tanh = tanh
Tensor.softmax = softmax
Tensor.log_softmax = log_softmax
