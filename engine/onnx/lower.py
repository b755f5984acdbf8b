"""Step (a) of the ONNX export: a module tree -> a :class:`~engine.onnx.records.Graph`.

Each module becomes the ONNX nodes that compute its eval-mode forward: Conv2d -> Conv,
Linear -> Gemm (transB), BatchNorm2d/1d -> BatchNormalization with the running
statistics, Dropout -> nothing, max/average pooling -> MaxPool / AveragePool,
AdaptiveAvgPool2d -> GlobalAveragePool, an AveragePool where the sizes divide, else two
MatMuls with averaging matrices; Flatten -> Flatten(axis=1); LocalResponseNorm -> LRN;
the activations -> Relu / LeakyRelu / Sigmoid / Tanh; Residual -> its body, its
shortcut and an Add; Concat -> its branches and a Concat on channels; Sequential -> its
children in order. Initializers are named by state_dict key ("3.body.0.weight"), each
node by the path of the module it comes from, each module's output by that path too.
"""
from __future__ import annotations

import numpy as np

from ..nn import (AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Concat, Conv2d, Dropout, Flatten,
                  LeakyReLU, Linear, LocalResponseNorm, MaxPool2d, ReLU, Residual, Sequential, ShapeError, Sigmoid,
                  Tanh)
from .records import ExportError, Graph, OpRecord

__all__ = ["to_graph", "INPUT", "OUTPUT"]

INPUT, OUTPUT = "input", "output"


def to_graph(model, input_shape) -> Graph:
    """The Graph of ``model``'s eval-mode forward on inputs of per-sample shape
    ``input_shape`` (C, H, W) — or (F,) for a model that starts with Linear. Raises
    ExportError naming the layer that does not fit the shape or has no ONNX form."""
    input_shape = tuple(int(s) for s in input_shape)
    try:
        output_shape = tuple(model.output_shape(input_shape))
    except ShapeError as e:
        raise ExportError(f"ONNX export: the model does not take inputs of shape {input_shape}: {e}") from None
    state = {k: np.asarray(v) for k, v in model.state_dict().items()}
    lowering = _Lowering(state)
    last = lowering.module(model, "", INPUT, input_shape)
    lowering.add("Identity", [last], name="output", out=OUTPUT)
    return Graph(INPUT, input_shape, OUTPUT, output_shape, lowering.records)


class _Lowering:
    """Appends the records of one module after another, naming their tensors."""

    def __init__(self, state: dict):
        self.state = state
        self.records: list[OpRecord] = []
        self.names = {INPUT, OUTPUT}

    def fresh(self, base: str) -> str:
        name, n = base, 1
        while name in self.names:
            n += 1
            name = f"{base}#{n}"
        self.names.add(name)
        return name

    def add(self, op, inputs, name, out=None, attributes=None, initializers=None) -> str:
        """Appends one record reading ``inputs``; returns the name of its output."""
        out = out or self.fresh(name or op.lower())
        self.records.append(OpRecord(op, tuple(inputs), (out,), dict(attributes or {}),
                                     dict(initializers or {}), name or op))
        return out

    def param(self, path: str, key: str, dtype=np.float32) -> tuple[str, np.ndarray]:
        """(initializer name, array) of state_dict entry ``path.key``."""
        name = f"{path}.{key}" if path else key
        self.names.add(name)
        return name, np.ascontiguousarray(self.state[name], dtype=dtype)

    def module(self, m, path: str, x: str, shape: tuple) -> str:
        """Appends ``m``'s records reading tensor ``x`` of per-sample ``shape``; returns the
        name of its output."""
        rule = _RULES.get(type(m))
        if rule is None:
            where = f" at {path}" if path else ""
            raise ExportError(f"ONNX export: layer {type(m).__name__}{where} has no ONNX form (the exporter knows "
                              f"{', '.join(sorted(t.__name__ for t in _RULES))})")
        return rule(self, m, path, x, shape)


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _sequential(lw, m, path, x, shape):
    for name, child in m.named_children():
        x = lw.module(child, _child(path, name), x, shape)
        shape = tuple(child.output_shape(shape))
    return x


def _residual(lw, m, path, x, shape):
    y = lw.module(m.body, _child(path, "body"), x, shape)
    s = x if m.shortcut is None else lw.module(m.shortcut, _child(path, "shortcut"), x, shape)
    return lw.add("Add", [y, s], _child(path, "add"))


def _concat(lw, m, path, x, shape):
    outs = [lw.module(b, _child(path, name), x, shape) for name, b in m.named_children()]
    return lw.add("Concat", outs, _child(path, "concat"), attributes={"axis": 1})


