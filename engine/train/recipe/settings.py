"""The settings of a training run: one plain dataclass, named as the command line's train
options (``--batch-size`` is ``batch_size``), with the checks every front end relies on."""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields, replace

OPTIMIZERS = ("sgd", "adam", "adamw")
AUGMENTATIONS = ("crop", "flip", "jitter", "lighting")
DEVICES = ("cpu", "cuda")

# the datasets known by name (any other name is a class-folder tree or an archive of one):
# their canonical key, image shape and per-channel mean and std after ToTensor
DATASET_SHAPES = {"mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32)}
NORMALIZE = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}


class RecipeError(ValueError):
    """A setting that cannot make a run: one sentence naming it by its command-line flag."""


def flag(name: str) -> str:
    """The command-line flag of setting ``name`` ("batch_size" -> "--batch-size")."""
    return "--" + name.replace("_", "-")


def dataset_key(name) -> str:
    """The canonical key of a dataset name ("MNIST", "fashion_mnist", "CIFAR-10" -> "mnist",
    "fashion-mnist", "cifar10"); any other name (a folder or archive path) lower-cased."""
    key = str(name).lower().replace("_", "-")
    return {"fashionmnist": "fashion-mnist", "cifar-10": "cifar10"}.get(key, key)


def is_named(dataset) -> bool:
    """Whether ``dataset`` names one of the built-in datasets (else it is a path)."""
    return dataset_key(dataset) in DATASET_SHAPES


