"""The command line: ``python -m engine`` (installed as ``numbacnn``).

    numbacnn train --model mnist_cnn --dataset mnist --epochs 5
    numbacnn evaluate runs/mnist_cnn-mnist/best.npz --dataset mnist
    numbacnn predict runs/mnist_cnn-mnist/best.npz digit.png
    numbacnn explain runs/mnist_cnn-mnist/best.npz digit.png -o why.png
    numbacnn summary --model resnet20 --input 3x32x32
    numbacnn models
    numbacnn experiment activation --budget quick
    numbacnn bench ...

A mistake a user can make (unknown model, missing dataset, bad checkpoint, a batch
size of 0, ...) ends in one line on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import signal
import sys
import time
import warnings

from .experiments import cli as experiment_cli

PROG = "numbacnn"

# mean and std of the training images, per channel, after ToTensor
NORMALIZE = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}

SCHEDULES = "none, step:EPOCHS[:GAMMA], multistep:E1,E2,...[:GAMMA], exp:GAMMA, cosine[:ETA_MIN], " \
            "onecycle[:PCT_START], plateau[:PATIENCE[:FACTOR]]"

TRAIN_DEFAULTS = dict(model="mnist_cnn", dataset="mnist", epochs=5, batch_size=64, optimizer="adam", lr=None,
                      momentum=0.9, weight_decay=None, schedule="none", warmup=0, augment="", val_split=0.0,
                      seed=0, workers=1, label_smoothing=0.0, train_size=None, patience=None, nesterov=False,
                      data_root=None, image_size=None)


class UserError(Exception):
    """A mistake on the command line; printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UserError(f"{self.prog}: {message} (see {self.prog} --help)")


# --- argument types ----------------------------------------------------------------------------
def _int_at_least(minimum):
    """An argparse type: a whole number >= minimum."""
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"must be {'at least 1' if minimum == 1 else '0 or more'}, got {v}")
        return v
    return parse


_positive_int = _int_at_least(1)
_nonneg_int = _int_at_least(0)


def _nonneg_float(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not v >= 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return v


def _fraction(text):
    v = _nonneg_float(text)
    if v >= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return v


def _size(text):
    try:
        dims = tuple(int(d) for d in str(text).lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or HxW, got {text!r}") from None
    if len(dims) == 1:
        dims = dims * 2
    if len(dims) != 2 or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"expected N or HxW, got {text!r}")
    return list(dims)


def _shape(text):
    try:
        dims = tuple(int(d) for d in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected CxHxW such as 3x32x32, got {text!r}") from None
    if len(dims) == 2:
        dims = (1,) + dims
    if len(dims) != 3 or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"expected CxHxW such as 3x32x32, got {text!r}")
    return dims


# --- parser ------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="numbacnn: train, evaluate and inspect CNNs whose every kernel is "
                                       "compiled by Numba.")
    p.add_argument("--traceback", action="store_true", help="show the full traceback of unexpected errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    t = sub.add_parser("train", help="train a model on a dataset",
                       description="Train a zoo model (or a JSON model spec) on a dataset, with a progress bar, "
                                   "checkpoints (best.npz, last.npz), metrics.csv, metrics.jsonl and summary.txt.")
    d = argparse.SUPPRESS  # defaults are applied after --resume has had its say
    t.add_argument("--model", default=d, help="zoo model name (see `numbacnn models`) or a model spec .json "
                                              "(default mnist_cnn)")
    t.add_argument("--dataset", default=d, help="mnist, fashion-mnist, cifar10, or an image folder / archive "
                                                "path (default mnist)")
    t.add_argument("--data-root", default=d, help="where datasets live (default: $NUMBACNN_DATA or ./data)")
    t.add_argument("--download", action="store_true", help="download mnist / fashion-mnist / cifar10 into "
                                                           "--data-root if it is not there")
    t.add_argument("--image-size", type=_size, default=d, metavar="HxW",
                   help="resize a folder dataset's images to this size (e.g. 64 or 64x48)")
    t.add_argument("--epochs", type=_positive_int, default=d, help="total epochs of the run (default 5)")
    t.add_argument("--batch-size", type=_positive_int, default=d, help="default 64")
    t.add_argument("--optimizer", choices=("sgd", "adam", "adamw"), default=d, help="default adam")
    t.add_argument("--lr", type=_nonneg_float, default=d, help="learning rate (default 0.01 for sgd, 0.001 else)")
    t.add_argument("--momentum", type=_nonneg_float, default=d, help="SGD momentum (default 0.9)")
    t.add_argument("--nesterov", action="store_true", default=d, help="SGD with Nesterov momentum")
    t.add_argument("--weight-decay", type=_nonneg_float, default=d, help="default 0 (0.01 for adamw)")
    t.add_argument("--schedule", default=d, help=f"learning-rate schedule: {SCHEDULES} (default none)")
    t.add_argument("--warmup", type=_nonneg_int, default=d, help="epochs of linear warm-up before the schedule")
    t.add_argument("--augment", default=d, help="comma list of crop, flip, jitter (default none)")
    t.add_argument("--label-smoothing", type=_fraction, default=d)
    t.add_argument("--val-split", type=_fraction, default=d,
                   help="hold out this fraction of the training images for validation; with 0 (the default) "
                        "each epoch is validated on the dataset's test (or held-out) split")
    t.add_argument("--train-size", type=_positive_int, default=d, help="train on the first N training images only")
    t.add_argument("--patience", type=_positive_int, default=d, help="early stopping after N epochs without "
                                                                     "validation-loss improvement")
    t.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    t.add_argument("--threads", type=_positive_int, default=None, help="CPU threads for kernels and BLAS")
    t.add_argument("--workers", type=_nonneg_int, default=d, help="data loader threads (default 1)")
    t.add_argument("--seed", type=_nonneg_int, default=d, help="seed for weights, shuffling and augmentation "
                                                               "(default 0)")
    t.add_argument("--out", default=None, help="run folder (default runs/MODEL-DATASET-TIME)")
    t.add_argument("--resume", default=None, metavar="CKPT",
                   help="continue the run in this checkpoint; unspecified options come from it")
    t.add_argument("--snapshot-every", type=_nonneg_int, default=0, help=argparse.SUPPRESS)
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--distributed", action="store_true", help="data-parallel over the ranks of an MPI job: "
                   "mpirun -n N numbacnn train ... --distributed (--batch-size is per rank)")
    t.add_argument("--sync-bn", action="store_true", help="with --distributed: batch norm with the statistics "
                   "of the whole job's batch (SyncBatchNorm) instead of each rank's own")

    e = sub.add_parser("evaluate", help="accuracy, per-class accuracy and confusion matrix of a checkpoint")
    e.add_argument("checkpoint")
    e.add_argument("--dataset", default=None, help="default: the dataset the checkpoint was trained on")
    e.add_argument("--data-root", default=None)
    e.add_argument("--split", choices=("test", "train"), default="test")
    e.add_argument("--batch-size", type=_positive_int, default=256)
    e.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    e.add_argument("--threads", type=_positive_int, default=None)
    e.add_argument("--json", action="store_true", help="print the result as JSON")

    pr = sub.add_parser("predict", help="top classes of images under a checkpoint's model")
    pr.add_argument("checkpoint")
    pr.add_argument("images", nargs="+", metavar="IMAGE")
    pr.add_argument("--top", type=_positive_int, default=3)
    pr.add_argument("--device", choices=("cpu", "cuda"), default="cpu")

    s = sub.add_parser("summary", help="layer table of a zoo model (or a checkpoint's model)")
    s.add_argument("--model", default=None, help="zoo model name or spec .json")
    s.add_argument("--checkpoint", default=None)
    s.add_argument("--input", type=_shape, default=None, help="CxHxW, e.g. 3x32x32 (default: the model's)")
    s.add_argument("--num-classes", type=_positive_int, default=10)

    sub.add_parser("models", help="the model zoo with parameter counts")

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
    iw.add_argument("--input", type=_shape, default=None, help="CxHxW (default: the dataset's, else the model's)")
    iw.add_argument("--num-classes", type=_positive_int, default=None,
                    help="default: the output size of the file's last Linear")
    iw.add_argument("--key", default=None, help="the entry of a wrapper dict that holds the state_dict "
                                                "(default: found by itself)")
    iw.add_argument("-o", "--out", required=True, help="the checkpoint to write (.npz)")
    iw.add_argument("--force", action="store_true", help="replace --out if it exists")

    ex = sub.add_parser("export", help="a checkpoint's model as safetensors or ONNX",
                        description="Write a checkpoint's weights as safetensors (torch state_dict keys) or its "
                                    "model as ONNX (eval mode, any batch size).")
    ex.add_argument("checkpoint")
    ex.add_argument("--format", choices=("safetensors", "onnx"), default=None,
                    help="default: from the extension of -o (.safetensors, .onnx)")
    ex.add_argument("-o", "--out", required=True, help="the file to write")
    ex.add_argument("--input", type=_shape, default=None, help="CxHxW of the ONNX input (default: the "
                                                               "checkpoint's)")
    ex.add_argument("--opset", type=_positive_int, default=17, help="ONNX opset, 17 or newer (default 17)")
    ex.add_argument("--force", action="store_true", help="replace --out if it exists")

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

    experiment_cli.add_parser(sub)
    b = sub.add_parser("bench", help="benchmark kernels (CPU vs GPU)", add_help=False)
    b.add_argument("args", nargs=argparse.REMAINDER)
    return p


