"""ONNX export in two steps: a model -> op records (:mod:`.lower`, interface in
:mod:`.records`) -> an ONNX ModelProto (:mod:`.build`); :func:`export` does both and writes
the file. Needs the optional ``onnx`` package (``pip install 'numbacnn[onnx]'``) for step (b)."""
from .build import DEFAULT_OPSET, to_onnx
from .export import export
from .lower import to_graph
from .records import ExportError, Graph, OpRecord

__all__ = ["export", "to_graph", "to_onnx", "Graph", "OpRecord", "ExportError", "DEFAULT_OPSET"]
