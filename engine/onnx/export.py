"""``export(model, example_input, path)``: a model as an ONNX file, for ONNX Runtime and the
other runtimes that read ONNX (``pip install 'numbacnn[onnx]'``)."""
from __future__ import annotations

import os

from .. import __version__
from ..train.checkpoint import atomic_write_bytes
from .build import DEFAULT_OPSET, onnx_package, to_onnx
from .lower import to_graph
from .records import ExportError

__all__ = ["export"]


def export(model, example_input, path, opset: int = DEFAULT_OPSET) -> str:
    """Writes ``model``'s eval-mode forward (batch norm with its running statistics,
    dropout left out) to ``path`` as an ONNX model at ``opset`` (17 or newer), atomically.

    ``example_input`` is a batch shaped like the model's inputs, (N, C, H, W): its
    per-sample shape is fixed in the file, the batch size N is left open. The graph reads
    float32 tensor "input" and writes "output"; initializers are named by state_dict key.
    Raises ExportError (one sentence naming the layer) for a model that does not fit the
    shape or has a layer without an ONNX form. Returns the path."""
    onnx_package()
    shape = getattr(example_input, "shape", None)
    if shape is None or len(shape) < 2 or min(shape) < 1:
        raise ExportError(f"ONNX export: example_input must be a batch (N, C, H, W) of at least one sample, got "
                          f"{'shape ' + str(tuple(shape)) if shape is not None else type(example_input).__name__}")
    proto = to_onnx(to_graph(model, tuple(shape[1:])), opset, producer_version=__version__)
    atomic_write_bytes(path, proto.SerializeToString())
    return os.fspath(path)
