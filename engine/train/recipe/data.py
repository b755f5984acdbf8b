"""The data of a run: datasets, the split, normalisation, augmentation and the loaders."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np

import datasets

from ...data import DataLoader, Subset, random_split
from ...data import transforms as T
from ...distributed import DistributedSampler
from .settings import NORMALIZE, RecipeError, Settings, augment_names, dataset_key, flag, is_named

NORMALIZE_IMAGES = 5000     # the first this many training images give a folder dataset's mean and std
STD_FLOOR = 1e-3            # ... and its std is at least this (a channel of one colour divides by it)
EVAL_BATCH = 256            # validation and test batches hold at least this many images
LIGHTING_STD = 0.1          # the standard deviation of AlexNet's PCA colour noise (--augment lighting)


def open_dataset(name, root=None, train: bool = True, download: bool = False, size=None):
    """The dataset ``name`` (a known name or a folder / archive path) under ``root``;
    ``size`` (H, W) resizes a folder's images while decoding. A training split must hold
    images of at least two classes. Errors: datasets.DatasetError for what the reader
    finds wrong, RecipeError for the rest (one line each)."""
    extra = {} if size is None else {"size": tuple(size)}
    try:
        ds = datasets.get(name, root=root, train=train, download=download, **extra)
    except (FileNotFoundError, NotADirectoryError, PermissionError) as e:
        raise RecipeError(f"dataset {name!r}: {e.strerror}: {e.filename}") from None
    classes = list(ds.classes)
    if len(ds) == 0:
        raise RecipeError(f"dataset {name!r} has no images")
    if train and len(classes) < 2:
        found = f"only one class ({classes[0]!r})" if classes else "no classes"
        raise RecipeError(f"dataset {name!r} has {found}: a classifier needs at least two class folders")
    return ds


def image_shape(ds) -> tuple[int, int, int]:
    """(C, H, W) of a dataset's images (its ``data`` is uint8 (N, H, W) or (N, H, W, C))."""
    shape = ds.data.shape[1:]
    return (1,) + tuple(shape) if len(shape) == 2 else (shape[2], shape[0], shape[1])


def normalization(key: str, ds) -> tuple[tuple, tuple]:
    """Per-channel (mean, std) of a dataset's images as ToTensor scales them: the
    well-known values of a named dataset, else measured on its first NORMALIZE_IMAGES
    images (std at least STD_FLOOR), rounded to 4 decimals."""
    if key in NORMALIZE:
        return NORMALIZE[key]
    data = ds.data[: min(len(ds), NORMALIZE_IMAGES)].astype(np.float32) / 255.0
    if data.ndim == 3:
        data = data[..., None]
    mean = data.mean(axis=(0, 1, 2))
    std = np.maximum(data.std(axis=(0, 1, 2)), STD_FLOOR)
    return tuple(round(float(m), 4) for m in mean), tuple(round(float(s), 4) for s in std)


def augmentation(text: str, shape, padding=None) -> list:
    """The image batch transforms of an augment comma list (crop, flip, jitter) for images
    of ``shape`` (C, H, W): crop pads by ``padding`` (None: 4 for images of 32 pixels or
    more, else 2), jitter varies brightness, contrast (and saturation of colour images)
    by 20%. (lighting works on tensors: :func:`tensor_augmentation`.)"""
    names = augment_names(text)
    c, h, w = shape
    steps = []
    if "crop" in names:
        steps.append(T.RandomCrop((h, w), padding=(4 if min(h, w) >= 32 else 2) if padding is None else padding))
    if "flip" in names:
        steps.append(T.RandomHorizontalFlip())
    if "jitter" in names:
        steps.append(T.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2 if c == 3 else 0))
    return steps


def tensor_augmentation(text: str, shape) -> list:
    """The tensor batch transforms of an augment comma list, between ToTensor and Normalize:
    lighting adds AlexNet's PCA colour noise (std LIGHTING_STD) to colour ``shape`` (C, H, W)
    images; RecipeError for lighting on images of another number of channels."""
    if "lighting" not in augment_names(text):
        return []
    if shape[0] != 3:
        raise RecipeError(f"--augment lighting needs colour (3-channel) images, not {shape[0]}-channel ones")
    return [T.Lighting(LIGHTING_STD)]


def first_images(ds, n, seed, setting: str, what: str):
    """``ds`` cut to ``n`` images (None: all): its first ``n``, or with ``seed`` the ``n`` drawn
    by ``default_rng(seed).permutation``, kept in the dataset's order. RecipeError naming
    ``setting`` when ``ds`` has fewer than ``n`` (``what``: "training", "validation")."""
    if n is None:
        return ds
    if n > len(ds):
        raise RecipeError(f"{flag(setting)} {n} is more than the {len(ds):,} {what} images")
    keep = np.arange(n) if seed is None else np.sort(np.random.default_rng(seed).permutation(len(ds))[:n])
    return Subset(ds, keep)


def split_name(ds) -> str:
    """"test" for an official test split, "held-out validation" for datasets.holdout's part."""
    return "held-out validation" if "hold-out" in ds.split_note else "test"


