"""The studio's glue to the engine, free of Qt: open a dataset, build the loaders,
model, optimizer and schedule from the app state's plain settings, preview the
learning rate, predict one image, evaluate a model.

Everything here that touches the engine's kernels runs on the worker's engine
thread (see gui/worker.py); the GUI thread only calls the kernel-free helpers
(``lr_preview``, ``normalization``)."""
from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import numpy as np

# names the datasets package knows each choice by
DATASET_KEYS = {"MNIST": "mnist", "FashionMNIST": "fashion_mnist", "CIFAR10": "cifar10", "ImageFolder": "imagefolder"}
CLI_DATASET_NAMES = {"MNIST": "mnist", "FashionMNIST": "fashion-mnist", "CIFAR10": "cifar10"}
DATASET_TITLES = {"MNIST": "MNIST", "FashionMNIST": "Fashion-MNIST", "CIFAR10": "CIFAR-10",
                  "ImageFolder": "Image folder / archive"}


class DataMissing(Exception):
    """The dataset is not on disk; ``can_download`` says whether Download may help."""

    def __init__(self, message: str, can_download: bool = True):
        super().__init__(message)
        self.can_download = can_download


# --------------------------------------------------------------------------- data
def data_root(data) -> str:
    if data.root:
        return str(Path(data.root).expanduser())
    try:
        from datasets.root import default_root
        return str(Path(default_root()).resolve())
    except Exception:  # noqa: BLE001
        return str(Path("data").resolve())


_CACHE: dict = {}


def open_dataset(data, train: bool = True):
    """The dataset the settings ``data`` (a DataSettings or dict) name; raises DataMissing
    when it is not on disk, ValueError for other problems. Kept in a small cache (the
    engine thread is its only user)."""
    if isinstance(data, dict):
        from .state import DataSettings
        data = DataSettings(**data)
    key = (data.name, data_root(data), data.folder, bool(train))
    if key in _CACHE:
        return _CACHE[key]
    ds = _open(data, train)
    if len(_CACHE) >= 4:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = ds
    return ds


def _dataset_class(name):
    import datasets
    cls = getattr(datasets, name, None)
    if cls is None:
        import importlib
        for mod in ("mnist", "cifar", "folder", "imagefolder"):
            try:
                cls = getattr(importlib.import_module(f"datasets.{mod}"), name, None)
            except ImportError:
                continue
            if cls is not None:
                break
    return cls


def _open(data, train):
    import datasets
    try:
        from datasets.errors import DatasetError
    except ImportError:
        DatasetError = getattr(datasets, "DatasetError", OSError)
    try:
        if data.name == "ImageFolder":
            if not data.folder:
                raise DataMissing("Choose a folder (or a .zip/.tar archive) holding one sub-folder per class.",
                                  can_download=False)
            folder = str(Path(data.folder).expanduser())
            if not Path(folder).exists():
                raise DataMissing(f"{folder} does not exist", can_download=False)
            getter = getattr(datasets, "get", None)
            if getter is not None:          # a fixed 90/10 per-class hold-out is its test split
                return getter(folder, train=train)
            if not train:
                raise DataMissing("An image folder has no separate test split; the validation split is used.",
                                  can_download=False)
            return _dataset_class("ImageFolder")(folder)
        getter = getattr(datasets, "get", None)
        if getter is not None:
            return getter(DATASET_KEYS[data.name], data_root(data), train=train)
        cls = _dataset_class(data.name)
        if cls is None:
            raise DataMissing(f"this build has no {data.name} reader", can_download=False)
        return cls(data_root(data), train=train)
    except DataMissing:
        raise
    except (FileNotFoundError, DatasetError) as e:
        msg = str(e) or type(e).__name__
        missing = isinstance(e, FileNotFoundError) or any(
            w in msg.lower() for w in ("not found", "missing", "no such", "download", "does not exist"))
        raise DataMissing(msg, can_download=missing and data.name != "ImageFolder") from None


def download(data) -> str:
    """Downloads the dataset into its root; raises with a clear message when offline."""
    import datasets
    key, root = DATASET_KEYS[data.name], data_root(data)
    getter = getattr(datasets, "get", None)
    for train in (True, False):
        if getter is not None:
            getter(key, root, train=train, download=True)
        else:
            _dataset_class(data.name)(root, train=train, download=True)
    for k in [k for k in _CACHE if k[0] == data.name]:
        _CACHE.pop(k)
    return root


