"""Step (a) of the ONNX export: one eval-mode forward of any model, traced, -> a
:class:`~engine.onnx.records.Graph`.

Every engine operation runs through ``ArrayFunction.apply``; while a trace runs, apply
hands each call (the Function, its arguments, its outputs) to a :class:`Tracer`, which
appends the ONNX nodes :mod:`engine.onnx.mapping` gives for it. So a zoo Sequential and a
user's PyTorch-style ``forward`` (``F.relu``, ``torch.flatten``, ``out += shortcut``,
``torch.cat``...) export the same way.

Tensors are told apart by their arrays: the graph input, each traced output (named
"<module path>/<Op>"), each parameter and buffer (an initializer named by its state_dict
key) and, for any other array an operation reads, a constant initializer of its value
then. An operation that reads only constants is not recorded (its result becomes a
constant where it is read). The trace runs with grad enabled (so no batch norm is
folded), in eval mode (batch norm with its running statistics; the Dropout modules pass
their input on, and ``F.dropout`` becomes an Identity), with a forward hook on every
module so that each output is computed, under its module's name, before it returns.

The forward runs twice: on the example batch and on a random batch of another size (1,
or 2 for an example of one sample). The two record lists must be the same, except a
Reshape's target shape, whose one axis that follows the batch size becomes -1 (so the
batch size is left open); anything else that differs depends on the batch size or on the
input's values (a shape or a constant computed from them, or a step outside autograd such
as a comparison or ``.item()``), which a fixed graph cannot follow, and is refused with
the node's name.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .. import kernels
from ..autograd import Tensor, enable_grad, ops
from ..autograd.function import Function, trace_calls
from ..errors import ShapeError
from ..nn import Module
from .mapping import RULES
from .records import ExportError, Graph, OpRecord

__all__ = ["to_graph", "Tracer", "INPUT", "OUTPUT"]

INPUT, OUTPUT = "input", "output"


def to_graph(model, example_input) -> Graph:
    """The Graph of ``model``'s eval-mode forward on batches shaped like ``example_input``
    ((N, C, H, W), or (N, F) for a model that starts with Linear; its per-sample shape is
    fixed in the graph, N left open). Raises ExportError (one sentence naming the module
    and the operation) for a model that does not take that shape or does something that
    has no ONNX form. The model's mode, hooks and weights are as they were afterwards."""
    if not isinstance(model, Module):
        raise ExportError(f"ONNX export: model must be an engine.nn.Module, got {type(model).__name__}")
    x = _example(example_input)
    _check_float32(model)
    n2 = 2 if x.shape[0] == 1 else 1
    first = _trace(model, x)
    second = _trace(model, np.random.default_rng(0).standard_normal((n2, *x.shape[1:]), np.float32))
    return _merged(first, second, n2)


def _example(example_input) -> np.ndarray:
    """``example_input`` as a float32 host batch; ExportError unless it is one of at least one sample."""
    shape = getattr(example_input, "shape", None)
    if shape is None or len(shape) < 2 or min(shape) < 1:
        raise ExportError(f"ONNX export: example_input must be a batch (N, C, H, W) of at least one sample, got "
                          f"{'shape ' + str(tuple(shape)) if shape is not None else type(example_input).__name__}")
    try:
        return np.ascontiguousarray(np.asarray(example_input), dtype=np.float32)
    except (TypeError, ValueError):
        raise ExportError(f"ONNX export: example_input must hold numbers, got a {type(example_input).__name__} of "
                          f"{getattr(example_input, 'dtype', 'other things')}") from None


def _check_float32(model) -> None:
    for name, a in [(k, p.array) for k, p in model.named_parameters()] + list(model.named_buffers()):
        if np.dtype(a.dtype).kind == "f" and np.dtype(a.dtype) != np.float32:
            raise ExportError(f"ONNX export writes float32 models; {name} is {np.dtype(a.dtype)} (call model.float() "
                              "first)")


@dataclasses.dataclass
class _Trace:
    graph: Graph
    shapes: set          # names of the Reshape target shapes (merged across the two traces)


