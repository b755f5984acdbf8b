"""The experiments' data, opened by the shared recipe (:meth:`Context.settings`,
:func:`engine.train.recipe.open_data`): seeded subsets of MNIST and CIFAR-10.

MNIST: the official training set (subsets of it) and the official test set as validation.
CIFAR-10: datasets.get's training part and held-out validation part (the JPEG archive's
fixed 45,000 / 5,000 per-class split, or the official test set where the batches are).
A subset of n images is the first n of a seeded permutation (kept in order), so it mixes
the classes and is the same for every arm and every run.
"""
from __future__ import annotations

import numpy as np

from datasets.base import VisionDataset

from ..data import Subset
from ..train.recipe import RunData

NAMES = {"mnist": "MNIST", "cifar10": "CIFAR-10"}


def describe(data: RunData) -> str:
    """"MNIST: 256 training images, 128 validation images"."""
    return f"{NAMES.get(data.key, data.key)}: {len(data.train):,} training images, {len(data.val):,} validation images"


def with_images(ds, images):
    """``ds`` (a VisionDataset, or a Subset of one) with its uint8 images replaced by
    ``images(data)`` (same shape); the targets, classes, transforms and subset are kept."""
    if isinstance(ds, Subset):
        return Subset(with_images(ds.dataset, images), ds.indices)
    data = np.ascontiguousarray(images(ds.data))
    if data.shape != ds.data.shape or data.dtype != np.uint8:
        raise ValueError(f"with_images: the images must stay uint8 {ds.data.shape}, got {data.dtype} {data.shape}")
    return VisionDataset(data, ds.targets, ds.classes, ds.transform, ds.target_transform, ds.root, ds.split_note)
