"""``summary(model, input_shape)``: a Keras-style table of every layer's output shape,
parameters and multiply-accumulates, found by shape inference (no computation)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    """Shape-infers ``model`` on one sample of ``input_shape`` (C, H, W) — a leading batch
    axis is dropped if given as (N, C, H, W) — and raises ShapeError naming the first layer
    that does not fit, the shape it got and the shape it needs."""
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 4:
        shape = shape[1:]
    rows: list = []
    out = model.trace(shape, "", rows)
    acts = sum(int(np.prod(r[2])) for r in rows) * 4
    return Summary(shape, rows, tuple(out), model.num_parameters(),
                   sum(r[4] for r in rows), acts)
