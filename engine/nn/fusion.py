"""Layer fusion in a Sequential, and inference mode (as ``torch.inference_mode()``).

On the CPU, Conv2d -> ReLU runs as one convolution, the ReLU in the loop that writes the
convolution's output, and BatchNorm2d (training) -> ReLU and Residual -> ReLU likewise
as one batch norm or one residual add; the layers keep what their backward needs (the conv
its input, the batch norm its statistics, the ReLU its output), so training is
unchanged, one pass over the feature maps shorter. Conv2d -> ReLU -> MaxPool2d(2) runs
as one convolution that writes only the pooled maps (and the pool's winners): the
convolution's full output is never stored. Backward, a ReLU's mask runs inside the batch
norm before it or the max pool after it (:func:`fused_backward`; the pool masks by its
own output, max(relu(v)) > 0 exactly where the winner's ReLU passed).

Inside ``with inference_mode():`` a forward pass keeps nothing for a backward pass, and
Conv2d -> BatchNorm2d (eval) [-> ReLU] fuses too: the batch norm folds into the
convolution's weights and bias,

    s = gamma / sqrt(running_var + eps),  w' = w * s[o],  b' = (b - running_mean) * s + beta.

That saves two passes over every feature map (ResNet-20 inference: 19 batch norms and 9
ReLUs). A layer whose ``forward`` has been replaced on the instance (the trainer's
feature-map snapshot, profilers) is never fused, so such hooks see every output. A
backward after an inference-mode forward raises: the fused layers kept no inputs.
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np

_state = threading.local()

NO_GRAPH = ("backward() after a forward under inference_mode(): that forward kept no "
            "inputs; run the forward again outside inference_mode() to train")


@contextlib.contextmanager
def inference_mode():
    """Forward passes on this thread keep nothing for backward and may fuse layers."""
    before = getattr(_state, "on", False)
    _state.on = True
    try:
        yield
    finally:
        _state.on = before


def is_inference_mode() -> bool:
    return getattr(_state, "on", False)


def _plain(m, cls) -> bool:
    return (type(m) is cls and "forward" not in m.__dict__ and "backward" not in m.__dict__
            and m.device == "cpu")


def _pool2x2(m) -> bool:
    from .layers import MaxPool2d
    return _plain(m, MaxPool2d) and (m.kernel_size, m.stride, m.padding) == ((2, 2), (2, 2), (0, 0))


def run_length(modules) -> int:
    """How many of ``modules`` (a Sequential's, from some position on) run as one fused
    step: 2 for BatchNorm2d in training mode, ReLU and for Residual, ReLU; for a Conv2d,
    Conv2d[, BatchNorm2d in eval mode under inference_mode][, ReLU[, MaxPool2d(2)]];
    else 1."""
    from .containers import Residual
    from .layers import BatchNorm2d, Conv2d, ReLU
    first = modules[0] if modules else None
    if (_plain(first, BatchNorm2d) and first.training) or _plain(first, Residual):
        return 2 if len(modules) > 1 and _plain(modules[1], ReLU) else 1
    if not _plain(first, Conv2d):
        return 1
    n = 1
    if (len(modules) > 1 and is_inference_mode() and _plain(modules[1], BatchNorm2d)
            and not modules[1].training and modules[1].num_features == first.out_channels):
        n = 2
    if len(modules) > n and _plain(modules[n], ReLU):
        n += 1
        if len(modules) > n and _pool2x2(modules[n]):
            n += 1
    return n


def fused_forward(modules, x):
    """The output of ``modules`` (a run counted by :func:`run_length`) on x in one step;
    under inference_mode their saved inputs are dropped (see NO_GRAPH)."""
    from .layers import BatchNorm2d, Conv2d, MaxPool2d, ReLU
    keep = not is_inference_mode()
    first, pool = modules[0], modules[-1] if type(modules[-1]) is MaxPool2d else None
    relu = pool is not None or type(modules[-1]) is ReLU
    if type(first) is not Conv2d:  # training batch norm or residual join, then ReLU
        y = first.forward(x, relu=True)
        modules[1]._y = y if keep else None
        return y
    conv = first
    shape = conv.output_shape(x.shape[1:])
    w = conv.weight.data
    b = conv.bias.data if conv.bias is not None else np.zeros(conv.out_channels, w.dtype)
    bn = modules[1] if type(modules[1]) is BatchNorm2d else None
    if bn is not None:
        s = bn.weight.data / np.sqrt(bn.running_var + np.float32(bn.eps))
        w = w * s[:, None, None, None]
        b = (b - bn.running_mean) * s + bn.bias.data
        bn._cache = None
    conv._x = x if keep else None
    if pool is not None:
        pool.output_shape(shape)
        y, pool._argmax = conv.ops.conv2d_relu_maxpool2x2(x, w, b, conv.stride, conv.padding)
        pool._x_shape, pool._y, modules[-2]._y = (x.shape[0], *shape), y if keep else None, None
        return y
    y = conv.ops.conv2d_forward(x, w, b, conv.stride, conv.padding, relu=relu)
    if relu:
        modules[-1]._y = y if keep else None
    return y


def fuses_backward(prev, m) -> bool:
    """Whether the backward of ``prev`` followed by ``m`` (neighbours in a Sequential) runs
    as one step: BatchNorm2d -> ReLU (the norm's backward masks the gradient) and ReLU ->
    MaxPool2d (the pool passes a window's gradient only where the ReLU's output > 0)."""
    from .layers import BatchNorm2d, MaxPool2d, ReLU
    if _plain(prev, BatchNorm2d) and _plain(m, ReLU):
        return getattr(m, "_y", None) is not None
    return _plain(prev, ReLU) and _plain(m, MaxPool2d) and getattr(m, "_y", None) is not None


def fused_backward(prev, m, grad_y):
    """The gradient of ``prev``'s input, for a pair accepted by :func:`fuses_backward`."""
    from .layers import ReLU
    if type(m) is ReLU:
        return prev.backward(grad_y, relu_y=m._y)
    return m.backward(grad_y, relu=True)