def _trace(model, x: np.ndarray) -> _Trace:
    """One traced eval-mode forward of ``model`` on host batch ``x``."""
    tracer = Tracer(model)
    modes = [(m, m.training) for m in model.modules()]
    handles = []
    for path, m in model.named_modules():
        handles.append(m.register_forward_pre_hook(tracer.entering(path)))
        handles.append(m.register_forward_hook(tracer.leaving(path)))
    try:
        model.eval()
        with enable_grad():
            leaf = Tensor(x, requires_grad=True, device=model.device)
            inp = ops.Clone.apply(leaf)      # not a leaf: `x += 1` in a forward works as usual
            tracer.bind(inp, INPUT)
            try:
                with trace_calls(tracer), np.errstate(all="ignore"):   # random inputs: values don't matter
                    out = model(inp)
            except ShapeError as e:
                raise ExportError(f"ONNX export: the model does not take inputs of shape {x.shape[1:]}: {e}") from None
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    return tracer.finish(out, x.shape)


def _merged(first: _Trace, second: _Trace, n2: int) -> Graph:
    """``first``'s graph with its Reshape shapes opened along the batch (module docstring);
    ExportError naming the first node the two traces disagree on."""
    a, b = first.graph, second.graph
    records = []
    for i in range(max(len(a.records), len(b.records))):
        ra = a.records[i] if i < len(a.records) else None
        rb = b.records[i] if i < len(b.records) else None
        node = ra or rb
        merged = _merged_record(ra, rb, first.shapes) if ra is not None and rb is not None else None
        if merged is None:
            raise ExportError(f"ONNX export: node {node.name} differs between the example batch and a random batch "
                              f"of {n2}: it depends on the batch size or on the input's values (a shape or constant "
                              "computed from them, or a step outside autograd such as a comparison, argmax or "
                              ".item()), which a fixed ONNX graph cannot follow")
        records.append(merged)
    if a.output_shape != b.output_shape:
        raise ExportError(f"ONNX export: the model's output per sample is {a.output_shape} for the example batch "
                          f"and {b.output_shape} for a batch of {n2}; it must not depend on the batch size")
    return Graph(a.input_name, a.input_shape, a.output_name, a.output_shape, records)


def _merged_record(ra: OpRecord, rb: OpRecord, shapes: set) -> OpRecord | None:
    """``ra`` with its Reshape shapes opened, or None where ``ra`` and ``rb`` differ otherwise."""
    if (ra.op_type, ra.inputs, ra.outputs, ra.attributes, ra.name) != (rb.op_type, rb.inputs, rb.outputs,
                                                                        rb.attributes, rb.name):
        return None
    if ra.initializers.keys() != rb.initializers.keys():
        return None
    inits = {}
    for k, va in ra.initializers.items():
        vb = rb.initializers[k]
        if k in shapes and va.shape == vb.shape and np.count_nonzero(va != vb) == 1:
            va = np.where(va == vb, va, -1).astype(np.int64)
        elif va.dtype != vb.dtype or not np.array_equal(va, vb, equal_nan=True):
            return None
        inits[k] = va
    return dataclasses.replace(ra, initializers=inits)


