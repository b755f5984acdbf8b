"""``export(model, example_input, path)``: a model as an ONNX file, for ONNX Runtime and the
other runtimes that read ONNX (``pip install 'numbacnn[onnx]'``)."""
from __future__ import annotations

import os

from .. import __version__
from ..train.checkpoint import atomic_write_bytes
from .build import DEFAULT_OPSET, onnx_package, to_onnx
from .trace import to_graph

__all__ = ["export"]


def export(model, example_input, path, opset: int = DEFAULT_OPSET) -> str:
    """Writes ``model``'s eval-mode forward (batch norm with its running statistics,
    dropout left out) to ``path`` as an ONNX model at ``opset`` (17 or newer), atomically.

    Any model exports, a zoo Sequential or a PyTorch-style ``forward``: the forward is
    traced on ``example_input`` (:mod:`engine.onnx.trace`), a batch shaped like the
    model's inputs, (N, C, H, W): its per-sample shape is fixed in the file, the batch
    size N is left open. The graph reads float32 tensor "input" and writes "output";
    parameters and buffers are initializers named by state_dict key. Raises ExportError
    (one sentence naming the module and the operation) for a model that does not take
    that shape or does something without an ONNX form. Returns the path."""
    onnx_package()
    proto = to_onnx(to_graph(model, example_input), opset, producer_version=__version__)
    atomic_write_bytes(path, proto.SerializeToString())
    return os.fspath(path)