@dataclass
class Settings:
    """Everything a training run is built from (:func:`engine.train.recipe.build`).

    model: a zoo name or a model spec ``.json`` file; spec: a model spec (dict) built
    instead. dataset: mnist, fashion-mnist, cifar10, or a class-folder tree or archive;
    image_size (H, W) resizes a folder's images. train_size: the first N training images
    only; val_size: the first N validation images only; subset_seed: None keeps those
    first images, a number draws the N images by a permutation with that seed instead
    (kept in the dataset's order; a class-by-class folder then still gives every class).
    val_split: the fraction of the training images held out for validation (0: each epoch
    is validated on the test split). augment: a comma list of crop, flip, jitter,
    lighting (AlexNet's PCA colour noise, colour images only); crop_padding: the crop's
    padding (None: 4 for images of 32 pixels or more, else 2).
    lr None: 0.01 for sgd, 0.001 else; weight_decay None: 0.01 for adamw, 0 else.
    schedule: see :data:`engine.train.recipe.SCHEDULES`; warmup: epochs (fractions
    allowed) of linear warm-up before it. patience: early stopping after that many epochs
    without validation-loss improvement. log_every: a batch record in metrics.jsonl
    every N steps (0: none)."""

    model: str = "mnist_cnn"
    spec: dict | None = None
    dataset: str = "mnist"
    data_root: str | None = None
    download: bool = False
    image_size: tuple | None = None
    train_size: int | None = None
    val_size: int | None = None
    subset_seed: int | None = None
    val_split: float = 0.0
    epochs: int = 5
    batch_size: int = 64
    shuffle: bool = True
    workers: int = 1
    augment: str = ""
    crop_padding: int | None = None
    normalize: bool = True
    optimizer: str = "adam"
    lr: float | None = None
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float | None = None
    schedule: str = "none"
    warmup: float = 0
    label_smoothing: float = 0.0
    patience: int | None = None
    seed: int = 0
    device: str = "cpu"
    log_every: int = 0

    def checked(self) -> "Settings":
        """A copy with every setting checked (RecipeError naming the first bad one) and the
        defaults that depend on others filled in (lr, weight_decay); a folder dataset and
        the data root become absolute paths, so a run works from any directory."""
        s = replace(self)
        for name in ("model", "dataset", "schedule"):
            if not isinstance(getattr(s, name), str) or not getattr(s, name).strip():
                raise RecipeError(f"{flag(name)} must be a non-empty string, got {getattr(s, name)!r}")
        if s.spec is not None and not isinstance(s.spec, dict):
            raise RecipeError(f"spec must be a model spec (a dict with a 'type'), got {type(s.spec).__name__}")
        for name in ("epochs", "batch_size"):
            _whole(s, name, 1)
        for name in ("workers", "seed", "log_every"):
            _whole(s, name, 0)
        for name, minimum in (("train_size", 1), ("val_size", 1), ("subset_seed", 0), ("patience", 1),
                              ("crop_padding", 0)):
            if getattr(s, name) is not None:
                _whole(s, name, minimum)
        for name in ("download", "shuffle", "normalize", "nesterov"):
            if not isinstance(getattr(s, name), bool):
                raise RecipeError(f"{flag(name)} must be True or False, got {getattr(s, name)!r}")
        for name in ("momentum", "warmup"):
            _number(s, name)
        for name in ("lr", "weight_decay"):
            if getattr(s, name) is not None:
                _number(s, name)
        for name in ("val_split", "label_smoothing"):
            if _number(s, name) >= 1:
                raise RecipeError(f"{flag(name)} must be in [0, 1), got {getattr(s, name)!r}")
        s.optimizer = _choice(s, "optimizer", OPTIMIZERS)
        s.device = _choice(s, "device", DEVICES)
        if not isinstance(s.augment, str):
            raise RecipeError(f"{flag('augment')} must be a comma list of {', '.join(AUGMENTATIONS)}, "
                              f"got {s.augment!r}")
        bad = [a for a in augment_names(s.augment) if a not in AUGMENTATIONS]
        if bad:
            raise RecipeError(f"unknown --augment {', '.join(bad)}; use a comma list of {', '.join(AUGMENTATIONS)}")
        if s.image_size is not None:
            size = s.image_size if isinstance(s.image_size, (tuple, list)) else (s.image_size,) * 2
            if len(size) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in size):
                raise RecipeError(f"--image-size must be a pair of whole numbers >= 1 (H, W), got {s.image_size!r}")
            if is_named(s.dataset):
                raise RecipeError("--image-size applies to image-folder datasets only")
            if s.dataset.endswith(".json"):
                raise RecipeError(f"--image-size does not apply to a dataset definition ({s.dataset} sets its own size)")
            s.image_size = tuple(size)
        if s.lr is None:
            s.lr = 0.01 if s.optimizer == "sgd" else 1e-3
        if s.weight_decay is None:
            s.weight_decay = 0.01 if s.optimizer == "adamw" else 0.0
        if not is_named(s.dataset) and os.path.exists(s.dataset):
            s.dataset = os.path.abspath(s.dataset)
        if s.data_root is not None:
            s.data_root = os.path.abspath(os.path.expanduser(str(s.data_root)))
        return s

    def to_dict(self) -> dict:
        """The settings as JSON-able values (image_size a list), for a checkpoint's metadata."""
        d = asdict(self)
        if d["image_size"] is not None:
            d["image_size"] = list(d["image_size"])
        return d

    @classmethod
    def from_dict(cls, values: dict, where: str = "settings") -> "Settings":
        """Settings from :meth:`to_dict`'s values (unknown keys refused, naming ``where``)."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise RecipeError(f"{where}: unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
        s = cls(**values)
        if isinstance(s.image_size, list):
            s.image_size = tuple(s.image_size)
        return s


def augment_names(text: str) -> list[str]:
    """The names of an augment comma list, lower-cased, blanks dropped."""
    return [a.strip().lower() for a in str(text or "").split(",") if a.strip()]


def _whole(s, name, minimum):
    v = getattr(s, name)
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise RecipeError(f"{flag(name)} must be a whole number >= {minimum}, got {v!r}")


def _number(s, name) -> float:
    v = getattr(s, name)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not (v >= 0 and math.isfinite(v)):
        raise RecipeError(f"{flag(name)} must be a finite number >= 0, got {v!r}")
    return v


def _choice(s, name, choices) -> str:
    v = str(getattr(s, name)).lower()
    if v not in choices:
        raise RecipeError(f"{flag(name)} must be one of {', '.join(choices)}, got {getattr(s, name)!r}")
    return v
