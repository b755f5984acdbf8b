"""``numbacnn evaluate`` (accuracy, per-class accuracy and confusion matrix of a
checkpoint on a dataset) and ``numbacnn predict`` (top classes of image files)."""
from __future__ import annotations

import json
import os

import numpy as np

from ..data import DataLoader
from ..data.transforms import apply_batch
from ..nn import summary
from ..train import evaluate_model, probabilities
from ..train.recipe import image_shape, is_named, open_dataset, shape_text
from . import arguments as A
from .common import check_device, eval_transform, layer_table, open_checkpoint, open_image_model, read_image, use_threads
from .errors import UserError

PREDICT_BATCH = 64             # images per forward pass


def add_parser(sub) -> None:
    e = sub.add_parser("evaluate", help="accuracy, per-class accuracy and confusion matrix of a checkpoint")
    e.add_argument("checkpoint")
    e.add_argument("--dataset", default=None, help="default: the dataset the checkpoint was trained on")
    e.add_argument("--data-root", default=None)
    e.add_argument("--split", choices=("test", "train"), default="test")
    e.add_argument("--batch-size", type=A.positive_int, default=256)
    e.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    e.add_argument("--threads", type=A.positive_int, default=None)
    e.add_argument("--json", action="store_true", help="print the result as JSON")
    e.set_defaults(run=run_evaluate)

    pr = sub.add_parser("predict", help="top classes of images under a checkpoint's model")
    pr.add_argument("checkpoint")
    pr.add_argument("images", nargs="+", metavar="IMAGE")
    pr.add_argument("--top", type=A.positive_int, default=3)
    pr.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    pr.set_defaults(run=run_predict)


def run_evaluate(args) -> int:
    check_device(args.device)
    use_threads(args.threads)
    c, model = open_checkpoint(args.checkpoint)
    name = args.dataset or c.metadata.get("dataset")
    if not name:
        raise UserError(f"{args.checkpoint} does not say which dataset it was trained on; pass --dataset")
    size = None if is_named(name) else c.metadata.get("args", {}).get("image_size")
    ds = open_dataset(name, args.data_root or c.metadata.get("data_root"), train=args.split == "train", size=size)
    shape = image_shape(ds)
    want = c.input_shape or tuple(c.metadata.get("input_shape") or ())
    if want and tuple(want) != tuple(shape):
        raise UserError(f"{args.checkpoint} takes {shape_text(want)} images but {name} has {shape_text(shape)} "
                        "images")
    out = layer_table(model, shape, "the checkpoint's model").output_shape
    classes = list(ds.classes)
    if len(out) == 1 and int(out[0]) != len(classes):
        raise UserError(f"{args.checkpoint} predicts {int(out[0])} classes but {name} has {len(classes)}")
    loader = DataLoader(ds, batch_size=args.batch_size, transform=eval_transform(c), seed=0)
    ev = evaluate_model(model, loader, device=args.device, class_names=c.class_names or classes)
    if args.json:
        print(json.dumps(ev.to_dict()))
    else:
        note = ds.split_note
        print(f"{args.checkpoint} on {name} ({args.split} split{'; ' + note if note else ''})")
        print(ev.report())
    return 0


def _memory_budget() -> int:
    """Bytes a forward pass may take: half the machine's physical memory (8 GiB if unknown)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (AttributeError, ValueError, OSError):
        return 8 << 30


def run_predict(args) -> int:
    check_device(args.device)
    c, model, shape = open_image_model(args.checkpoint, "predict")
    ch, h, w = shape
    need = summary(model, shape).activation_bytes * min(len(args.images), PREDICT_BATCH)
    if need > _memory_budget():
        raise UserError(f"{args.checkpoint}'s model needs {need / 2**30:.1f} GiB for {shape_text(shape)} images, "
                        f"more than half this machine's memory")
    imgs = [read_image(path, ch, h, w) for path in args.images]
    transform = eval_transform(c)
    model.to(args.device)
    p = np.concatenate([probabilities(model, apply_batch(transform, np.stack(imgs[i:i + PREDICT_BATCH])))
                        for i in range(0, len(imgs), PREDICT_BATCH)])
    names = c.class_names or [str(i) for i in range(p.shape[1])]
    k = min(args.top, p.shape[1])
    for path, row in zip(args.images, p):
        top = np.argsort(-row, kind="stable")[:k]
        print(f"{path}: " + ", ".join(f"{names[i]} {100 * row[i]:.1f}%" for i in top))
    return 0