# --- entry point -------------------------------------------------------------------------------
def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench":
        return _bench(argv[1:])
    show_tb = "--traceback" in argv
    try:
        args = build_parser().parse_args(argv)
        if not args.command:
            build_parser().print_help()
            return 2
        return {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict, "summary": cmd_summary,
                "models": cmd_models, "import-weights": cmd_import_weights, "export": cmd_export,
                "explain": cmd_explain, "experiment": lambda a: experiment_cli.main(a, PROG)}[args.command](args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return _end_job(130)
    except Exception as e:  # noqa: BLE001 - every user mistake ends in one line
        known = _user_error(e)
        if known is not None:
            print(f"{PROG}: error: {known}", file=sys.stderr)
            return _end_job(2)
        if show_tb:
            raise
        print(f"{PROG}: internal error: {type(e).__name__}: {_first_line(e)} (run with --traceback for details)",
              file=sys.stderr)
        return _end_job(1)


def _end_job(code):
    """``code``; in a distributed run, after ending every rank with it (the others would
    wait for this one for ever)."""
    from .distributed.launch import end_job
    end_job(code)
    return code


def _first_line(e):
    lines = str(e).strip().splitlines()
    return lines[0] if lines else ""


def _user_error(e):
    """The one-line message for an error a user can cause, or None for a bug."""
    if isinstance(e, UserError):
        return str(e)
    from .nn.module import ShapeError
    from .train.checkpoint import CheckpointError
    try:
        from datasets import DatasetError
    except ImportError:  # pragma: no cover
        DatasetError = CheckpointError
    if isinstance(e, (CheckpointError, DatasetError, ShapeError)):
        return _first_line(e)
    if isinstance(e, (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)):
        return f"{e.strerror}: {e.filename}" if e.filename else _first_line(e)
    if isinstance(e, MemoryError):
        return "out of memory: try a smaller --batch-size"
    return None


def _bench(argv) -> int:
    try:
        from . import bench
    except ImportError as e:
        print(f"{PROG}: error: the bench command is not available in this build ({e})", file=sys.stderr)
        return 2
    try:
        return int(bench.main(argv) or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


# --- shared helpers ----------------------------------------------------------------------------
def _set_threads(n):
    if n:
        from .train.threads import set_threads
        set_threads(n)


def _check_device(device):
    if device == "cuda":
        from . import kernels
        try:
            kernels.ops("cuda")
        except Exception as e:  # noqa: BLE001
            raise UserError(f"--device cuda: {(_first_line(e) or type(e).__name__).rstrip('.')}; use --device cpu") from None


def _dataset_key(name):
    key = str(name).lower().replace("_", "-")
    return {"fashionmnist": "fashion-mnist", "cifar-10": "cifar10"}.get(key, key)


def open_dataset(name, root, train, download=False, size=None):
    """``datasets.get`` with user errors turned into one line; ``size`` (H, W) resizes the
    images of a folder dataset while decoding."""
    try:
        import datasets
    except ImportError as e:  # pragma: no cover
        raise UserError(f"the datasets package is missing: {e}") from None
    try:
        extra = {} if size is None else {"size": tuple(size)}
        if extra and _dataset_key(name) in ("mnist", "fashion-mnist", "cifar10"):
            raise UserError("--image-size applies to image-folder datasets only")
        ds = datasets.get(name, root=root, train=train, download=download, **extra)
    except datasets.DatasetError as e:
        raise UserError(_first_line(e)) from None
    except (FileNotFoundError, NotADirectoryError, PermissionError) as e:
        raise UserError(f"dataset {name!r}: {e.strerror}: {e.filename}") from None
    classes = list(getattr(ds, "classes", []) or [])
    if len(ds) == 0:
        raise UserError(f"dataset {name!r} has no images")
    if train and len(classes) < 2:
        found = f"only one class ({classes[0]!r})" if classes else "no classes"
        raise UserError(f"dataset {name!r} has {found}: a classifier needs at least two class folders")
    return ds


def image_shape(ds):
    """(C, H, W) of the dataset's images."""
    shape = ds.data.shape[1:]
    return (1,) + tuple(shape) if len(shape) == 2 else (shape[2], shape[0], shape[1])


def _normalization(key, ds):
    if key in NORMALIZE:
        return NORMALIZE[key]
    import numpy as np
    data = ds.data[: min(len(ds), 5000)].astype(np.float32) / 255.0
    if data.ndim == 3:
        data = data[..., None]
    mean = data.mean(axis=(0, 1, 2))
    std = np.maximum(data.std(axis=(0, 1, 2)), 1e-3)
    return tuple(round(float(m), 4) for m in mean), tuple(round(float(s), 4) for s in std)


def _build_model(name, shape, num_classes):
    from . import models
    from .nn import from_spec
    if name.endswith(".json"):
        try:
            with open(name) as f:
                spec = json.load(f)
        except OSError as e:
            raise UserError(f"cannot read model spec {name!r}: {e.strerror}") from None
        except json.JSONDecodeError as e:
            raise UserError(f"model spec {name!r} is not valid JSON: {e}") from None
        try:
            return from_spec(spec)
        except ValueError as e:
            raise UserError(f"model spec {name!r}: {_first_line(e)}") from None
    if name not in models.names():
        raise UserError(f"unknown model {name!r}; the zoo has: {', '.join(models.names())}")
    try:
        return models.get(name, in_channels=shape[0], num_classes=num_classes, input_size=shape[1:])
    except Exception as e:  # noqa: BLE001
        raise UserError(f"model {name!r} cannot be built for {_fmt_shape(shape)} inputs: {_first_line(e)}") from None


def _fmt_shape(shape):
    return "x".join(str(int(s)) for s in shape)


def _summary(model, shape, name):
    from .nn import ShapeError, summary
    try:
        return summary(model, shape)
    except ShapeError as e:
        raise UserError(f"model {name!r} does not fit {_fmt_shape(shape)} images: {e}") from None


def _parse_schedule(text):
    """(kind, values) of a --schedule; every value a finite number (EPOCHS and PATIENCE
    whole numbers); the ranges are the schedulers' own checks (_make_scheduler)."""
    parts = str(text).strip().lower().split(":")
    kind, rest = parts[0], parts[1:]

    def num(s, what, whole=False):
        try:
            v = float(s)
        except ValueError:
            raise UserError(f"--schedule {text}: {what} must be a number, got {s!r}") from None
        if not math.isfinite(v) or (whole and (v != int(v) or v < 0)):
            raise UserError(f"--schedule {text}: {what} must be a {'whole number >= 0' if whole else 'finite number'}, "
                            f"got {s!r}")
        return int(v) if whole else v
    known = {"none": 0, "step": 2, "multistep": 2, "exp": 1, "cosine": 1, "onecycle": 1, "plateau": 2}
    if kind not in known:
        raise UserError(f"unknown --schedule {text!r}; use one of: {SCHEDULES}")
    if len(rest) > known[kind]:
        raise UserError(f"--schedule {text}: too many ':' parts; use one of: {SCHEDULES}")
    if kind in ("step", "exp") and not rest:
        raise UserError(f"--schedule {kind} needs a value: {SCHEDULES}")
    if kind == "multistep":
        if not rest or not rest[0]:
            raise UserError("--schedule multistep needs milestones, e.g. multistep:10,15")
        try:
            miles = [int(m) for m in rest[0].split(",")]
        except ValueError:
            raise UserError(f"--schedule {text}: milestones must be whole epochs") from None
        if min(miles) < 1:
            raise UserError(f"--schedule {text}: milestones must be epochs >= 1")
        return kind, [miles] + [num(r, "gamma") for r in rest[1:]]
    if kind in ("step", "plateau") and rest:
        first = num(rest[0], "EPOCHS" if kind == "step" else "PATIENCE", whole=True)
        return kind, [first] + [num(r, "value") for r in rest[1:]]
    return kind, [num(r, "value") for r in rest]


def _make_scheduler(kind, values, opt, epochs, spe, warmup, lr):
    """Every schedule but plateau runs per batch, in units of batches, so warm-up composes."""
    from . import optim
    total = epochs * spe
    w = warmup * spe
    if kind == "plateau":
        if warmup:
            raise UserError("--warmup cannot be combined with --schedule plateau")
        patience = values[0] if values else 3
        factor = values[1] if len(values) > 1 else 0.1
        if not 0 < factor < 1:
            raise UserError(f"--schedule plateau: factor must be in (0, 1), got {factor}")
        return optim.ReduceLROnPlateau(opt, mode="min", factor=factor, patience=patience)
    if kind == "onecycle":
        if warmup:
            raise UserError("--warmup cannot be combined with --schedule onecycle (it warms up by itself)")
        pct = values[0] if values else 0.3
        if not 0 < pct < 1:
            raise UserError(f"--schedule onecycle: pct_start must be in (0, 1), got {pct}")
        return optim.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=pct)
    if w >= total and kind != "none":
        raise UserError(f"--warmup {warmup} leaves no epochs for the schedule (--epochs {epochs})")
    after = None
    if kind == "step":
        if values[0] < 1:
            raise UserError("--schedule step: EPOCHS must be a whole number >= 1")
        after = optim.StepLR(opt, step_size=values[0] * spe, gamma=values[1] if len(values) > 1 else 0.1)
    elif kind == "multistep":
        miles = [max(0, m * spe - w) for m in values[0]]
        after = optim.MultiStepLR(opt, milestones=miles, gamma=values[1] if len(values) > 1 else 0.1)
    elif kind == "exp":
        if not 0 < values[0] <= 1:
            raise UserError(f"--schedule exp: GAMMA (per epoch) must be in (0, 1], got {values[0]}")
        after = optim.ExponentialLR(opt, gamma=values[0] ** (1.0 / spe))
    elif kind == "cosine":
        after = optim.CosineAnnealingLR(opt, T_max=max(1, total - w), eta_min=values[0] if values else 0.0)
    if after is not None:
        after.interval = "step"
    if w:
        s = optim.linear_warmup(opt, w, after)
        s.interval = "step"
        return s
    return after


def _augmentations(text, shape):
    from .data import transforms as T
    names = [a.strip().lower() for a in str(text or "").split(",") if a.strip()]
    bad = [a for a in names if a not in ("crop", "flip", "jitter")]
    if bad:
        raise UserError(f"unknown --augment {', '.join(bad)}; use a comma list of crop, flip, jitter")
    steps = []
    c, h, w = shape
    if "crop" in names:
        steps.append(T.RandomCrop((h, w), padding=4 if min(h, w) >= 32 else 2))
    if "flip" in names:
        steps.append(T.RandomHorizontalFlip())
    if "jitter" in names:
        steps.append(T.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2 if c == 3 else 0))
    return steps, names


