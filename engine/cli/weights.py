"""``numbacnn import-weights`` (a torch.save or safetensors file -> a checkpoint) and
``numbacnn export`` (a checkpoint's weights as safetensors, its model as ONNX)."""
from __future__ import annotations

import os
import shlex
import sys

import numpy as np

from .. import models
from ..errors import first_line
from ..interop import load_into, read_weights, save_safetensors
from ..nn import Linear, from_spec
from ..onnx import export
from ..train.checkpoint import save_checkpoint
from ..train.recipe import DATASET_SHAPES, NORMALIZE, Settings, build_model
from . import arguments as A
from .common import fresh_out, layer_table, open_checkpoint
from .errors import PROG, UserError


def add_parser(sub) -> None:
    iw = sub.add_parser("import-weights", help="a PyTorch .pt/.pth or a safetensors file -> a checkpoint",
                        description="Load a state_dict saved by torch.save (read without torch; nothing in the "
                                    "file runs) or a safetensors file into a zoo model by torch's state_dict keys, "
                                    "and write a numbacnn checkpoint that evaluate, predict and export take.")
    iw.add_argument("file", metavar="FILE")
    iw.add_argument("--model", default=None, help="zoo model name or spec .json (default: the spec a numbacnn "
                                                  "safetensors file carries)")
    iw.add_argument("--dataset", choices=sorted(NORMALIZE), default=None,
                    help="the dataset the weights were trained on: records its image shape and the "
                         "normalisation numbacnn train uses, so evaluate needs no --dataset")
    iw.add_argument("--input", type=A.shape, default=None, help="CxHxW (default: the dataset's, else the model's)")
    iw.add_argument("--num-classes", type=A.positive_int, default=None,
                    help="default: the output size of the file's last Linear")
    iw.add_argument("--key", default=None, help="the entry of a wrapper dict that holds the state_dict "
                                                "(default: found by itself)")
    iw.add_argument("-o", "--out", required=True, help="the checkpoint to write (.npz)")
    iw.add_argument("--force", action="store_true", help="replace --out if it exists")
    iw.set_defaults(run=run_import)

    ex = sub.add_parser("export", help="a checkpoint's model as safetensors or ONNX",
                        description="Write a checkpoint's weights as safetensors (torch state_dict keys) or its "
                                    "model as ONNX (eval mode, any batch size).")
    ex.add_argument("checkpoint")
    ex.add_argument("--format", choices=("safetensors", "onnx"), default=None,
                    help="default: from the extension of -o (.safetensors, .onnx)")
    ex.add_argument("-o", "--out", required=True, help="the file to write")
    ex.add_argument("--input", type=A.shape, default=None, help="CxHxW of the ONNX input (default: the "
                                                                "checkpoint's)")
    ex.add_argument("--opset", type=A.positive_int, default=17, help="ONNX opset, 17 or newer (default 17)")
    ex.add_argument("--force", action="store_true", help="replace --out if it exists")
    ex.set_defaults(run=run_export)


def _last_linear_key(model):
    keys = [f"{name}.weight" if name else "weight" for name, m in model.named_modules() if isinstance(m, Linear)]
    return keys[-1] if keys else None


def run_import(args) -> int:
    fresh_out(args.out, args.force)
    state, spec = read_weights(args.file, key=args.key)
    shape = args.input or DATASET_SHAPES.get(args.dataset)
    if args.model is not None:
        shape = shape or models.DEFAULT_INPUT.get(args.model)     # None for a spec .json: nothing to check
        classes = args.num_classes or 10
        model = build_model(Settings(model=args.model), shape, classes)
        last = _last_linear_key(model)
        if args.num_classes is None and last in state and state[last].ndim == 2 and state[last].shape[0] != classes:
            model = build_model(Settings(model=args.model), shape, int(state[last].shape[0]))
    elif spec is not None:
        try:
            model = from_spec(spec)
        except ValueError as e:
            raise UserError(f"{args.file}: the model spec it carries does not build: {first_line(e)}") from None
    else:
        raise UserError(f"{args.file} carries no numbacnn model spec; pass --model NAME (see `numbacnn models`)")
    load_into(model, state, source=args.file)
    if shape is not None:
        layer_table(model, shape, f"model {args.model or args.file!r}")
    metadata = {"imported_from": os.path.abspath(args.file),
                "command": " ".join([PROG] + [shlex.quote(x) for x in sys.argv[1:]])}
    if args.dataset:
        mean, std = NORMALIZE[args.dataset]
        metadata.update(dataset=args.dataset, normalize={"mean": list(mean), "std": list(std)})
    save_checkpoint(args.out, model.eval(), {"input_shape": list(shape) if shape else None, "metadata": metadata})
    print(f"{args.file}: {len(state)} tensors into {args.model or 'its model spec'} "
          f"({model.num_parameters():,} parameters); wrote {args.out}")
    return 0


def run_export(args) -> int:
    fmt = args.format or {".onnx": "onnx", ".safetensors": "safetensors"}.get(os.path.splitext(args.out)[1].lower())
    if fmt is None:
        raise UserError(f"cannot tell the format from -o {args.out}; pass --format safetensors or --format onnx")
    fresh_out(args.out, args.force)
    c, model = open_checkpoint(args.checkpoint)
    if fmt == "safetensors":
        save_safetensors(model, args.out)
    else:
        shape = args.input or c.input_shape
        if not shape:
            raise UserError(f"{args.checkpoint} does not record its input shape; pass --input CxHxW")
        export(model, np.zeros((1, *shape), np.float32), args.out, opset=args.opset)
    print(f"wrote {args.out} ({fmt}, {os.path.getsize(args.out):,} bytes)")
    return 0
