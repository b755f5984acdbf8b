"""Inference mode and the layer fusion it allows, as ``torch.inference_mode()``.

Inside ``with inference_mode():`` a forward pass keeps nothing for a backward pass, so a
Sequential may run Conv2d -> BatchNorm2d (eval) -> ReLU as one convolution on the CPU:
the batch norm folds into the convolution's weights and bias,

    s = gamma / sqrt(running_var + eps),  w' = w * s[o],  b' = (b - running_mean) * s + beta,

and the ReLU runs in the loop that writes the convolution's output. That saves two passes
over every feature map (ResNet-20 inference: 19 batch norms and 9 ReLUs). Conv2d -> ReLU
fuses the same way. A layer whose ``forward`` has been replaced on the instance (the
trainer's feature-map snapshot, profilers) is never fused, so such hooks see every output.
A backward after an inference-mode forward raises: the fused layers kept no inputs.
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
    return type(m) is cls and "forward" not in m.__dict__ and m.device == "cpu"


def conv_run(modules) -> int:
    """How many of ``modules`` (a Sequential's, from some position on) fuse into one
    convolution: 2 or 3 for Conv2d, BatchNorm2d in eval mode, ReLU (or Conv2d, ReLU);
    1 when the first is not such a run."""
    from .layers import BatchNorm2d, Conv2d, ReLU
    if not modules or not _plain(modules[0], Conv2d):
        return 1
    n = 1
    if (len(modules) > 1 and _plain(modules[1], BatchNorm2d) and not modules[1].training
            and modules[1].num_features == modules[0].out_channels):
        n = 2
    if len(modules) > n and _plain(modules[n], ReLU):
        n += 1
    return n


def fused_conv_forward(modules, x):
    """The output of ``modules`` (a run counted by :func:`conv_run`) on x, in one
    convolution; their saved inputs are dropped (see NO_GRAPH)."""
    from .layers import BatchNorm2d, ReLU
    conv = modules[0]
    conv.output_shape(x.shape[1:])
    w = conv.weight.data
    b = conv.bias.data if conv.bias is not None else np.zeros(conv.out_channels, w.dtype)
    bn = modules[1] if type(modules[1]) is BatchNorm2d else None
    if bn is not None:
        s = bn.weight.data / np.sqrt(bn.running_var + np.float32(bn.eps))
        w = w * s[:, None, None, None]
        b = (b - bn.running_mean) * s + bn.bias.data
        bn._cache = None
    relu = type(modules[-1]) is ReLU
    if relu:
        modules[-1]._y = None
    conv._x = None
    return conv.ops.conv2d_forward(x, w, b, conv.stride, conv.padding, relu=relu)