def images_of(ds) -> np.ndarray:
    """The dataset's images as uint8 (N, H, W, C) (a view when possible)."""
    base, index = _unwrap(ds)
    data = getattr(base, "data", None)
    if isinstance(data, np.ndarray) and data.dtype == np.uint8:
        arr = data if data.ndim == 4 else data[..., None]
        return arr if index is None else _Indexed(arr, index)
    return _Indexed(_SampleArray(ds), None)


def targets_of(ds) -> np.ndarray:
    t = getattr(ds, "targets", None)
    if t is None:
        t = [ds[i][1] for i in range(len(ds))]
    return np.asarray(t, np.int64)


def classes_of(ds) -> list[str]:
    c = getattr(ds, "classes", None)
    if c is None:
        base, _ = _unwrap(ds)
        c = getattr(base, "classes", None)
    if c is None:
        return [str(i) for i in range(int(targets_of(ds).max()) + 1)]
    return [str(x) for x in c]


def _unwrap(ds):
    from engine.data import Subset
    index = None
    while isinstance(ds, Subset):
        index = ds.indices if index is None else ds.indices[index]
        ds = ds.dataset
    return ds, index


class _Indexed:
    """arr[index] without copying the whole thing."""

    def __init__(self, arr, index):
        self.arr, self.index = arr, index

    def __len__(self):
        return len(self.arr) if self.index is None else len(self.index)

    def __getitem__(self, k):
        k = np.asarray(k)
        return self.arr[k if self.index is None else self.index[k]]

    @property
    def shape(self):
        return (len(self),) + tuple(self.arr[np.array([0])].shape[1:])


class _SampleArray:
    """A dataset read sample by sample, looking like a uint8 (N, H, W, C) array."""

    def __init__(self, ds):
        self.ds = ds

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, k):
        out = []
        for i in np.atleast_1d(np.asarray(k)):
            img = np.asarray(self.ds[int(i)][0])
            if img.dtype != np.uint8:        # a float (C, H, W) tensor
                img = np.clip(np.moveaxis(img, 0, -1) * 255, 0, 255).astype(np.uint8)
            out.append(img if img.ndim == 3 else img[..., None])
        return np.stack(out)


def dataset_summary(train_ds, test_ds, data) -> dict:
    """What the Data tab shows: classes, counts, split sizes, image shape, samples."""
    images = images_of(train_ds)
    targets = targets_of(train_ds)
    classes = classes_of(train_ds)
    n = len(targets)
    used = min(n, data.limit) if data.limit else n
    n_val = int(round(used * data.val_fraction))
    first = np.asarray(images[np.array([0])])
    h, w, c = first.shape[1:]
    counts = np.bincount(targets, minlength=len(classes))[:len(classes)]
    rng = np.random.default_rng(1234)
    # a few of each class, in class order, as DIGITS shows them
    per = max(1, 32 // max(1, len(classes)))
    pick = []
    for k in range(len(classes)):
        idx = np.flatnonzero(targets == k)
        if len(idx):
            pick.extend(rng.choice(idx, size=min(per, len(idx)), replace=False).tolist())
    pick = np.array(sorted(pick[:40]) if len(pick) > 40 else pick, np.int64)
    return {"classes": classes, "counts": counts.tolist(), "train": used - n_val, "val": n_val,
            "test": None if test_ds is None else len(test_ds), "total": n, "shape": (int(c), int(h), int(w)),
            "sample_index": pick, "samples": np.asarray(images[pick]), "sample_labels": targets[pick],
            "root": data_root(data), "name": data.name}


def normalization(data, images) -> tuple[tuple, tuple]:
    """Per-channel mean and std of the images (as ToTensor scales them), from up to
    2,000 images; well-known values for the built-in datasets."""
    known = {"MNIST": ((0.1307,), (0.3081,)), "FashionMNIST": ((0.2860,), (0.3530,)),
             "CIFAR10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))}
    if data.name in known:
        return known[data.name]
    n = len(images)
    idx = np.linspace(0, n - 1, min(n, 2000)).astype(np.int64)
    x = np.asarray(images[idx], np.float32) / 255.0
    mean = x.mean(axis=(0, 1, 2))
    std = x.std(axis=(0, 1, 2)) + 1e-6
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)


def augmentation(data, shape):
    """The training-time augmentation (a Compose of batch transforms) or None."""
    from engine.data import transforms as T
    if not data.augment:
        return None
    steps = []
    c, h, w = shape
    if data.random_crop:
        steps.append(T.RandomCrop((h, w), padding=int(data.crop_padding)))
    if data.hflip:
        steps.append(T.RandomHorizontalFlip())
    if data.color_jitter:
        steps.append(T.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3 if c == 3 else 0))
    return T.Compose(steps) if steps else None