def _pads(padding) -> list:
    """ONNX pads (begin of each axis, then end of each) for torch's symmetric (ph, pw)."""
    return [padding[0], padding[1], padding[0], padding[1]]


def _conv(lw, m, path, x, shape):
    w, warr = lw.param(path, "weight")
    inits = {w: warr}
    inputs = [x, w]
    if m.bias is not None:
        b, barr = lw.param(path, "bias")
        inits[b] = barr
        inputs.append(b)
    return lw.add("Conv", inputs, path, initializers=inits,
                  attributes={"kernel_shape": list(m.kernel_size), "strides": list(m.stride), "pads": _pads(m.padding)})


def _linear(lw, m, path, x, shape):
    w, warr = lw.param(path, "weight")
    inits = {w: warr}
    inputs = [x, w]
    if m.bias is not None:
        b, barr = lw.param(path, "bias")
        inits[b] = barr
        inputs.append(b)
    return lw.add("Gemm", inputs, path, attributes={"transB": 1}, initializers=inits)


def _batchnorm(lw, m, path, x, shape):
    inits = dict(lw.param(path, k) for k in ("weight", "bias", "running_mean", "running_var"))
    return lw.add("BatchNormalization", [x, *inits], path, attributes={"epsilon": m.eps}, initializers=inits)


def _max_pool(lw, m, path, x, shape):
    return lw.add("MaxPool", [x], path, attributes={"kernel_shape": list(m.kernel_size), "strides": list(m.stride),
                                                     "pads": _pads(m.padding)})


def _avg_pool(lw, m, path, x, shape):
    return lw.add("AveragePool", [x], path, attributes={
        "kernel_shape": list(m.kernel_size), "strides": list(m.stride), "pads": _pads(m.padding),
        "count_include_pad": int(m.count_include_pad)})


def _averaging(size: int, out: int) -> np.ndarray:
    """(out, size) matrix whose row o averages torch's adaptive window
    [floor(o*size/out), ceil((o+1)*size/out))."""
    a = np.zeros((out, size), np.float32)
    for o in range(out):
        lo, hi = (o * size) // out, -((-(o + 1) * size) // out)
        a[o, lo:hi] = 1.0 / (hi - lo)
    return a


def _adaptive_avg_pool(lw, m, path, x, shape):
    (h, w), (oh, ow) = shape[1:], m.output_size
    if (oh, ow) == (1, 1):
        return lw.add("GlobalAveragePool", [x], path)
    if h % oh == 0 and w % ow == 0:
        k = [h // oh, w // ow]
        return lw.add("AveragePool", [x], path, attributes={"kernel_shape": k, "strides": k})
    cols, rows = _child(path, "cols"), _child(path, "rows")   # x @ cols: (N, C, H, ow); rows @ that: (N, C, oh, ow)
    lw.names.update((cols, rows))
    t = lw.add("MatMul", [x, cols], _child(path, "cols_matmul"), initializers={cols: _averaging(w, ow).T.copy()})
    return lw.add("MatMul", [rows, t], path, initializers={rows: _averaging(h, oh)})


def _lrn(lw, m, path, x, shape):
    if m.size % 2 == 0:
        raise ExportError(f"ONNX export: LocalResponseNorm at {path or 'the top'} has an even size ({m.size}); "
                          "ONNX's LRN centres an even window one channel off torch's, so only odd sizes export")
    return lw.add("LRN", [x], path, attributes={"size": m.size, "alpha": m.alpha, "beta": m.beta, "bias": m.k})


def _identity(lw, m, path, x, shape):
    return x


def _simple(op, **attributes):
    def rule(lw, m, path, x, shape):
        return lw.add(op, [x], path, attributes={k: f(m) for k, f in attributes.items()})
    return rule


_RULES = {
    Sequential: _sequential, Residual: _residual, Concat: _concat,
    Conv2d: _conv, Linear: _linear, BatchNorm2d: _batchnorm, BatchNorm1d: _batchnorm,
    MaxPool2d: _max_pool, AvgPool2d: _avg_pool, AdaptiveAvgPool2d: _adaptive_avg_pool,
    LocalResponseNorm: _lrn, Dropout: _identity,
    Flatten: _simple("Flatten", axis=lambda m: 1),
    ReLU: _simple("Relu"), Sigmoid: _simple("Sigmoid"), Tanh: _simple("Tanh"),
    LeakyReLU: _simple("LeakyRelu", alpha=lambda m: m.negative_slope),
}
