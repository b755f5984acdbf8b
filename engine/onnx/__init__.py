"""ONNX export in two steps: a model -> op records, by tracing one forward (:mod:`.trace`,
with :mod:`.mapping` saying what each engine operation is in ONNX; interface in
:mod:`.records`) -> an ONNX ModelProto (:mod:`.build`); :func:`export` does both and writes
the file. Needs the optional ``onnx`` package (``pip install 'numbacnn[onnx]'``) for step (b)."""
from .build import DEFAULT_OPSET, to_onnx
from .export import export
from .records import ExportError, Graph, OpRecord
from .trace import to_graph

__all__ = ["export", "to_graph", "to_onnx", "Graph", "OpRecord", "ExportError", "DEFAULT_OPSET"]