class Tracer:
    """The hook ``ArrayFunction.apply`` calls while a trace runs: appends the records of
    each operation that reads a traced tensor, a parameter or a buffer.

    For the rules of :mod:`engine.onnx.mapping`: :meth:`input` names what an operation
    reads (``outputs`` holds what it made), :meth:`emit` appends a node, :meth:`const`
    and :meth:`target_shape` add initializers, :meth:`fail` refuses with the module and
    operation named."""

    def __init__(self, model):
        self.records: list[OpRecord] = []
        self.values: dict[int, str] = {}          # id(array) -> name, for the graph input and traced outputs
        self.keep: list = []                      # those arrays, alive while tracing (so ids stay unique)
        self.state: dict[int, tuple] = {}         # id(array) -> (state_dict key, array)
        for key, p in model.named_parameters():
            self.state[id(p.array)] = (key, p.array)
        for key, b in model.named_buffers():
            self.state.setdefault(id(b), (key, b))
        self.used = {INPUT, OUTPUT, *model.state_dict()}
        self.introduced: set[str] = set()
        self.pending: dict[str, np.ndarray] = {}  # initializers for the next node
        self.shapes: set[str] = set()
        self.modules: list[tuple[str, str]] = []  # (path, class name) of the module calls under way
        self.op = ""                              # the Function being mapped
        self.outputs: tuple = ()                  # and its output tensors

    # --- the module calls under way ------------------------------------------------------
    def entering(self, path: str):
        def pre_hook(module, args):
            self.modules.append((path, type(module).__name__))
        return pre_hook

    def leaving(self, path: str):
        def hook(module, args, out):
            while self.modules and self.modules.pop()[0] != path:
                pass
        return hook

    def where(self) -> str:
        path, cls = self.modules[-1] if self.modules else ("", "")
        return f"module '{path}' ({cls})" if path else f"the model's forward ({cls})" if cls else "the model's forward"

    def fail(self, reason: str):
        """ExportError: ``reason`` for the operation being mapped, with its module."""
        raise ExportError(f"ONNX export: operation {self.op} in {self.where()} {reason}")

    # --- the hook -----------------------------------------------------------------------------
    def __call__(self, fn, args, kwargs, outputs) -> None:
        if not any(self._known(a) for a in args):
            return                                   # constants only: its outputs are constants where read
        self.op = fn.__name__.lstrip("_")
        rule = RULES.get(fn)
        if rule is None and issubclass(fn, Function):
            if all(self._known(o) for o in outputs):
                return               # a user's Function whose forward ran traced operations: they are its nodes
            self.fail("has no ONNX form: its forward computes its result outside the engine's tensor operations")
        if rule is None:
            self.fail("has no ONNX form (the exporter maps the engine's layers and tensor operations; see "
                      "engine.onnx.mapping)")
        for o in outputs:
            if o.dtype != np.float32:
                self.fail(f"makes a {o.dtype} tensor; an exported graph computes in float32")
        self.outputs = outputs
        names = rule(self, *args, **kwargs)
        for o, name in zip(outputs, names if isinstance(names, tuple) else (names,)):
            self.bind(o, name)

    def bind(self, t: Tensor, name: str) -> None:
        """From now on, ``t``'s array is the graph tensor ``name``."""
        self.values[id(t.array)] = name
        self.keep.append(t.array)

    def _known(self, a) -> bool:
        if isinstance(a, Tensor):
            a = a.array
        return id(a) in self.values or id(a) in self.state

    # --- for the rules ----------------------------------------------------------------------
    def input(self, a) -> str:
        """The graph name of tensor, array or number ``a`` that the operation reads."""
        arr = a.array if isinstance(a, Tensor) else a
        name = self.values.get(id(arr))
        if name is not None:
            return name
        if id(arr) in self.state:
            name, arr = self.state[id(arr)]
            if name not in self.introduced:
                self.introduced.add(name)
                self.pending[name] = _host(arr).astype(np.float32)
            return name
        return self.const(_host(arr).astype(np.float32))

    def const(self, value: np.ndarray, what: str = "const") -> str:
        """A new initializer holding ``value`` (float32 or int64), read by the next node."""
        name = self._fresh(f"{self._node_base(self.op)}.{what}")
        self.pending[name] = np.ascontiguousarray(value)
        return name

    def target_shape(self, shape) -> str:
        """An int64 shape initializer for Reshape, whose batch axis the merge opens."""
        name = self.const(np.asarray(shape, np.int64), "shape")
        self.shapes.add(name)
        return name

    def emit(self, op_type: str, inputs, /, **attributes) -> str:
        """Appends node ``op_type`` reading ``inputs`` (names; "" for an optional input left
        out) with ``attributes``; returns the name of its output."""
        name = self._fresh(self._node_base(op_type))
        self.records.append(OpRecord(op_type, tuple(inputs), (name,), attributes, self.pending, name))
        self.pending = {}
        return name

    def _node_base(self, op: str) -> str:
        path = self.modules[-1][0] if self.modules else ""
        return f"{path}/{op}" if path else op

    def _fresh(self, base: str) -> str:
        name, n = base, 1
        while name in self.used:
            n += 1
            name = f"{base}#{n}"
        self.used.add(name)
        return name

    def finish(self, out, x_shape) -> _Trace:
        """The trace's Graph, ``out`` (the forward's result) its output."""
        if not isinstance(out, Tensor):
            raise ExportError(f"ONNX export: the model's forward returns a {type(out).__name__}; the exporter takes a "
                              "model that returns one tensor")
        if out.ndim < 1 or out.shape[0] != x_shape[0] or out.dtype != np.float32:
            raise ExportError(f"ONNX export: the model's output ({out.dtype}, shape {out.shape}) for a batch of "
                              f"{x_shape[0]} must be float32 with the batch on its first axis")
        self.op = "output"
        src = self.input(out)
        self.records.append(OpRecord("Identity", (src,), (OUTPUT,), {}, self.pending, OUTPUT))
        self.pending = {}
        return _Trace(Graph(INPUT, tuple(x_shape[1:]), OUTPUT, tuple(out.shape[1:]), self.records), self.shapes)


def _host(a) -> np.ndarray:
    """A host array of a device array, numpy array or number."""
    if hasattr(a, "copy_to_host") and not isinstance(a, np.ndarray):
        return np.asarray(kernels.ops(kernels.device_of(a)).to_host(a))
    return np.asarray(a)
