"""The experiments' data: fixed, seeded subsets of MNIST and CIFAR-10 and their transforms.

MNIST: the official training set (subsets of it) and the official test set as validation.
CIFAR-10: datasets.get's training part and held-out validation part (the JPEG archive's
fixed 45,000 / 5,000 per-class split, or the official test set where the batches are).
A subset of n images is the first n of a seeded permutation, so it mixes the classes and
is the same for every arm and every run.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import datasets
from datasets.base import VisionDataset

from ..data import transforms as T
from ..train.recipe.settings import NORMALIZE

MNIST_MEAN_STD = NORMALIZE["mnist"]
CIFAR_MEAN_STD = NORMALIZE["cifar10"]


@dataclass
class Split:
    """train/val: VisionDatasets (uint8 images) whose transform normalises them."""
    name: str
    train: object
    val: object

    def describe(self) -> str:
        return f"{self.name}: {len(self.train):,} training images, {len(self.val):,} validation images"


def _subset(ds, n: int | None, seed: int):
    if n is None or n >= len(ds):
        return ds
    keep = np.sort(np.random.default_rng(seed).permutation(len(ds))[:n])
    return ds.select(keep, f"{n:,} images drawn (seed {seed}) from {len(ds):,}")


def with_images(ds, images) -> VisionDataset:
    """``ds`` (a VisionDataset) with its uint8 images replaced by ``images(ds.data)``
    (same shape); the targets, classes and transform are kept."""
    data = np.ascontiguousarray(images(ds.data))
    if data.shape != ds.data.shape or data.dtype != np.uint8:
        raise ValueError(f"with_images: the images must stay uint8 {ds.data.shape}, got {data.dtype} {data.shape}")
    return VisionDataset(data, ds.targets, ds.classes, ds.transform, ds.target_transform, ds.root, ds.split_note)


def _normalize(mean_std):
    return T.Compose([T.ToTensor(), T.Normalize(*mean_std)])


def mnist(root, n_train: int | None, n_val: int | None, seed: int) -> Split:
    tf = _normalize(MNIST_MEAN_STD)
    train = datasets.get("mnist", root, train=True, transform=tf)
    val = datasets.get("mnist", root, train=False, transform=tf)
    return Split("MNIST", _subset(train, n_train, seed), _subset(val, n_val, seed))


def cifar10(root, n_train: int | None, n_val: int | None, seed: int) -> Split:
    tf = _normalize(CIFAR_MEAN_STD)
    train = datasets.get("cifar10", root, train=True, transform=tf)
    val = datasets.get("cifar10", root, train=False, transform=tf)
    return Split("CIFAR-10", _subset(train, n_train, seed), _subset(val, n_val, seed))
