"""Layer fusion: neighbours in a Sequential that run as one step.

A layer that can absorb the layers after it says so itself (the protocol of
:class:`~engine.nn.module.Module`): ``fusion_length(following)`` is how many of the
modules after it it takes into its own step (0: none), and ``forward_fused(following,
x)`` runs itself and those. Sequential asks each child in turn. Today:

- Conv2d -> ReLU: the ReLU runs in the loop that writes the convolution's output; with a
  MaxPool2d(2) after them, one convolution writes only the pooled maps and the winners
  (the convolution's full output is never stored; the pool's backward masks by its own
  output, max(relu(v)) > 0 exactly where the winner's ReLU passed).
- Conv2d -> BatchNorm2d in eval mode under ``inference_mode()`` [-> ReLU [-> MaxPool2d(2)]]:
  the batch norm folds into the convolution's weights and bias,
  s = gamma / sqrt(running_var + eps), w' = w * s[o], b' = (b - running_mean) * s + beta.
- BatchNorm2d -> ReLU and Residual -> ReLU: the ReLU inside the norm's or the join's
  output loop, and its mask inside the norm's backward.

The fused steps are :mod:`.functional`'s fused functions, differentiated by autograd like
any other. Only plain layers fuse: one whose class is exactly the layer's (not a user's
subclass that may override forward) and that has no forward hooks (so a hook sees every
layer's output).
"""
from __future__ import annotations


def plain(m, cls) -> bool:
    """Whether ``m`` is exactly a ``cls`` with no forward hooks (so it may fuse)."""
    return type(m) is cls and not m.hooked and "forward" not in m.__dict__


def run_length(modules) -> int:
    """How many of ``modules`` (a Sequential's, from some position on) run as one step."""
    return 1 + modules[0].fusion_length(modules[1:])


def fused_forward(modules, x):
    """The output of ``modules`` (a run counted by :func:`run_length`) on x; a ShapeError
    is the first layer's."""
    first = modules[0]
    try:
        return first.forward_fused(modules[1:], x)
    except Exception as e:
        if getattr(e, "module", None) is None and hasattr(e, "path"):
            e.module = first
        raise
