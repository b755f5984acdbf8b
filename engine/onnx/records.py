"""The exporter's interface between a model and an ONNX file: a graph as a list of op records.

Step (a) turns a model into a :class:`Graph` — the tracer in :mod:`engine.onnx.trace`
does it from one forward of any model — and step (b), :func:`engine.onnx.build.to_onnx`,
turns any Graph into an ONNX ModelProto. Records name ONNX operators of the default domain and their attributes as
``onnx.helper.make_node`` takes them; nothing here imports onnx.

Tensor names are strings unique in the graph: the graph input, each record's outputs
and each initializer name exactly one tensor. A record may only read tensors named
before it (graph input, earlier outputs, its own or earlier initializers), so the list
is in execution order. Every tensor is float32 except initializers that are int64 by
their operator's definition (a Reshape's shape, say).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ExportError", "OpRecord", "Graph"]


class ExportError(ValueError):
    """A model that cannot be written as ONNX, said in one sentence naming the layer."""


@dataclass(frozen=True)
class OpRecord:
    """One ONNX node.

    op_type:      ONNX operator name ("Conv", "Relu", ...), default domain.
    inputs:       names of the tensors it reads, in the operator's input order ("" for
                  an optional input left out).
    outputs:      names of the tensors it writes.
    attributes:   ``{name: int | float | str | list of one of them}``.
    initializers: constant arrays this node introduces, ``{name: array}`` (float32, or
                  int64 where the operator wants integers); their names appear in inputs.
    name:         the node's name (the module path it comes from), for readers of the graph.
    """

    op_type: str
    inputs: tuple
    outputs: tuple
    attributes: dict = field(default_factory=dict)
    initializers: dict = field(default_factory=dict)
    name: str = ""


@dataclass
class Graph:
    """A whole model: ``records`` in execution order from the float32 tensor ``input_name``
    of shape (N, *input_shape) to ``output_name`` of shape (N, *output_shape); the batch
    size N is left open."""

    input_name: str
    input_shape: tuple
    output_name: str
    output_shape: tuple
    records: list

    def initializers(self) -> dict:
        """Every initializer of the graph, by name, in the order the records introduce them."""
        out = {}
        for r in self.records:
            out.update(r.initializers)
        return out

    def validate(self) -> None:
        """Raises ExportError unless every name is defined once, before it is read, and
        every initializer is a float32 or int64 array."""
        defined = {self.input_name}
        for r in self.records:
            for k, v in r.initializers.items():
                if k in defined:
                    raise ExportError(f"ONNX graph: node {r.name or r.op_type} introduces {k!r}, which is already "
                                      "defined")
                if not isinstance(v, np.ndarray) or v.dtype not in (np.float32, np.int64):
                    raise ExportError(f"ONNX graph: initializer {k!r} of node {r.name or r.op_type} is not a "
                                      "float32 or int64 array")
                defined.add(k)
            missing = [i for i in r.inputs if i and i not in defined]
            if missing:
                raise ExportError(f"ONNX graph: node {r.name or r.op_type} reads {missing[0]!r} before anything "
                                  "writes it")
            for o in r.outputs:
                if o in defined:
                    raise ExportError(f"ONNX graph: node {r.name or r.op_type} writes {o!r}, which is already "
                                      "defined")
                defined.add(o)
        if self.output_name not in defined:
            raise ExportError(f"ONNX graph: nothing writes the output {self.output_name!r}")