def _split_name(ds):
    """"test" for an official test split, "held-out validation" for datasets.holdout's part."""
    return "held-out validation" if "hold-out" in str(getattr(ds, "split_note", "")) else "test"


# --- resume ------------------------------------------------------------------------------------
RUN_FILES = ("best.npz", "last.npz", "metrics.csv", "metrics.jsonl", "summary.txt")

# How each train option may change on --resume (the rest come from the checkpoint):
SPLIT_OPTIONS = ("dataset", "val_split", "train_size", "seed", "image_size")  # refused: they change the images
#                                                                  a run trains and validates on
STATE_OPTIONS = ("model", "optimizer", "schedule", "warmup", "batch_size")     # refused: the saved optimizer,
#                                                     schedule and data-order state cannot follow them
RECIPE_OPTIONS = ("lr", "momentum", "weight_decay", "nesterov", "label_smoothing", "augment", "patience")
#                 honoured from the resumed step on, with a printed line; epochs, data_root, workers: honoured


def _saved_args(ckpt) -> dict:
    """The train options a checkpoint records (metadata.args), read back through the train
    command's own parser, so each has the type and range a command line gives it."""
    from .train.checkpoint import damaged
    saved = {k: v for k, v in (ckpt.metadata.get("args") or {}).items() if k in TRAIN_DEFAULTS}
    argv = ["train"]
    for k, v in saved.items():
        flag = "--" + k.replace("_", "-")
        if v is None and TRAIN_DEFAULTS[k] is None:
            continue
        if k == "nesterov" and isinstance(v, bool):
            argv += [flag] if v else []
        elif k == "image_size" and isinstance(v, list):
            argv.append(f"{flag}={'x'.join(map(str, v))}")
        elif isinstance(v, (str, int, float)) and not isinstance(v, bool):
            argv.append(f"{flag}={v}")
        else:
            raise damaged(ckpt.path, f"metadata.args.{k} is {v!r}, not an option value")
    try:
        parsed = vars(build_parser().parse_args(argv))
        _parse_schedule(parsed.get("schedule", "none"))
        _augmentations(parsed.get("augment", ""), (1, 32, 32))
    except UserError as e:
        raise damaged(ckpt.path, f"metadata.args: {e}") from None
    return {k: parsed.get(k, v) for k, v in saved.items()}


