"""``summary(model, input_shape)``: a Keras-style table of every layer's output shape,
parameters and multiply-accumulates.

A model built from numbacnn's layers and containers (a spec model: the zoo, the studio's
layer table) is shape-inferred without computing anything, so a layer that does not fit
is named before any memory is spent. Any other module (a user's ``forward``) is traced:
one forward pass of a zero sample in eval mode without a graph, a row per leaf-module
call (a layer used twice gives two rows; its parameters count once in the total)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import kernels
from ..autograd import Tensor, no_grad
from .module import Module


@dataclass
class Summary:
    """rows: (name, layer, output shape, parameters, MACs) per layer, in forward order."""

    input_shape: tuple[int, ...]
    rows: list[tuple[str, str, tuple[int, ...], int, int]]
    output_shape: tuple[int, ...]
    total_params: int
    total_macs: int
    activation_bytes: int

    def __str__(self) -> str:
        head = ("Layer", "Type", "Output shape", "Params", "MACs")
        body = [(name, kind if len(kind) <= 60 else kind[:57] + "...", "x".join(map(str, shape)),
                 f"{params:,}", f"{macs:,}") for name, kind, shape, params, macs in self.rows]
        widths = [max(len(r[i]) for r in [head] + body) for i in range(5)]
        line = "-" * (sum(widths) + 8)

        def fmt(r):
            return "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        return "\n".join([
            f"Input: {'x'.join(map(str, self.input_shape))}", line, fmt(head), line, *map(fmt, body), line,
            f"Total parameters: {self.total_params:,} ({self.total_params * 4 / 2**20:.2f} MiB as float32)",
            f"Total MACs per sample: {self.total_macs:,} ({self.total_macs / 1e6:.1f} M)",
            f"Activation memory per sample (forward): {self.activation_bytes / 2**20:.2f} MiB",
        ])

    __repr__ = __str__


def summary(model: Module, input_shape) -> Summary:
    """The table for one sample of ``input_shape`` (C, H, W) — a leading batch axis is
    dropped if given as (N, C, H, W). Raises ShapeError naming the first layer that does
    not fit, the shape it got and the shape it needs."""
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 4:
        shape = shape[1:]
    rows: list = []
    if all(m.spec_layer for m in model.modules()):
        out = model.trace(shape, "", rows)
    else:
        out = _traced(model, shape, rows)
    acts = sum(int(np.prod(r[2])) for r in rows) * 4
    return Summary(shape, rows, tuple(out), model.num_parameters(),
                   sum(r[4] for r in rows), acts)


def _traced(model: Module, shape, rows) -> tuple:
    """Rows from one forward pass (see the module docstring); returns the output shape."""
    names = {id(m): n for n, m in model.named_modules()}

    def record(m, inputs, out):
        x = inputs[0] if inputs and isinstance(inputs[0], Tensor) else None
        in_shape = tuple(x.shape[1:]) if x is not None else ()
        own = sum(int(np.prod(p.shape)) for p in m.parameters())
        rows.append((names.get(id(m)) or type(m).__name__, f"{type(m).__name__}({m.extra_repr()})",
                     tuple(out.shape[1:]) if isinstance(out, Tensor) else (), own, m.macs(in_shape)))

    handles = [m.register_forward_hook(record) for m in model.modules() if not m._modules and m is not model]
    was_training = model.training
    try:
        model.eval()
        x = Tensor(kernels.ops(model.device).zeros((1,) + shape, np.float32))
        with no_grad():
            out = model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return tuple(out.shape[1:]) if isinstance(out, Tensor) else ()