def augmented_samples(data, images: np.ndarray, seed: int = 0) -> np.ndarray:
    """The same sample images through the augmentation (uint8 N, H, W, C)."""
    from engine.data import transforms as T
    aug = augmentation(data, (images.shape[3], images.shape[1], images.shape[2]))
    if aug is None:
        return images
    out = T.apply_batch(aug, images, rng=np.random.default_rng(seed))
    return np.asarray(out)


def tensor_transform(mean, std, aug=None):
    from engine.data import transforms as T
    steps = ([aug] if aug is not None else []) + [T.ToTensor(), T.Normalize(mean, std)]
    return T.Compose(steps)


class InputSpec:
    """What prediction needs to know of the data: the input shape, the normalisation and
    the class names (a DataBundle has them too; a checkpoint alone gives these)."""

    def __init__(self, shape, mean, std, classes):
        self.shape = tuple(int(s) for s in shape)
        self.mean, self.std = tuple(mean), tuple(std)
        self.classes = list(classes)

    @classmethod
    def from_checkpoint(cls, ck) -> "InputSpec | None":
        meta = ck.metadata
        shape = ck.input_shape or meta.get("input_shape")
        if not shape:
            return None
        norm = meta.get("normalize") or meta.get("normalization") or {}
        c = int(shape[0])
        classes = ck.class_names or [str(i) for i in range(10)]
        return cls(shape, norm.get("mean") or (0.0,) * c, norm.get("std") or (1.0,) * c, classes)

    def to_tensor(self, images_u8: np.ndarray) -> np.ndarray:
        x = images_u8.astype(np.float32) / 255.0
        x = (x - np.array(self.mean, np.float32)) / np.array(self.std, np.float32)
        return np.ascontiguousarray(np.moveaxis(x, -1, 1))

    def eval_set(self, which: str = "test"):
        return None, None, "none"


