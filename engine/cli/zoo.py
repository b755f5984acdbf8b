"""``numbacnn summary`` (the layer table of a zoo model, a spec or a checkpoint's model)
and ``numbacnn models`` (the zoo with parameter counts)."""
from __future__ import annotations

from .. import models
from ..nn import summary
from ..train.recipe import Settings, build_model, shape_text
from . import arguments as A
from .common import layer_table, open_checkpoint
from .errors import UserError


def add_parser(sub) -> None:
    s = sub.add_parser("summary", help="layer table of a zoo model (or a checkpoint's model)")
    s.add_argument("--model", default=None, help="zoo model name or spec .json")
    s.add_argument("--checkpoint", default=None)
    s.add_argument("--input", type=A.shape, default=None, help="CxHxW, e.g. 3x32x32 (default: the model's)")
    s.add_argument("--num-classes", type=A.positive_int, default=10)
    s.set_defaults(run=run_summary)
    m = sub.add_parser("models", help="the model zoo with parameter counts")
    m.set_defaults(run=run_models)


def run_summary(args) -> int:
    if args.checkpoint:
        c, model = open_checkpoint(args.checkpoint)
        shape = args.input or c.input_shape
        name = args.checkpoint
        if not shape:
            raise UserError(f"{args.checkpoint} does not record its input shape; pass --input CxHxW")
    else:
        name = args.model
        if not name:
            raise UserError("summary needs --model NAME (see `numbacnn models`) or --checkpoint CKPT")
        shape = args.input or (None if name.endswith(".json") else models.DEFAULT_INPUT.get(name))
        if shape is None and name.endswith(".json"):
            raise UserError("summary of a spec file needs --input CxHxW")
        if shape is None:
            raise UserError(f"unknown model {name!r}; the zoo has: {', '.join(models.names())}")
        model = build_model(Settings(model=name), shape, args.num_classes)
    print(f"{name}")
    print(str(layer_table(model, shape, f"model {name!r}")))
    return 0


def run_models(args) -> int:
    rows = [("model", "input", "parameters", "MACs/image", "layers")]
    for name in models.names():
        shape = models.DEFAULT_INPUT[name]
        m = models.get(name)
        s = summary(m, shape)
        leaves = sum(1 for _, mod in m.named_modules() if not mod._modules)
        rows.append((name, shape_text(shape), f"{s.total_params:,}", f"{s.total_macs / 1e6:,.1f} M", str(leaves)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(w) if j < 2 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    return 0