@dataclass
class RunData:
    """What a run trains and validates on.

    key: the dataset as a checkpoint records it (its canonical name, or the folder's
    absolute path). full_train: the whole training split; train: the images trained on
    (the first train_size, less those held out); val: the held-out images, else the test
    split, else None; test: the test split or None (a folder's is its fixed hold-out).
    shape (C, H, W), classes, mean and std (per channel), augment and tensor_augment (the
    batch transforms before and after ToTensor)."""

    key: str
    full_train: object
    train: object
    val: object
    test: object
    shape: tuple
    classes: list
    mean: tuple
    std: tuple
    augment: list
    tensor_augment: list
    val_note: str
    train_loader: DataLoader
    val_loader: DataLoader | None
    test_loader: DataLoader | None

    def eval_transform(self):
        """ToTensor and Normalize, as validation and test batches get them."""
        return T.Compose([T.ToTensor(), T.Normalize(self.mean, self.std)])

    def for_arm(self, settings: Settings, train=None, val=None) -> "RunData":
        """This data with fresh loaders for ``settings`` (batch size, shuffle, workers, seed,
        augment; its dataset, subset and split settings are this data's) and ``train`` /
        ``val`` (datasets of this data's images, e.g. reordered or altered) in place of its
        own: an experiment opens its data once and trains each arm on its own loaders."""
        s = settings.checked()
        train = self.train if train is None else train
        val = self.val if val is None else val
        if len(train) < s.batch_size:
            raise RecipeError(f"--batch-size {s.batch_size} is larger than the {len(train):,} training images")
        augment, tensor_augment = augmentation(s.augment, self.shape, s.crop_padding), tensor_augmentation(
            s.augment, self.shape)
        loaders = _loaders(s, train, val, self.test, self.mean, self.std, augment + [T.ToTensor()] + tensor_augment)
        return replace(self, train=train, val=val, augment=augment, tensor_augment=tensor_augment,
                       train_loader=loaders[0], val_loader=loaders[1], test_loader=loaders[2])


def open_data(settings: Settings, comm=None) -> RunData:
    """The datasets, split and loaders of ``settings``; with ``comm`` (an MPI
    communicator) each rank trains on its shard (DistributedSampler)."""
    s = settings.checked()
    full_train = open_dataset(s.dataset, s.data_root, train=True, download=s.download, size=s.image_size)
    try:
        test = open_dataset(s.dataset, s.data_root, train=False, download=s.download, size=s.image_size)
    except (datasets.DatasetError, RecipeError):
        test = None
    shape, classes = image_shape(full_train), list(full_train.classes)
    train = first_images(full_train, s.train_size, s.subset_seed, "train_size", "training")
    val, val_note = None, ""
    if s.val_split > 0:
        n_val = int(round(s.val_split * len(train)))
        if n_val < 1 or n_val >= len(train):
            raise RecipeError(f"--val-split {s.val_split} leaves no validation or no training images")
        train, val = random_split(train, [len(train) - n_val, n_val], seed=s.seed)
        val_note = f"validation: {n_val:,} training images held out (--val-split {s.val_split})"
    elif test is not None:
        val = test
        val_note = f"validation each epoch: the {split_name(test)} split ({len(test):,} images)"
    if val is not None and s.val_size is not None:
        val = first_images(val, s.val_size, s.subset_seed, "val_size", "validation")
        val_note += f", {len(val):,} of them used"
    if len(train) < s.batch_size:
        raise RecipeError(f"--batch-size {s.batch_size} is larger than the {len(train):,} training images")
    key = dataset_key(s.dataset) if is_named(s.dataset) else os.path.abspath(s.dataset)
    if s.normalize:
        mean, std = normalization(key, full_train)
    else:
        mean, std = (0.0,) * shape[0], (1.0,) * shape[0]
    augment, tensor_augment = augmentation(s.augment, shape, s.crop_padding), tensor_augmentation(s.augment, shape)
    train_loader, val_loader, test_loader = _loaders(s, train, val, test, mean, std,
                                                     augment + [T.ToTensor()] + tensor_augment, comm)
    return RunData(key=key, full_train=full_train, train=train, val=val, test=test, shape=shape, classes=classes,
                   mean=tuple(mean), std=tuple(std), augment=augment, tensor_augment=tensor_augment,
                   val_note=val_note, train_loader=train_loader, val_loader=val_loader, test_loader=test_loader)


def _loaders(s: Settings, train, val, test, mean, std, to_tensor: list, comm=None) -> tuple:
    """(train, val, test) loaders of checked settings ``s``: training batches through
    ``to_tensor`` (the augmentation, ToTensor and the tensor augmentation) and Normalize,
    validation and test batches (None for a missing split) through ToTensor and Normalize;
    with ``comm`` each rank loads its shard of ``train``."""
    normalize = T.Normalize(mean, std)
    sampler = None if comm is None else DistributedSampler(train, comm.size, comm.rank, shuffle=s.shuffle,
                                                           seed=s.seed)
    train_loader = DataLoader(train, batch_size=s.batch_size, shuffle=s.shuffle and sampler is None,
                              sampler=sampler, num_workers=s.workers, seed=s.seed,
                              transform=T.Compose(to_tensor + [normalize]))

    def evaluation(ds):
        return None if ds is None else DataLoader(ds, batch_size=max(s.batch_size, EVAL_BATCH), num_workers=s.workers,
                                                  seed=s.seed, transform=T.Compose([T.ToTensor(), normalize]))
    return train_loader, evaluation(val), evaluation(test)
