"""Feature-map snapshots: every leaf layer's output for one probe image, the first
convolution's filters and activation statistics, recorded by forward hooks."""
from __future__ import annotations

import numpy as np

from ..autograd import no_grad
from ..nn import Conv2d
from .evaluation import device_ops
from .events import Snapshot

__all__ = ["take_snapshot", "activation_stats"]


def activation_stats(a: np.ndarray) -> dict:
    """mean, std, min, max and the fraction of zeros of an activation array."""
    return {"mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()), "max": float(a.max()),
            "zero_fraction": float(np.mean(a == 0))}


def take_snapshot(model, probe, step: int = 0) -> Snapshot:
    """The Snapshot of ``model`` for ``probe`` (C, H, W): the probe run through the model
    in eval mode without a graph, every leaf layer's output (its first sample, float32
    (C, H, W) or (F,)) by its ``named_modules()`` name, recorded by forward hooks. Touches
    no running statistics, no dropout counter and no gradient; train mode is restored."""
    ops = device_ops(model.device)
    probe = np.ascontiguousarray(probe, dtype=np.float32)
    leaves = [(name or type(m).__name__, m) for name, m in model.named_modules() if not m._modules]
    maps: dict = {}

    def keep(name):
        def hook(module, inputs, y):
            maps[name] = np.array(ops.to_host(y.array)[0], dtype=np.float32)
        return hook

    handles = [m.register_forward_hook(keep(name)) for name, m in leaves]
    was_training = model.training
    try:
        model.eval()
        with no_grad():
            model(ops.asarray(probe[None], dtype=np.float32))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    conv = next((m for _, m in model.named_modules() if isinstance(m, Conv2d)), None)
    filters = None if conv is None else np.array(ops.to_host(conv.weight.array), dtype=np.float32)
    return Snapshot(step=int(step), probe=probe.copy(), feature_maps=maps, filters=filters,
                    stats={name: activation_stats(a) for name, a in maps.items()})
