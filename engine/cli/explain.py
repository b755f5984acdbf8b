"""``numbacnn explain CKPT IMAGE [--layer NAME] [--class K] -o out.png``: the image's top-3
classes and a PNG of the Grad-CAM heat map (engine.explain) over the image as the model
sees it, scaled up by a whole factor so its longer side is at least EXPLAIN_SIDE pixels."""
from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image

from ..data.transforms import apply_batch
from ..errors import first_line
from ..explain import explain, heatmap, overlay
from ..train.checkpoint import atomic_write_bytes
from .common import eval_transform, fresh_out, open_image_model, read_image
from .errors import UserError

EXPLAIN_SIDE = 256     # the PNG's longer side is at least this (the image scaled by a whole factor)


def add_parser(sub) -> None:
    xp = sub.add_parser("explain", help="Grad-CAM: where in an image a checkpoint's model looked for a class",
                        description="Print the image's top-3 classes and write a PNG of the Grad-CAM heat map "
                                    "(Selvaraju et al. 2017) of a class at a layer, over the image as the model "
                                    "sees it (blue: no evidence, red: the most).")
    xp.add_argument("checkpoint")
    xp.add_argument("image", metavar="IMAGE")
    xp.add_argument("--layer", default=None, help="the layer's module name, e.g. 3 or 6.0.body.3 (default: the "
                                                  "last Conv2d)")
    xp.add_argument("--class", dest="target", default=None, metavar="K",
                    help="a class index or name (default: the predicted class)")
    xp.add_argument("-o", "--out", required=True, help="the PNG to write")
    xp.add_argument("--force", action="store_true", help="replace --out if it exists")
    xp.set_defaults(run=run_explain)


def class_index(text, names):
    """--class K: a whole number, or one of the checkpoint's class names."""
    if text is None:
        return None
    if text.strip().lstrip("-").isdigit():
        return int(text)
    if names and text in names:
        return names.index(text)
    known = f"one of: {', '.join(names)}" if names else "a class index (the checkpoint names no classes)"
    raise UserError(f"--class {text!r} is not a class of the checkpoint; give {known}")


def run_explain(args) -> int:
    if os.path.splitext(args.out)[1].lower() != ".png":
        raise UserError(f"-o {args.out}: explain writes a PNG; give a name ending in .png")
    fresh_out(args.out, args.force)
    c, model, shape = open_image_model(args.checkpoint, "explain")
    ch, h, w = shape
    names = c.class_names or None
    target = class_index(args.target, names)
    img = read_image(args.image, ch, h, w)
    x = np.ascontiguousarray(apply_batch(eval_transform(c), img[None])[0], dtype=np.float32)
    try:
        e = explain(model, x, layer=args.layer, target=target, class_names=names, maps=False)
    except ValueError as err:
        raise UserError(f"{args.checkpoint}: {first_line(err)}") from None
    k = -(-EXPLAIN_SIDE // max(h, w))
    big = np.repeat(np.repeat(img, k, axis=0), k, axis=1)
    buf = io.BytesIO()
    Image.fromarray(overlay(big, heatmap(e.cam, big.shape[:2]))).save(buf, format="PNG")
    atomic_write_bytes(args.out, buf.getvalue())
    print(f"{args.image}: " + ", ".join(f"{name} {100 * p:.1f}%" for _, name, p in e.top(3)))
    print(f"wrote {args.out}: Grad-CAM of class {e.class_names[e.target]} at layer {e.layer} "
          f"({type(dict(model.named_modules())[e.layer]).__name__}, {e.cam.shape[0]}x{e.cam.shape[1]} map)")
    return 0