class DataBundle(InputSpec):
    """The loaders of one run and what the views need to draw its images."""

    def __init__(self, data, hyper):
        from engine.data import DataLoader, Subset
        self.data, self.hyper = data, hyper
        self.train_full = open_dataset(data, train=True)
        try:
            self.test = open_dataset(data, train=False)
        except DataMissing:
            self.test = None
        n = len(self.train_full)
        used = min(n, data.limit) if data.limit else n
        rng = np.random.default_rng(int(hyper.seed))
        order = rng.permutation(n)[:used]
        n_val = int(round(used * data.val_fraction))
        self.val = Subset(self.train_full, np.sort(order[:n_val])) if n_val else None
        self.train = Subset(self.train_full, np.sort(order[n_val:])) if (n_val or used < n) else self.train_full
        self.classes = classes_of(self.train_full)
        first = np.asarray(images_of(self.train_full)[np.array([0])])
        self.shape = (int(first.shape[3]), int(first.shape[1]), int(first.shape[2]))
        self.mean, self.std = normalization(data, images_of(self.train_full))
        aug = augmentation(data, self.shape)
        if not data.normalize:
            self.mean, self.std = (0.0,) * self.shape[0], (1.0,) * self.shape[0]
        seed = int(hyper.seed)
        workers = int(getattr(hyper, "num_workers", 0))
        self.train_loader = DataLoader(self.train, batch_size=int(hyper.batch_size), shuffle=bool(hyper.shuffle),
                                       num_workers=workers, seed=seed, transform=tensor_transform(self.mean, self.std, aug))
        plain = tensor_transform(self.mean, self.std)
        self.val_loader = (DataLoader(self.val, batch_size=max(256, int(hyper.batch_size)), shuffle=False,
                                      num_workers=workers, seed=seed, transform=plain) if self.val is not None else None)
        self.test_loader = (DataLoader(self.test, batch_size=256, shuffle=False, num_workers=workers, seed=seed,
                                       transform=plain) if self.test is not None else None)

    def eval_set(self, which: str = "test"):
        """(dataset, loader, title) for evaluation: the test split when there is one."""
        if which == "test" and self.test is not None:
            return self.test, self.test_loader, "test"
        if self.val is not None:
            return self.val, self.val_loader, "validation"
        return self.test, self.test_loader, "test"

    def probe(self, index: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
        """(image uint8 H,W,C, tensor float32 C,H,W, label) of validation (else train) sample ``index``."""
        ds = self.val if self.val is not None else self.train
        index = int(index) % len(ds)
        img = np.asarray(images_of(ds)[np.array([index])])[0]
        label = int(targets_of(ds)[index])
        return img, self.to_tensor(img[None])[0], label



# --------------------------------------------------------------------------- model / optimizer
def build_model(model, shape, num_classes):
    """The engine model the ModelSettings ``model`` describe, for inputs ``shape`` (C, H, W)."""
    from engine import models, nn
    if isinstance(model, dict):
        from .state import ModelSettings
        model = ModelSettings(**model)
    if model.source == "custom" and model.spec:
        return nn.from_spec(model.spec)
    return models.get(model.zoo_name, in_channels=shape[0], num_classes=num_classes, input_size=tuple(shape[1:]))


def build_optimizer(params, hyper):
    from engine import optim
    name = hyper.optimizer
    if name == "SGD":
        return optim.SGD(params, lr=hyper.lr, momentum=hyper.momentum, weight_decay=hyper.weight_decay)
    if name == "Adam":
        return optim.Adam(params, lr=hyper.lr, weight_decay=hyper.weight_decay)
    if name == "AdamW":
        return optim.AdamW(params, lr=hyper.lr, weight_decay=hyper.weight_decay)
    raise ValueError(f"unknown optimizer {name!r}")


def build_scheduler(optimizer, hyper, steps_per_epoch: int):
    """The engine LR scheduler for ``hyper.schedule`` (None for a constant rate), with
    optional linear warm-up. Its ``interval`` ("epoch" or "step") says what one
    ``step()`` means; with warm-up every schedule is built in steps."""
    from engine import optim
    kind = hyper.schedule
    epochs = max(1, int(hyper.epochs))
    spe = max(1, int(steps_per_epoch))
    warm = float(getattr(hyper, "warmup_epochs", 0) or 0)
    warm_steps = int(round(warm * spe)) if kind != "ReduceLROnPlateau" else 0
    unit = spe if warm_steps > 0 else 1          # schedule units per epoch
    if kind == "StepLR":
        sched = optim.StepLR(optimizer, step_size=max(1, int(hyper.step_size)) * unit, gamma=hyper.gamma)
    elif kind == "MultiStepLR":
        sched = optim.MultiStepLR(optimizer, milestones=[m * unit for m in hyper.milestone_list()], gamma=hyper.gamma)
    elif kind == "CosineAnnealingLR":
        sched = optim.CosineAnnealingLR(optimizer, T_max=epochs * unit)
    elif kind == "OneCycleLR":
        sched = optim.OneCycleLR(optimizer, max_lr=hyper.lr, total_steps=max(2, epochs * spe))
    elif kind == "ReduceLROnPlateau":
        return optim.ReduceLROnPlateau(optimizer, factor=min(hyper.gamma, 0.99), patience=int(hyper.patience))
    else:
        sched = None
    if warm_steps > 0:
        if sched is not None:
            sched.interval = "step"
        sched = optim.linear_warmup(optimizer, warm_steps, after=sched)
        sched.interval = "step"
    return sched


def lr_preview(hyper, steps_per_epoch: int, max_points: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """(epoch as a float, lr) over the run as the engine's schedule will give it, from the
    scheduler's closed form ``lr_at`` on a dummy optimizer (no kernels run, so it is safe
    on the GUI thread). ReduceLROnPlateau is drawn flat: it follows the validation loss."""
    from engine import optim
    from engine.nn import Parameter
    epochs = max(1, int(hyper.epochs))
    spe = max(1, int(steps_per_epoch))
    opt = build_optimizer([Parameter(np.zeros(1, np.float32))], hyper) if hyper.optimizer in optim.__all__ else None
    sched = build_scheduler(opt, hyper, spe)
    total = epochs * spe
    steps = np.unique(np.linspace(0, total - 1, min(total, max_points)).astype(np.int64))
    if sched is None or not hasattr(sched, "lr_at"):
        return steps / spe, np.full(len(steps), float(hyper.lr))
    if getattr(sched, "interval", "epoch") == "step":
        lr = [sched.lr_at(int(t))[0] for t in steps]
    else:
        lr = [sched.lr_at(int(t // spe))[0] for t in steps]
    return steps / spe, np.asarray(lr, np.float64)


# --------------------------------------------------------------------------- inference
def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def forward_eval(model, x: np.ndarray) -> np.ndarray:
    """Host logits of ``model`` on the batch ``x`` in eval mode (restores the mode)."""
    from engine import kernels
    from engine.nn import inference_mode
    was = model.training
    model.eval()
    try:
        ops = kernels.ops(model.device)
        with inference_mode():
            out = model(ops.asarray(np.ascontiguousarray(x, np.float32)) if model.device != "cpu"
                        else np.ascontiguousarray(x, np.float32))
        return np.asarray(ops.to_host(out.array))
    finally:
        model.train(was)


def load_image(path, shape) -> np.ndarray:
    """An image file as uint8 (H, W, C) of ``shape`` (C, H, W): converted to grey or RGB
    and resized (MNIST-like grey inputs are inverted when the background is light)."""
    from PIL import Image
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


def predict(model, bundle_like, image_u8: np.ndarray, classes, k: int = 3) -> dict:
    x = bundle_like.to_tensor(image_u8[None])
    p = softmax(forward_eval(model, x))[0]
    top = np.argsort(-p)[:k]
    return {"image": image_u8, "top": [(classes[i] if i < len(classes) else str(i), float(p[i])) for i in top],
            "probs": p}


def evaluate(model, bundle, which: str = "test", max_gallery: int = 32, loss=None) -> dict:
    """Accuracy, top-5, per-class accuracy, confusion matrix and misclassified samples
    of ``model`` on the bundle's test (else validation) split."""
    ds, loader, title = bundle.eval_set(which)
    if ds is None:
        raise ValueError("there is no test or validation split to evaluate on")
    k = len(bundle.classes)
    conf = np.zeros((k, k), np.int64)
    preds, probs_true, top5, losses, n = [], [], 0, 0.0, 0
    for x, y in loader:
        y = np.asarray(y)                      # the loader yields tensors
        logits = forward_eval(model, x)
        p = softmax(logits.astype(np.float64))
        pred = p.argmax(1)
        preds.append(pred)
        probs_true.append(p[np.arange(len(y)), y])
        np.add.at(conf, (y, pred), 1)
        top5 += int((np.argsort(-p, axis=1)[:, :5] == y[:, None]).any(1).sum())
        losses += float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).sum())
        n += len(y)
    pred = np.concatenate(preds) if preds else np.zeros(0, np.int64)
    targets = targets_of(ds)
    wrong = np.flatnonzero(pred != targets[:len(pred)])
    gallery = wrong[:max_gallery]
    images = np.asarray(images_of(ds)[gallery]) if len(gallery) else np.zeros((0,) + bundle.shape[1:] + bundle.shape[:1], np.uint8)
    per_class = np.diag(conf) / np.maximum(conf.sum(1), 1)
    return {"split": title, "n": n, "accuracy": float(np.trace(conf) / max(n, 1)), "top5": top5 / max(n, 1),
            "loss": losses / max(n, 1), "per_class": per_class.tolist(), "confusion": conf, "classes": bundle.classes,
            "wrong_images": images, "wrong_true": targets[gallery].tolist(), "wrong_pred": pred[gallery].tolist(),
            "wrong_count": int(len(wrong))}


def feature_snapshot(model, probe: np.ndarray, step: int = 0, trainer=None):
    """A Snapshot event (engine.train.events) for ``probe`` (C, H, W): every leaf layer's
    output, the first conv's filters, activation statistics — made by the trainer's own
    ``snapshot()`` (a bare Trainer around the model when the run's is not at hand), so
    it names layers as snapshots during training do."""
    from engine.train import Trainer
    if trainer is None:
        trainer = Trainer(model, None, None, None, device=getattr(model, "device", "cpu"))
    trainer.set_probe(np.asarray(probe, np.float32))
    snap = trainer.snapshot()
    snap.step = step
    return snap


def activation_stats(a: np.ndarray) -> dict:
    a = np.asarray(a, np.float64)
    return {"mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()), "max": float(a.max()),
            "zero_fraction": float((a == 0).mean())}


def settings_of(obj) -> dict:
    return asdict(obj) if not isinstance(obj, dict) else dict(obj)


def fmt_eta(seconds: float) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