def _same(key, a, b) -> bool:
    if key == "dataset":
        def norm(v):
            return os.path.abspath(v) if _dataset_key(v) not in NORMALIZE and os.path.exists(v) else _dataset_key(v)
        return norm(str(a)) == norm(str(b))
    return a == b


def _resume_changes(given, saved, path) -> list:
    """[(option, run's value, new value)] of the options given with --resume that differ
    from the run's and may (RECIPE_OPTIONS); one UserError for any that may not."""
    changes = []
    for k in TRAIN_DEFAULTS:
        if k not in given or k not in saved or _same(k, given[k], saved[k]):
            continue
        flag, old, new = "--" + k.replace("_", "-"), "none" if saved[k] is None else saved[k], given[k]
        if k in SPLIT_OPTIONS:
            raise UserError(f"{flag} {new} differs from the run's {old}: it changes the images the run trains and "
                            f"validates on (validation images could leak into training); resume {path} without "
                            f"{flag}, or start a new run")
        if k == "model":
            raise UserError(f"--model {new} is a different architecture than the run's {old}; resume {path} without "
                            "--model, or start a new run")
        if k in STATE_OPTIONS:
            raise UserError(f"{flag} {new} differs from the run's {old}: the saved optimizer, schedule and data order "
                            f"cannot follow it; resume {path} without {flag}, or start a new run")
        scheduled = saved.get("schedule", "none") != "none" or saved.get("warmup", 0)
        if k == "lr" and scheduled:
            raise UserError(f"--lr cannot change when resuming a run with --schedule {saved.get('schedule')}"
                            f"{' and --warmup' if saved.get('warmup') else ''}: its rates were planned from the run's "
                            f"lr {old}; resume {path} without --lr, or start a new run")
        if k == "momentum" and str(saved.get("schedule", "")).startswith("onecycle"):
            raise UserError(f"--momentum cannot change when resuming a run with --schedule onecycle, which cycles the "
                            f"momentum itself; resume {path} without --momentum")
        changes.append((k, old, new))
    return changes


def _apply_changes(opt, changes, a) -> None:
    """Sets the optimizer settings of ``changes`` (after the restore loaded the run's) and
    prints one line per change."""
    for k, old, new in changes:
        for g in opt.param_groups:
            if k == "lr":
                g["lr"] = a.lr
            elif k == "weight_decay":
                g["weight_decay"] = a.weight_decay
            elif k in ("momentum", "nesterov") and "momentum" in g:
                g["momentum"], g["nesterov"] = a.momentum, a.nesterov and a.momentum > 0
        print(f"resuming with --{k.replace('_', '-')} {new} (the run had {old})")


def _run_files(folder) -> list:
    return [f for f in RUN_FILES if os.path.exists(os.path.join(folder, f))]


def _resume_folder(ckpt, out) -> tuple:
    """(folder, files to copy there) for a resumed run: the checkpoint's own folder, unless
    ``out`` names another, which must hold no run; then the run's checkpoints are to be
    copied there (:func:`_copy_run`; the original folder is not touched). Refuses to resume,
    in place, beside a last.npz that a run would overwrite: a later state of this run (its
    metrics too), or another run (its history is not the start of this checkpoint's)."""
    from .train.checkpoint import CheckpointError, load_checkpoint, read_progress
    src = os.path.dirname(os.path.abspath(ckpt.path))
    epoch, step = ckpt.progress
    here = out is None or os.path.realpath(out) == os.path.realpath(src)
    last = os.path.join(src, "last.npz")
    if here:
        if os.path.isfile(last) and os.path.realpath(last) != os.path.realpath(ckpt.path):
            elsewhere = f"pass --out NEW_FOLDER to branch from {os.path.basename(ckpt.path)}"
            try:
                beside = load_checkpoint(last)
            except CheckpointError as e:
                raise UserError(f"{_first_line(e)}; resuming {ckpt.path} here would overwrite it: "
                                f"{elsewhere}") from None
            if beside.progress[1] > step:
                raise UserError(f"{ckpt.path} is at epoch {epoch} (step {step}) but {last} goes on to epoch "
                                f"{beside.progress[0]} (step {beside.progress[1]}); resuming here would overwrite it "
                                f"and its metrics: resume from {last}, or {elsewhere}")
            if beside.history != ckpt.history[:len(beside.history)]:
                raise UserError(f"{last} beside {ckpt.path} is another run's; resuming here would overwrite it: "
                                f"{elsewhere}")
        return src, []
    if os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f"--out {out} is a file, not a folder")
    if _run_files(out):
        raise UserError(f"--out {out} already holds a run ({', '.join(_run_files(out))}); give an empty or new "
                        f"folder, or leave out --out to continue in {src}")
    copies = [ckpt.path]
    best = os.path.join(src, "best.npz")
    if os.path.realpath(ckpt.path) == os.path.realpath(last) and os.path.isfile(best):
        try:
            if read_progress(best)[1] <= step:
                copies.append(best)
        except CheckpointError:
            pass                                   # a damaged best.npz stays behind
    return out, copies


