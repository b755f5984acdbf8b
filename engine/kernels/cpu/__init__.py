"""The CPU kernel set: Numba ``@njit(nogil=True)`` functions over numpy arrays, run on all
cores by :mod:`.parallel`.

Its twin, :mod:`engine.kernels.cuda`, exposes the same names over device arrays.

Every entry point checks its arguments first (:mod:`engine.kernels.contracts`) and
raises ShapeError with one sentence: arrays are numpy arrays (a device array is refused:
these kernels do not read device memory); read-only ones may have any layout (they are
copied to C order), those written in place (optimizer state, ``add_``'s a, running
statistics) must be C-contiguous and writable. A batch of 0 gives the empty result (zero
parameter gradients), except in batch-norm training and the losses, which refuse it.
Index values are checked too: cross-entropy targets must lie in [0, K) (forward and
backward), and max-pool winners in their input plane (``maxpool2d_backward`` flags any
other while it runs and raises).
"""
from .allocator import install_allocator as _install_allocator
from .kernel_cache import sync as _sync_kernel_cache
from .activation import (leaky_relu_backward, leaky_relu_forward, relu_backward, relu_forward,
                         sigmoid_backward, sigmoid_forward, tanh_backward, tanh_forward)
from .batchnorm import batchnorm_backward, batchnorm_fold, batchnorm_forward_eval, batchnorm_forward_train
from .conv import (conv2d_act_avgpool2x2, conv2d_backward, conv2d_forward, conv2d_relu_maxpool2x2,
                   conv_output_size)
from .dropout import dropout_backward, dropout_forward
from .linear import linear_backward, linear_forward
from .loss import cross_entropy_backward, cross_entropy_forward, mse_backward, mse_forward
from .lrn import lrn_backward, lrn_forward
from .optim import adam_step, sgd_step
from .pool import (act_avgpool2x2_backward, adaptive_avgpool2d_backward, adaptive_avgpool2d_forward,
                   avgpool2d_backward, avgpool2d_forward, maxpool2d_backward, maxpool2d_forward)
from .tensor import (add, add_, argmax_rows, asarray, concat_channels, copy_into, fill,
                     split_channels, synchronize, to_host, zeros, zeros_like)
from .workspace import release

DEVICE = "cpu"

__all__ = [
    "leaky_relu_backward", "leaky_relu_forward", "relu_backward", "relu_forward",
    "sigmoid_backward", "sigmoid_forward", "tanh_backward", "tanh_forward",
    "batchnorm_backward", "batchnorm_fold", "batchnorm_forward_eval", "batchnorm_forward_train",
    "conv2d_act_avgpool2x2", "conv2d_backward", "conv2d_forward", "conv2d_relu_maxpool2x2", "conv_output_size",
    "dropout_backward", "dropout_forward",
    "linear_backward", "linear_forward",
    "cross_entropy_backward", "cross_entropy_forward", "mse_backward", "mse_forward",
    "lrn_backward", "lrn_forward",
    "adam_step", "sgd_step",
    "act_avgpool2x2_backward", "adaptive_avgpool2d_backward", "adaptive_avgpool2d_forward", "avgpool2d_backward",
    "avgpool2d_forward", "maxpool2d_backward", "maxpool2d_forward",
    "add", "add_", "argmax_rows", "asarray", "concat_channels", "copy_into", "fill",
    "split_channels", "to_host", "zeros", "zeros_like",
    "synchronize", "release",
]
"""Every kernel-set function; :mod:`engine.kernels.cuda` exposes the same names (the
contract test checks both directions)."""

_install_allocator()
_sync_kernel_cache()        # before any kernel is loaded from Numba's cache
