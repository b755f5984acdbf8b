"""Step (b) of the ONNX export: a :class:`~engine.onnx.records.Graph` -> an ONNX ModelProto,
built with ``onnx.helper`` and checked by ``onnx.checker`` (``pip install 'numbacnn[onnx]'``)."""
from __future__ import annotations

from .records import ExportError, Graph

__all__ = ["to_onnx", "DEFAULT_OPSET", "MIN_OPSET", "INSTALL"]

DEFAULT_OPSET = 17
MIN_OPSET = 17          # the mapping's operators as they are from opset 17 on
MAX_PROTO_BYTES = 2_000_000_000   # protobuf's limit on one message (initializers included)
INSTALL = "ONNX export needs the onnx package: pip install 'numbacnn[onnx]'"


def onnx_package():
    """The optional ``onnx`` package, or ExportError saying how to install it."""
    try:
        import onnx
        import onnx.checker
        import onnx.helper
        import onnx.numpy_helper
    except ImportError:
        raise ExportError(INSTALL) from None
    return onnx


def to_onnx(graph: Graph, opset: int = DEFAULT_OPSET, producer_version: str = ""):
    """The ONNX model of ``graph`` (default domain at ``opset``, the lowest IR version that
    opset needs, the batch axis named "N"), after ``onnx.checker.check_model``."""
    onnx = onnx_package()
    helper = onnx.helper
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise ExportError(f"ONNX export: opset must be an integer from {MIN_OPSET} to {newest} (this onnx "
                          f"package's newest), got {opset!r}")
    graph.validate()
    inits = graph.initializers()
    size = sum(a.nbytes for a in inits.values())
    if size > MAX_PROTO_BYTES:
        raise ExportError(f"ONNX export: the weights take {size / 2**30:.1f} GiB, more than one ONNX file "
                          "holds without external data (2 GB)")
    nodes = [helper.make_node(r.op_type, list(r.inputs), list(r.outputs), name=r.name, **r.attributes)
             for r in graph.records]
    g = helper.make_graph(
        nodes, "numbacnn",
        [helper.make_tensor_value_info(graph.input_name, onnx.TensorProto.FLOAT, ["N", *graph.input_shape])],
        [helper.make_tensor_value_info(graph.output_name, onnx.TensorProto.FLOAT, ["N", *graph.output_shape])],
        initializer=[onnx.numpy_helper.from_array(a, name) for name, a in inits.items()])
    ops = [helper.make_opsetid("", opset)]
    model = helper.make_model(g, opset_imports=ops, producer_name="numbacnn", producer_version=producer_version,
                              ir_version=helper.find_min_ir_version_for(ops))
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ExportError(f"ONNX export: the graph fails onnx.checker: {str(e).strip().splitlines()[0]}") from None
    return model
