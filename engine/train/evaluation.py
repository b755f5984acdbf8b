"""Evaluation of a classifier: one pass over a loader (loss, accuracy, top-5, per-class
accuracy, confusion matrix, each sample's prediction), and class probabilities of a
batch. The Trainer, the command line and the studio all evaluate through here."""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..autograd import inference_mode
from ..errors import first_line
from ..nn import CrossEntropyLoss
from ..nn import functional as F
from .metrics import Evaluation, MetricAccumulator

__all__ = ["evaluate_model", "probabilities", "device_ops"]


def device_ops(device: str):
    """The kernel set of ``device``; one clear RuntimeError when it cannot run here."""
    if device not in kernels.DEVICES:
        raise ValueError(f"unknown device {device!r}: use one of {', '.join(kernels.DEVICES)}")
    try:
        return kernels.ops(device)
    except Exception as e:  # noqa: BLE001 - whatever the device's driver raises, one line
        msg = first_line(e)
        if device not in msg.lower():
            msg = f"device {device!r} is not available: {msg}"
        raise RuntimeError(msg) from None


class _EvalMode:
    """``with _EvalMode(model):`` the model in eval mode, its train mode restored after."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.was_training = self.model.training
        self.model.eval()

    def __exit__(self, *exc):
        self.model.train(self.was_training)


def evaluate_model(model, loader, loss=None, device: str | None = None, class_names=(),
                   should_stop=None) -> Evaluation | None:
    """The Evaluation of ``model`` over ``loader``'s (x, y) batches, in eval mode without
    a graph (train mode restored after): loss (``loss``, default CrossEntropyLoss),
    accuracy, top-5, per-class accuracy, confusion matrix, and ``predictions`` in the
    loader's order. ``device``: where to run (default the model's; the model moves
    there). None if ``should_stop()`` turns true between batches."""
    device = device or model.device
    ops = device_ops(device)
    if model.device != device:
        model.to(device)
    crit = loss if loss is not None else CrossEntropyLoss().to(device)
    acc = MetricAccumulator()
    with _EvalMode(model):
        for x, y in loader:
            if should_stop is not None and should_stop():
                return None
            y_host = np.asarray(y)
            with inference_mode():
                logits = model(ops.asarray(np.asarray(x), dtype=np.float32))
                value = crit(logits, y_host).item()
                probs = F.softmax(logits, 1).numpy()
            acc.update(probs, y_host, value)
    return acc.result(class_names or ())


def probabilities(model, x) -> np.ndarray:
    """Class probabilities, float64 (N, K) on the host, of ``model`` (eval mode, no graph;
    train mode restored after) for the batch ``x``: float32 (N, C, H, W) on the host."""
    ops = device_ops(model.device)
    with _EvalMode(model), inference_mode():
        logits = model(ops.asarray(np.ascontiguousarray(x, dtype=np.float32)))
        z = np.asarray(logits.numpy(), dtype=np.float64)
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)