def _copy_run(copies, out) -> None:
    """Copies a resumed run's checkpoints into its new folder (each atomically)."""
    from .train.checkpoint import atomic_copy
    try:
        for f in copies:
            atomic_copy(f, os.path.join(out, os.path.basename(f)))
    except OSError as e:
        raise UserError(f"cannot copy the run into --out {out}: {e.strerror or e}") from None
    print(f"continuing {copies[0]} in {out} (copied {', '.join(os.path.basename(f) for f in copies)}; "
          f"{os.path.dirname(os.path.abspath(copies[0]))} is left as it is)")


# --- train -------------------------------------------------------------------------------------
def cmd_train(args) -> int:
    import numpy as np

    import engine
    from . import nn, optim
    from .data import DataLoader, Subset, random_split
    from .data import transforms as T
    from .train import (CheckpointError, CSVLogger, EarlyStopping, JSONLogger, ModelCheckpoint, ProgressBar,
                        Trainer, load_checkpoint)
    from .train.checkpoint import remove_temporaries
    from .distributed import DistributedSampler, MPIUnavailable, SyncBatchNorm, launch

    comm = None
    if args.distributed:          # first: a CUDA rank takes its own GPU before any CUDA work
        try:
            comm = launch.start(args.device)
        except MPIUnavailable as e:
            raise UserError(str(e)) from None
    given = {k: v for k, v in vars(args).items()}
    ckpt, changes = None, []
    if args.resume and os.path.isfile(os.path.join(args.resume, "last.npz")):
        args.resume = os.path.join(args.resume, "last.npz")          # a run folder: continue its latest state
    if args.resume:
        try:
            ckpt = load_checkpoint(args.resume)
            saved = _saved_args(ckpt)
            launch.check_resume(ckpt, comm.size if comm else 1)
        except CheckpointError as e:
            raise UserError(f"--resume: {e}") from None
        changes = _resume_changes(given, saved, args.resume)
        for k, v in saved.items():
            if v is not None:
                given.setdefault(k, v)
    for k, v in TRAIN_DEFAULTS.items():
        given.setdefault(k, v)
    a = argparse.Namespace(**given)
    if ckpt is not None:
        planned = saved.get("epochs")
        kind0 = str(a.schedule).split(":")[0].lower()
        if planned and a.epochs != planned and kind0 in ("onecycle", "cosine"):
            raise UserError(f"--schedule {kind0} of {args.resume} was planned for {planned} epochs; resume with "
                            f"--epochs {planned}, or start a new run to train longer")
    if a.lr is None:
        a.lr = 0.01 if a.optimizer == "sgd" else 1e-3
    if a.weight_decay is None:
        a.weight_decay = 0.01 if a.optimizer == "adamw" else 0.0
    a.nesterov = bool(a.nesterov)
    if _dataset_key(a.dataset) not in NORMALIZE and os.path.exists(str(a.dataset)):
        a.dataset = os.path.abspath(a.dataset)          # a folder: keep working from any directory
    if a.data_root is not None:
        a.data_root = os.path.abspath(a.data_root)
    kind, values = _parse_schedule(a.schedule)
    from . import models as zoo
    if not str(a.model).endswith(".json") and a.model not in zoo.names():
        raise UserError(f"unknown model {a.model!r}; the zoo has: {', '.join(zoo.names())}")
    _augmentations(a.augment, (1, 32, 32))         # unknown names fail before any data is read
    out = args.out
    if out is None and not args.resume:
        out = os.path.join("runs", f"{os.path.basename(str(a.model)).replace('.json', '')}-"
                                   f"{os.path.basename(os.path.normpath(str(a.dataset))).split('.')[0]}-"
                                   f"{time.strftime('%Y%m%d-%H%M%S')}")
    if comm is not None and out is not None:
        out = comm.broadcast_text(out)             # rank 0's clock names the folder
    copies = []
    if args.resume:
        out, copies = _resume_folder(ckpt, out)
    elif _run_files(out):
        hint = f"continue it with --resume {os.path.join(out, 'last.npz')} or " if "last.npz" in _run_files(out) else ""
        raise UserError(f"{out} already holds a run ({', '.join(_run_files(out))}); {hint}choose another --out")
    _check_device(args.device)
    _set_threads(args.threads)

    # data
    key = _dataset_key(a.dataset)
    full_train = open_dataset(a.dataset, a.data_root, train=True, download=args.download, size=a.image_size)
    shape = image_shape(full_train)
    classes = list(full_train.classes)
    try:
        test = open_dataset(a.dataset, a.data_root, train=False, download=args.download, size=a.image_size)
    except UserError:
        test = None
    train_set = full_train
    if a.train_size is not None:
        if a.train_size > len(full_train):
            raise UserError(f"--train-size {a.train_size} is more than the {len(full_train):,} training images")
        train_set = Subset(full_train, np.arange(a.train_size))
    val_set, val_note = None, ""
    if a.val_split and a.val_split > 0:
        n_val = int(round(a.val_split * len(train_set)))
        if n_val < 1 or n_val >= len(train_set):
            raise UserError(f"--val-split {a.val_split} leaves no validation or no training images")
        train_set, val_set = random_split(train_set, [len(train_set) - n_val, n_val], seed=a.seed)
        val_note = f"validation: {n_val:,} training images held out (--val-split {a.val_split})"
    elif test is not None:
        val_set = test
        val_note = f"validation each epoch: the {_split_name(test)} split ({len(test):,} images)"
    if len(train_set) < a.batch_size:
        raise UserError(f"--batch-size {a.batch_size} is larger than the {len(train_set):,} training images")
    mean, std = _normalization(key, full_train)
    aug, aug_names = _augmentations(a.augment, shape)
    norm = [T.ToTensor(), T.Normalize(mean, std)]
    engine.manual_seed(a.seed)
    sampler = None if comm is None else DistributedSampler(train_set, comm.size, comm.rank, seed=a.seed)
    train_loader = DataLoader(train_set, batch_size=a.batch_size, shuffle=sampler is None, sampler=sampler,
                              num_workers=a.workers,
                              drop_last=False, seed=a.seed, transform=T.Compose(aug + norm))
    val_loader = None if val_set is None else DataLoader(val_set, batch_size=max(a.batch_size, 256),
                                                         num_workers=a.workers, transform=T.Compose(norm))
    spe = len(train_loader)

    # model, loss, optimizer, schedule
    if ckpt is None:
        model = _build_model(a.model, shape, len(classes))
    else:           # the run's own spec, whatever its --model names now
        try:
            model = ckpt.build_model()
        except CheckpointError as e:
            raise UserError(f"--resume: {e}") from None
    if args.sync_bn:
        if comm is None:
            raise UserError("--sync-bn synchronises batch norm across the ranks of a --distributed run; add "
                            "--distributed (under mpirun) or leave it out")
        model = SyncBatchNorm.convert_sync_batchnorm(model)
    summ = _summary(model, shape, a.model)
    crit = nn.CrossEntropyLoss(label_smoothing=a.label_smoothing)
    params = list(model.parameters())
    if a.optimizer == "sgd":
        opt = optim.SGD(params, lr=a.lr, momentum=a.momentum, nesterov=a.nesterov and a.momentum > 0,
                        weight_decay=a.weight_decay)
    elif a.optimizer == "adam":
        opt = optim.Adam(params, lr=a.lr, weight_decay=a.weight_decay)
    else:
        opt = optim.AdamW(params, lr=a.lr, weight_decay=a.weight_decay)
    try:
        sched = _make_scheduler(kind, values, opt, a.epochs, spe, a.warmup, a.lr)
    except ValueError as e:       # a value out of the scheduler's range
        raise UserError(f"--schedule {a.schedule}: {_first_line(e)}") from None

    # run folder (temporaries of writes a killed run left are removed; the callbacks remove theirs)
    if comm is not None:
        comm.barrier()                             # every rank has checked the folder before rank 0 writes
    writes = comm is None or comm.is_root
    if writes:
        try:
            os.makedirs(out, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot create the run folder {out!r}: {e.strerror}") from None
        remove_temporaries(os.path.join(out, "summary.txt"))

    saved_args = {k: getattr(a, k) for k in TRAIN_DEFAULTS}
    metadata = {"dataset": key if key in NORMALIZE else str(a.dataset), "data_root": a.data_root,
                "class_names": classes, "input_shape": list(shape), "normalize": {"mean": list(mean), "std": list(std)},
                "args": saved_args, "command": " ".join([PROG] + [shlex.quote(x) for x in sys.argv[1:]])}
    metadata["ranks"] = comm.size if comm is not None else 1     # a resume on another count checks it
    ckpt_cb = ModelCheckpoint(out, monitor="val_accuracy" if val_loader is not None else "train_accuracy")
    csv_cb = CSVLogger(os.path.join(out, "metrics.csv"))
    jsonl = JSONLogger(os.path.join(out, "metrics.jsonl"))
    callbacks = [csv_cb, jsonl, ckpt_cb]
    if a.patience:
        callbacks.insert(0, EarlyStopping(monitor="val_loss" if val_loader is not None else "train_loss",
                                          patience=a.patience))
    if not args.quiet:
        callbacks.insert(0, ProgressBar(sys.stdout))
    try:
        trainer = Trainer(model, opt, crit, train_loader, val_loader, scheduler=sched, callbacks=callbacks,
                          device=args.device, input_shape=shape, metadata=metadata,
                          snapshot_every=args.snapshot_every, distributed=comm is not None)
    except RuntimeError as e:
        raise UserError(_first_line(e)) from None
    if ckpt is not None:
        try:
            trainer.restore(ckpt)
        except CheckpointError as e:
            raise UserError(f"--resume: {e}") from None
        if trainer.epoch >= a.epochs and trainer.batch_in_epoch == 0:
            raise UserError(f"{args.resume} already holds {trainer.epoch} trained epochs; pass --epochs N with N "
                            f"> {trainer.epoch} to train more")
        _apply_changes(opt, changes, a)
        if copies and writes:
            _copy_run(copies, out)

    header = [f"model {a.model} on {a.dataset}: {len(train_set):,} training images of {_fmt_shape(shape)}, "
              f"{len(classes)} classes", val_note or "no validation set",
              f"optimizer {a.optimizer} lr {a.lr:g}" + (f" momentum {a.momentum:g}" if a.optimizer == "sgd" else "")
              + (f" weight decay {a.weight_decay:g}" if a.weight_decay else "")
              + f", schedule {a.schedule}" + (f" after {a.warmup} warm-up epochs" if a.warmup else "")
              + f", batch {a.batch_size}, {a.epochs} epochs, augment {','.join(aug_names) or 'none'}, seed {a.seed}, "
              f"device {args.device}, {_threads_note()}"]
    print(str(summ))
    print("\n".join(header), flush=True)
    if comm is not None:
        print(f"distributed: {comm.size} ranks of batch {a.batch_size} (global batch {comm.size * a.batch_size})",
              flush=True)

    # Ctrl-C: first stops after the current batch (saving last.npz), second aborts
    hits = []

    def on_sigint(signum, frame):
        hits.append(1)
        if len(hits) > 1:
            raise KeyboardInterrupt
        print("\nstopping after this batch (Ctrl-C again to abort) ...", file=sys.stderr, flush=True)
        trainer.stop()
    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:      # not the main thread
        previous = None
    t0 = time.time()
    try:
        done = trainer.fit(a.epochs)
    except MemoryError:
        raise UserError("out of memory: try a smaller --batch-size") from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    wall = time.time() - t0

    # final result: the test split if there is one, else the validation set
    final, final_name = None, ""
    if done.reason != "nan":
        if test is not None:
            final_loader = DataLoader(test, batch_size=max(a.batch_size, 256), num_workers=a.workers,
                                      transform=T.Compose(norm))
            final = trainer.evaluate(final_loader)
            final_name = _split_name(test)
        elif val_loader is not None:
            final = trainer.evaluate(val_loader)
            final_name = "validation"
    if final is not None and writes:
        jsonl.log({"event": "final", "split": final_name, "loss": final.loss, "accuracy": final.accuracy,
                   "top5": final.top5, "num_samples": final.num_samples})
    if writes:
        _write_summary(out, summ, header, trainer, done, final, final_name, wall, metadata)
    files = [f for f in ("best.npz", "last.npz", "metrics.csv", "metrics.jsonl", "summary.txt")
             if os.path.exists(os.path.join(out, f))]
    print()
    if final is not None:
        print(f"{final_name} accuracy: {100 * final.accuracy:.2f}% ({final.num_samples:,} images, "
              f"loss {final.loss:.4f}, top-5 {100 * final.top5:.2f}%)")
    print(f"{done.reason}: {done.message}; {wall:.0f} s")
    print(f"saved to {out}: {', '.join(files)}")
    if done.reason == "nan":
        print(f"{PROG}: error: {done.message}", file=sys.stderr)
        return 1
    return 130 if hits else 0


def _threads_note():
    try:
        from .train.threads import get_threads
        n = get_threads()
        return f"{n} thread{'s' if n != 1 else ''}"
    except Exception:  # noqa: BLE001
        return "threads ?"


def _write_summary(out, summ, header, trainer, done, final, final_name, wall, metadata):
    lines = [f"command: {metadata['command']}", f"finished: {time.strftime('%Y-%m-%d %H:%M:%S')}",
             f"wall time: {wall:.1f} s", "", *header, "", str(summ), "", "epochs:"]
    for h in trainer.history:
        row = (f"  {h['epoch'] + 1:3d}  step {h['step']:7d}  train loss {h['train_loss']:.4f} acc "
               f"{100 * h['train_accuracy']:6.2f}%")
        if h.get("val_loss") is not None:
            row += f"  val loss {h['val_loss']:.4f} acc {100 * h['val_accuracy']:6.2f}%"
        row += f"  lr {h['lr']:.3g}  {h['seconds']:.1f} s"
        lines.append(row)
    lines += ["", f"result: {done.reason}: {done.message}"]
    if final is not None:
        lines += ["", f"{final_name} set:", final.report()]
    from .train.checkpoint import atomic_write_bytes
    atomic_write_bytes(os.path.join(out, "summary.txt"), ("\n".join(lines) + "\n").encode())


# --- evaluate ----------------------------------------------------------------------------------
def _load_ckpt(path):
    from .train import CheckpointError, load_checkpoint
    try:
        c = load_checkpoint(path)
        model = c.build_model()
    except CheckpointError as e:
        raise UserError(_first_line(e)) from None
    return c, model


def _eval_transform(c):
    from .data import transforms as T
    norm = c.metadata.get("normalize") or {}
    steps = [T.ToTensor()]
    if norm.get("mean") is not None:
        steps.append(T.Normalize(norm["mean"], norm["std"]))
    return T.Compose(steps)


def cmd_evaluate(args) -> int:
    from .data import DataLoader
    from .train.trainer import evaluate_model
    _check_device(args.device)
    _set_threads(args.threads)
    c, model = _load_ckpt(args.checkpoint)
    name = args.dataset or c.metadata.get("dataset")
    if not name:
        raise UserError(f"{args.checkpoint} does not say which dataset it was trained on; pass --dataset")
    size = c.metadata.get("args", {}).get("image_size") if _dataset_key(name) not in NORMALIZE else None
    ds = open_dataset(name, args.data_root or c.metadata.get("data_root"), train=args.split == "train", size=size)
    shape = image_shape(ds)
    want = c.input_shape or tuple(c.metadata.get("input_shape") or ())
    if want and tuple(want) != tuple(shape):
        raise UserError(f"{args.checkpoint} takes {_fmt_shape(want)} images but {name} has {_fmt_shape(shape)} images")
    n_out = _num_outputs(model, shape)
    classes = list(ds.classes)
    if n_out is not None and n_out != len(classes):
        raise UserError(f"{args.checkpoint} predicts {n_out} classes but {name} has {len(classes)}")
    loader = DataLoader(ds, batch_size=args.batch_size, transform=_eval_transform(c))
    ev = evaluate_model(model, loader, device=args.device, class_names=c.class_names or classes)
    if args.json:
        print(json.dumps(ev.to_dict()))
    else:
        note = getattr(ds, "split_note", "")
        print(f"{args.checkpoint} on {name} ({args.split} split{'; ' + note if note else ''})")
        print(ev.report())
    return 0


def _num_outputs(model, shape):
    from .nn import ShapeError, summary
    try:
        out = summary(model, shape).output_shape
    except ShapeError as e:
        raise UserError(f"the checkpoint's model does not fit {_fmt_shape(shape)} images: {e}") from None
    return int(out[0]) if len(out) == 1 else None


# --- predict -----------------------------------------------------------------------------------
PREDICT_MAX_PIXELS = 1 << 26   # an image predict decodes (8192 x 8192); more is refused as a decompression bomb
PREDICT_BATCH = 64             # images per forward pass


def _memory_budget() -> int:
    """Bytes a forward pass may take: half the machine's physical memory (8 GiB if unknown)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (AttributeError, ValueError, OSError):
        return 8 << 30


def _read_image(path, ch, h, w):
    """uint8 (h, w, ch) of the image at ``path``, resized; one UserError for anything else,
    including an image whose header declares more than PREDICT_MAX_PIXELS (checked before
    its pixels are decoded)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.size[0] * im.size[1] > PREDICT_MAX_PIXELS:
                    raise UserError(f"{path} is {im.size[0]}x{im.size[1]} pixels, more than predict decodes "
                                    f"({PREDICT_MAX_PIXELS:,}); it may be a decompression bomb")
                im = im.convert("L" if ch == 1 else "RGB")
                if im.size != (w, h):
                    im = im.resize((w, h), Image.BILINEAR)
                a = np.asarray(im, dtype=np.uint8)
    except FileNotFoundError:
        raise UserError(f"no such image: {path}") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder, not an image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UserError(f"{path} is refused as a decompression bomb ({_first_line(e)})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as e:
        raise UserError(f"{path} is not a readable image ({_first_line(e) or type(e).__name__})") from None
    return a if a.ndim == 3 else a[..., None]


def cmd_predict(args) -> int:
    import numpy as np

    from . import kernels
    from .nn import summary
    _check_device(args.device)
    c, model = _load_ckpt(args.checkpoint)
    shape = c.input_shape or tuple(c.metadata.get("input_shape") or ())
    if not shape:
        raise UserError(f"{args.checkpoint} does not record its input shape")
    ch, h, w = shape
    if ch not in (1, 3):
        raise UserError(f"{args.checkpoint} takes {ch}-channel images; predict reads grayscale (1) or RGB (3) images")
    need = summary(model, shape).activation_bytes * min(len(args.images), PREDICT_BATCH)
    if need > _memory_budget():
        raise UserError(f"{args.checkpoint}'s model needs {need / 2**30:.1f} GiB for {_fmt_shape(shape)} images, "
                        f"more than half this machine's memory")
    imgs = [_read_image(path, ch, h, w) for path in args.images]
    x = _eval_transform(c)
    from .autograd import no_grad
    from .data.transforms import apply_batch
    model.to(args.device)
    ops = kernels.ops(args.device)
    parts = []
    for i in range(0, len(imgs), PREDICT_BATCH):
        batch = np.ascontiguousarray(apply_batch(x, np.stack(imgs[i:i + PREDICT_BATCH])), dtype=np.float32)
        with no_grad():
            parts.append(np.asarray(ops.to_host(model(ops.asarray(batch)).array), dtype=np.float64))
    logits = np.concatenate(parts)
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    names = c.class_names or [str(i) for i in range(p.shape[1])]
    k = min(args.top, p.shape[1])
    for path, row in zip(args.images, p):
        top = np.argsort(-row, kind="stable")[:k]
        print(f"{path}: " + ", ".join(f"{names[i]} {100 * row[i]:.1f}%" for i in top))
    return 0


# --- summary, models -----------------------------------------------------------------------------
def cmd_summary(args) -> int:
    from . import models
    if args.checkpoint:
        c, model = _load_ckpt(args.checkpoint)
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
        model = _build_model(name, shape, args.num_classes)
    print(f"{name}")
    print(str(_summary(model, shape, name)))
    return 0


def cmd_models(args) -> int:
    from . import models
    from .nn import summary
    rows = [("model", "input", "parameters", "MACs/image", "layers")]
    for name in models.names():
        shape = models.DEFAULT_INPUT[name]
        m = models.get(name)
        s = summary(m, shape)
        leaves = sum(1 for _, mod in m.named_modules() if not mod._modules)
        rows.append((name, _fmt_shape(shape), f"{s.total_params:,}", f"{s.total_macs / 1e6:,.1f} M", str(leaves)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(w) if j < 2 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    return 0


# --- import-weights, export -----------------------------------------------------------------------
DATASET_SHAPES = {"mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


def _fresh_out(path, force):
    """Refuses to replace an existing file unless --force; never a folder."""
    if os.path.isdir(path):
        raise UserError(f"-o {path} is a folder; give a file name")
    if os.path.exists(path) and not force:
        raise UserError(f"{path} already exists; choose another -o or pass --force to replace it")


def _last_linear_key(model):
    from .nn import Linear
    keys = [f"{name}.weight" if name else "weight" for name, m in model.named_modules() if isinstance(m, Linear)]
    return keys[-1] if keys else None


def cmd_import_weights(args) -> int:
    from . import models
    from .interop import WeightsError, load_into, read_weights
    from .nn import from_spec
    from .train.checkpoint import save_checkpoint
    _fresh_out(args.out, args.force)
    try:
        state, spec = read_weights(args.file, key=args.key)
    except WeightsError as e:
        raise UserError(_first_line(e)) from None
    shape = args.input or DATASET_SHAPES.get(args.dataset)
    if args.model is not None:
        shape = shape or models.DEFAULT_INPUT.get(args.model)     # None for a spec .json: nothing to check
        classes = args.num_classes or 10
        model = _build_model(args.model, shape, classes)
        last = _last_linear_key(model)
        if args.num_classes is None and last in state and state[last].ndim == 2 and state[last].shape[0] != classes:
            model = _build_model(args.model, shape, int(state[last].shape[0]))
    elif spec is not None:
        try:
            model = from_spec(spec)
        except ValueError as e:
            raise UserError(f"{args.file}: the model spec it carries does not build: {_first_line(e)}") from None
    else:
        raise UserError(f"{args.file} carries no numbacnn model spec; pass --model NAME (see `numbacnn models`)")
    try:
        load_into(model, state, source=args.file)
    except WeightsError as e:
        raise UserError(_first_line(e)) from None
    if shape is not None:
        _summary(model, shape, args.model or args.file)
    metadata = {"imported_from": os.path.abspath(args.file),
                "command": " ".join([PROG] + [shlex.quote(x) for x in sys.argv[1:]])}
    if args.dataset:
        mean, std = NORMALIZE[args.dataset]
        metadata.update(dataset=args.dataset, normalize={"mean": list(mean), "std": list(std)})
    save_checkpoint(args.out, model.eval(), {"input_shape": list(shape) if shape else None, "metadata": metadata})
    print(f"{args.file}: {len(state)} tensors into {args.model or 'its model spec'} "
          f"({model.num_parameters():,} parameters); wrote {args.out}")
    return 0


def cmd_export(args) -> int:
    fmt = args.format or {".onnx": "onnx", ".safetensors": "safetensors"}.get(os.path.splitext(args.out)[1].lower())
    if fmt is None:
        raise UserError(f"cannot tell the format from -o {args.out}; pass --format safetensors or --format onnx")
    _fresh_out(args.out, args.force)
    c, model = _load_ckpt(args.checkpoint)
    if fmt == "safetensors":
        from .interop import WeightsError, save_safetensors
        try:
            save_safetensors(model, args.out)
        except WeightsError as e:
            raise UserError(_first_line(e)) from None
    else:
        import numpy as np

        from .onnx import ExportError, export
        shape = args.input or c.input_shape
        if not shape:
            raise UserError(f"{args.checkpoint} does not record its input shape; pass --input CxHxW")
        try:
            export(model, np.zeros((1, *shape), np.float32), args.out, opset=args.opset)
        except ExportError as e:
            raise UserError(_first_line(e)) from None
    print(f"wrote {args.out} ({fmt}, {os.path.getsize(args.out):,} bytes)")
    return 0


# --- explain -------------------------------------------------------------------------------------
EXPLAIN_SIDE = 256     # the PNG's longer side is at least this (the image scaled by a whole factor)


def _class_index(text, names):
    """--class K: a whole number, or one of the checkpoint's class names."""
    if text is None:
        return None
    if text.strip().lstrip("-").isdigit():
        return int(text)
    if names and text in names:
        return names.index(text)
    known = f"one of: {', '.join(names)}" if names else "a class index (the checkpoint names no classes)"
    raise UserError(f"--class {text!r} is not a class of the checkpoint; give {known}")


def cmd_explain(args) -> int:
    import io

    import numpy as np
    from PIL import Image

    from .data.transforms import apply_batch
    from .explain import explain, heatmap, overlay
    from .train.checkpoint import atomic_write_bytes
    if os.path.splitext(args.out)[1].lower() != ".png":
        raise UserError(f"-o {args.out}: explain writes a PNG; give a name ending in .png")
    _fresh_out(args.out, args.force)
    c, model = _load_ckpt(args.checkpoint)
    shape = c.input_shape or tuple(c.metadata.get("input_shape") or ())
    if not shape:
        raise UserError(f"{args.checkpoint} does not record its input shape")
    ch, h, w = shape
    if ch not in (1, 3):
        raise UserError(f"{args.checkpoint} takes {ch}-channel images; explain reads grayscale (1) or RGB (3) images")
    names = c.class_names or None
    target = _class_index(args.target, names)
    img = _read_image(args.image, ch, h, w)
    x = np.ascontiguousarray(apply_batch(_eval_transform(c), img[None])[0], dtype=np.float32)
    try:
        e = explain(model, x, layer=args.layer, target=target, class_names=names, maps=False)
    except ValueError as err:
        raise UserError(f"{args.checkpoint}: {_first_line(err)}") from None
    k = -(-EXPLAIN_SIDE // max(h, w))
    big = np.repeat(np.repeat(img, k, axis=0), k, axis=1)
    buf = io.BytesIO()
    Image.fromarray(overlay(big, heatmap(e.cam, big.shape[:2]))).save(buf, format="PNG")
    atomic_write_bytes(args.out, buf.getvalue())
    print(f"{args.image}: " + ", ".join(f"{name} {100 * p:.1f}%" for _, name, p in e.top(3)))
    print(f"wrote {args.out}: Grad-CAM of class {e.class_names[e.target]} at layer {e.layer} "
          f"({type(dict(model.named_modules())[e.layer]).__name__}, {e.cam.shape[0]}x{e.cam.shape[1]} map)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
