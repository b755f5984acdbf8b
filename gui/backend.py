"""The studio's glue to the engine, free of Qt: the app state's settings as the engine's
run recipe (:mod:`engine.train.recipe`), the Data tab's view of a dataset, the data of
a run as the views draw it, the learning-rate preview, prediction and evaluation.

Everything here that runs the engine's kernels runs on the engine thread
(gui/engine_thread.py); the GUI thread calls only the kernel-free helpers
(``lr_preview``, ``data_root``, ``fmt_eta``)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

import datasets
from engine.data import Subset
from engine.data import transforms as T
from engine.nn import Parameter, ShapeError, summary
from engine.train import evaluate_model, probabilities, recipe

DATASET_TITLES = {"MNIST": "MNIST", "FashionMNIST": "Fashion-MNIST", "CIFAR10": "CIFAR-10",
                  "ImageFolder": "Image folder / archive"}
SCHEDULES = {"constant": "none", "CosineAnnealingLR": "cosine", "OneCycleLR": "onecycle"}   # and the three below


class DataMissing(Exception):
    """The dataset is not on disk; ``can_download`` says whether Download may help."""

    def __init__(self, message: str, can_download: bool = True):
        super().__init__(message)
        self.can_download = can_download


# --------------------------------------------------------------------------- settings -> recipe
def data_root(data) -> str:
    """The data root the settings ``data`` name (else datasets' default)."""
    return str(Path(data.root).expanduser() if data.root else Path(datasets.default_root()).resolve())


def dataset_name(data) -> str:
    """The recipe's dataset: a known dataset's key, or the image folder's path."""
    if data.name != "ImageFolder":
        return recipe.dataset_key(data.name)
    if not data.folder:
        raise DataMissing("Choose a folder (or a .zip/.tar archive) holding one sub-folder per class.",
                          can_download=False)
    folder = Path(data.folder).expanduser()
    if not folder.exists():
        raise DataMissing(f"{folder} does not exist", can_download=False)
    return str(folder)


def schedule_text(hyper) -> str:
    """The recipe's schedule text for the Train tab's schedule settings."""
    kind = hyper.schedule
    if kind == "StepLR":
        return f"step:{int(hyper.step_size)}:{hyper.gamma!r}"
    if kind == "MultiStepLR":
        return f"multistep:{','.join(str(m) for m in hyper.milestone_list())}:{hyper.gamma!r}"
    if kind == "ReduceLROnPlateau":
        return f"plateau:{int(hyper.patience)}:{hyper.gamma!r}"
    if kind not in SCHEDULES:
        raise recipe.RecipeError(f"unknown schedule {kind!r}")
    return SCHEDULES[kind]


def augment_text(data) -> str:
    """The recipe's augment list for the Data tab's augmentation settings."""
    if not data.augment:
        return ""
    return ",".join(name for name, on in (("crop", data.random_crop), ("flip", data.hflip),
                                          ("jitter", data.color_jitter)) if on)


def run_settings(data, model, hyper, epochs: int | None = None) -> recipe.Settings:
    """The recipe settings of the studio's data, model (None: the zoo's default) and
    hyperparameter settings; ``epochs`` overrides the Train tab's."""
    zoo, spec = ("mnist_cnn", None) if model is None else (
        (model.zoo_name, None) if model.source != "custom" or not model.spec else ("custom", model.spec))
    return recipe.Settings(
        model=zoo, spec=spec, dataset=dataset_name(data), data_root=data_root(data),
        train_size=int(data.limit) or None, val_split=float(data.val_fraction), epochs=int(epochs or hyper.epochs),
        batch_size=int(hyper.batch_size), shuffle=bool(hyper.shuffle), workers=int(hyper.num_workers),
        augment=augment_text(data), crop_padding=int(data.crop_padding), normalize=bool(data.normalize),
        optimizer=hyper.optimizer.lower(), lr=float(hyper.lr), momentum=float(hyper.momentum),
        nesterov=bool(hyper.nesterov), weight_decay=float(hyper.weight_decay), schedule=schedule_text(hyper),
        warmup=float(hyper.warmup_epochs), seed=int(hyper.seed), device=hyper.device)


def build_model(model, shape, num_classes):
    """The engine model the ModelSettings ``model`` describe, for inputs ``shape`` (C, H, W)."""
    spec = model.spec if model.source == "custom" and model.spec else None
    return recipe.build_model(recipe.Settings(model=model.zoo_name, spec=spec), shape, num_classes)


def lr_preview(hyper, steps_per_epoch: int, max_points: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """(epoch as a float, lr) over the run as the recipe's schedule gives it, from the
    scheduler's closed form ``lr_at`` on a one-parameter optimizer (no kernels run, so it
    is safe on the GUI thread). ReduceLROnPlateau is drawn flat: it follows the
    validation loss. RecipeError for settings the schedule refuses."""
    epochs, spe = max(1, int(hyper.epochs)), max(1, int(steps_per_epoch))
    s = recipe.Settings(optimizer=hyper.optimizer.lower(), lr=float(hyper.lr), momentum=float(hyper.momentum),
                        weight_decay=float(hyper.weight_decay)).checked()
    opt = recipe.make_optimizer(s, [Parameter(np.zeros(1, np.float32))])
    sched = recipe.make_scheduler(schedule_text(hyper), opt, epochs, spe, float(hyper.warmup_epochs), s.lr)
    total = epochs * spe
    steps = np.unique(np.linspace(0, total - 1, min(total, max_points)).astype(np.int64))
    if sched is None or sched.interval == "epoch":          # constant, or ReduceLROnPlateau
        return steps / spe, np.full(len(steps), s.lr)
    return steps / spe, np.asarray([sched.lr_at(int(t))[0] for t in steps], np.float64)


# --------------------------------------------------------------------------- the Data tab
_CACHE: dict = {}


def open_dataset(data, train: bool = True):
    """The dataset the settings ``data`` name; DataMissing when it is not on disk. Kept
    in a small cache (the engine thread is its only user)."""
    key = (data.name, data_root(data), data.folder, bool(train))
    if key not in _CACHE:
        try:
            ds = recipe.open_dataset(dataset_name(data), data_root(data), train=train)
        except (datasets.DatasetError, recipe.RecipeError, OSError) as e:
            msg = str(e) or type(e).__name__
            missing = any(w in msg.lower() for w in ("not found", "missing", "no such", "download", "does not exist"))
            raise DataMissing(msg, can_download=missing and data.name != "ImageFolder") from None
        if len(_CACHE) >= 4:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = ds
    return _CACHE[key]


def download(data) -> str:
    """Downloads the dataset into its root; raises with a clear message when offline."""
    root = data_root(data)
    for train in (True, False):
        datasets.get(dataset_name(data), root, train=train, download=True)
    for k in [k for k in _CACHE if k[0] == data.name]:
        _CACHE.pop(k)
    return root


def images_of(ds):
    """The dataset's images as uint8 (N, H, W, C): an array, or for a Subset an indexed
    view of its dataset's array (nothing copied until indexed)."""
    index = None
    while isinstance(ds, Subset):
        index = ds.indices if index is None else ds.indices[index]
        ds = ds.dataset
    arr = ds.data if ds.data.ndim == 4 else ds.data[..., None]
    return arr if index is None else _Indexed(arr, index)


class _Indexed:
    """arr[index] without copying the whole thing."""

    def __init__(self, arr, index):
        self.arr, self.index = arr, index

    def __len__(self):
        return len(self.index)

    def __getitem__(self, k):
        return self.arr[self.index[np.asarray(k)]]


def dataset_summary(train_ds, test_ds, data) -> dict:
    """What the Data tab shows: classes, counts, split sizes, image shape, samples."""
    images = images_of(train_ds)
    targets = np.asarray(train_ds.targets, np.int64)
    classes = [str(c) for c in train_ds.classes]
    n = len(targets)
    used = min(n, data.limit) if data.limit else n
    n_val = int(round(used * data.val_fraction))
    counts = np.bincount(targets, minlength=len(classes))[:len(classes)]
    rng = np.random.default_rng(1234)
    per = max(1, 32 // max(1, len(classes)))       # a few of each class, in class order, as DIGITS shows them
    pick = []
    for k in range(len(classes)):
        idx = np.flatnonzero(targets == k)
        if len(idx):
            pick.extend(rng.choice(idx, size=min(per, len(idx)), replace=False).tolist())
    pick = np.array(sorted(pick[:40]) if len(pick) > 40 else pick, np.int64)
    return {"classes": classes, "counts": counts.tolist(), "train": used - n_val, "val": n_val,
            "test": None if test_ds is None else len(test_ds), "total": n, "shape": recipe.image_shape(train_ds),
            "sample_index": pick, "samples": np.asarray(images[pick]), "sample_labels": targets[pick], "targets": targets,
            "root": data_root(data), "name": data.name}


def augmented_samples(data, images: np.ndarray, seed: int = 0) -> np.ndarray:
    """The sample images (uint8 N, H, W, C) through the run's augmentation."""
    steps = recipe.augmentation(augment_text(data), (images.shape[3], images.shape[1], images.shape[2]),
                                data.crop_padding)
    if not steps:
        return images
    return np.asarray(T.apply_batch(T.Compose(steps), images, rng=np.random.default_rng(seed)))


# --------------------------------------------------------------------------- a run's data
class InputSpec:
    """What prediction needs to know of the data: the input shape, the normalisation and
    the class names (a DataBundle has them too; a checkpoint alone gives these)."""

    def __init__(self, shape, mean, std, classes):
        self.shape = tuple(int(s) for s in shape)
        self.mean, self.std = tuple(mean), tuple(std)
        self.classes = list(classes)

    @classmethod
    def from_checkpoint(cls, ck) -> "InputSpec | None":
        shape = ck.input_shape or ck.metadata.get("input_shape")
        if not shape:
            return None
        norm = ck.metadata.get("normalize") or {}
        c = int(shape[0])
        classes = ck.class_names or [str(i) for i in range(10)]
        return cls(shape, norm.get("mean") or (0.0,) * c, norm.get("std") or (1.0,) * c, classes)

    def to_tensor(self, images_u8: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, C) -> normalised float32 (N, C, H, W)."""
        x = images_u8.astype(np.float32) / 255.0
        x = (x - np.array(self.mean, np.float32)) / np.array(self.std, np.float32)
        return np.ascontiguousarray(np.moveaxis(x, -1, 1))


class DataBundle(InputSpec):
    """The data of one run as the views need it: the recipe's RunData (``run_data``, else
    opened from the studio's ``data`` and ``hyper`` settings), its probe images and the
    split an evaluation uses."""

    def __init__(self, data, hyper, run_data: recipe.RunData | None = None):
        rd = run_data if run_data is not None else recipe.open_data(run_settings(data, None, hyper))
        super().__init__(rd.shape, rd.mean, rd.std, rd.classes)
        self.run_data = rd
        self.train, self.val, self.test = rd.train, rd.val, rd.test

    def eval_set(self, which: str = "test"):
        """(dataset, loader, title) for evaluation: the test split when there is one and
        ``which`` is "test", else the validation split."""
        rd = self.run_data
        if (which == "test" or rd.val is None) and rd.test is not None:
            return rd.test, rd.test_loader, "test"
        return rd.val, rd.val_loader, "validation"

    def probe(self, index: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
        """(image uint8 H,W,C, tensor float32 C,H,W, label) of validation (else training) sample ``index``."""
        ds = self.val if self.val is not None else self.train
        index = int(index) % len(ds)
        img = np.asarray(images_of(ds)[np.array([index])])[0]
        return img, self.to_tensor(img[None])[0], int(np.asarray(ds.targets)[index])


def bundle_of_checkpoint(ck, data, hyper):
    """The data of checkpoint ``ck``'s run: from the recipe settings it records, else the
    studio's ``data`` and ``hyper`` (a checkpoint of an older studio), else (its data not
    at hand) only what prediction needs; None without even an input shape."""
    args = ck.metadata.get("args")
    try:
        if args:
            settings = recipe.Settings.from_dict(dict(args), where=f"{ck.path} metadata.args")
            return DataBundle(data, hyper, recipe.open_data(settings))
        return DataBundle(data, hyper)
    except (datasets.DatasetError, recipe.RecipeError, DataMissing, OSError, TypeError):
        return InputSpec.from_checkpoint(ck)


# --------------------------------------------------------------------------- inference
def load_image(path, shape) -> np.ndarray:
    """An image file as uint8 (H, W, C) of ``shape`` (C, H, W): converted to grey or RGB
    and resized (MNIST-like grey inputs are inverted when the background is light)."""
    c, h, w = shape
    with Image.open(path) as im:
        im = im.convert("L" if c == 1 else "RGB")
        if im.size != (w, h):
            im = im.resize((w, h), Image.BILINEAR)
        arr = np.asarray(im, np.uint8)
    if arr.ndim == 2:
        arr = arr[..., None]
    if c == 1 and arr.mean() > 127:      # dark digit on white paper -> MNIST's white on black
        arr = 255 - arr
    return arr


def predict(model, spec: InputSpec, image_u8: np.ndarray, k: int = 3) -> dict:
    """One image (uint8 H, W, C) through the model: "probs" the softmax, float64 (classes,);
    "classes" a name for each; "top" the ``k`` most probable as (name, probability)."""
    p = probabilities(model, spec.to_tensor(image_u8[None]))[0]
    top = np.argsort(-p, kind="stable")[:k]
    names = [spec.classes[i] if i < len(spec.classes) else str(i) for i in range(len(p))]
    return {"image": image_u8, "top": [(names[i], float(p[i])) for i in top], "probs": p, "classes": names}


def evaluate(model, bundle: DataBundle, which: str = "test", max_gallery: int = 32) -> dict:
    """The engine's evaluation of ``model`` on the bundle's test (else validation) split.
    Every misclassified image is listed (``wrong_index`` into the split, ``wrong_true``,
    ``wrong_pred``: one entry each, in the split's order); ``wrong_images`` holds the first
    ``max_gallery`` of them, uint8 (n, H, W, C); :func:`split_images` gives the others.
    ``which``: the split asked for, to fetch more of its images."""
    ds, loader, title = bundle.eval_set(which)
    if ds is None:
        raise ValueError("there is no test or validation split to evaluate on")
    ev = evaluate_model(model, loader, class_names=bundle.classes)
    targets = np.asarray(ds.targets, np.int64)
    wrong = np.flatnonzero(ev.predictions != targets)
    return {"split": title, "which": which, "n": ev.num_samples, "accuracy": ev.accuracy, "top5": ev.top5,
            "loss": ev.loss, "per_class": ev.per_class.tolist(), "confusion": ev.confusion, "classes": bundle.classes,
            "wrong_images": split_images(bundle, which, wrong[:max_gallery]), "wrong_index": wrong.tolist(),
            "wrong_true": targets[wrong].tolist(), "wrong_pred": ev.predictions[wrong].tolist(),
            "wrong_count": int(len(wrong))}


def split_images(bundle: DataBundle, which: str, indices) -> np.ndarray:
    """uint8 (n, H, W, C): the images at ``indices`` of the split :meth:`DataBundle.eval_set`
    gives for ``which`` (ValueError naming the index for one outside it)."""
    ds = bundle.eval_set(which)[0]
    idx = np.asarray(indices, np.int64).reshape(-1)
    if ds is None:
        raise ValueError("there is no test or validation split to take images from")
    bad = idx[(idx < 0) | (idx >= len(ds))]
    if len(bad):
        raise ValueError(f"image index {int(bad[0])} is outside the {len(ds)} images of the split")
    if not len(idx):
        c, h, w = bundle.shape
        return np.zeros((0, h, w, c), np.uint8)
    return np.asarray(images_of(ds)[idx])


def summary_text(model, spec: InputSpec | None) -> str:
    """The model's layer table for one input of ``spec``'s shape, as a training run's start
    reports it (one row per layer: name, kind, output shape, ...); "" without a shape or
    for a model that does not fit it."""
    if spec is None:
        return ""
    try:
        return str(summary(model, spec.shape))
    except ShapeError:
        return ""


def fmt_eta(seconds: float) -> str:
    """Seconds as m:ss or h:mm:ss ("--:--" when unknown)."""
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
