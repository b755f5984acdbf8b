"""``datasets.get``: a dataset by name or path, as the CLI and GUI ask for it."""

from pathlib import Path

import numpy as np

from .archive import is_archive
from .cifar import CIFAR10
from .errors import DatasetError
from .folder import ImageFolder
from .mnist import MNIST, FashionMNIST
from .root import default_root

CIFAR10_JPEG_ARCHIVE = "cifar10-train-jpg.tar.gz"
HOLDOUT_FRACTION = 0.1

_NAMED = {"mnist": MNIST, "fashion-mnist": FashionMNIST, "fashionmnist": FashionMNIST}


def get(name, root=None, train=True, transform=None, target_transform=None, download=False, **kwargs):
    """The dataset called ``name``, or the ImageFolder at path ``name``.

    name: "mnist", "fashion-mnist", "cifar10" (case and "_"/"-" ignored), or a
    class-folder tree or .tar/.tar.gz/.zip of one. root: see
    ``default_root``. train: the training split (True) or the held-out one.

    Where no official test split exists -- an ImageFolder path, or
    "cifar10" when ``root`` holds only the JPEG training archive
    ``cifar10-train-jpg.tar.gz`` -- the split is ``holdout``'s fixed 90/10
    per-class hold-out (CIFAR-10: 45,000 / 5,000), and ``split_note`` says so.
    ``kwargs`` go to ImageFolder (size, grayscale).
    """
    key = str(name).lower().replace("_", "-")
    if key in _NAMED:
        if kwargs:
            raise TypeError(f"{name} takes no {', '.join(sorted(kwargs))} (ImageFolder options)")
        return _NAMED[key](root, train, transform, target_transform, download)
    if key in ("cifar10", "cifar-10"):
        root = default_root(root)
        archive = root / CIFAR10_JPEG_ARCHIVE
        if CIFAR10.find(root) is None and not download and archive.is_file():
            return holdout(ImageFolder(archive, transform, target_transform=target_transform, **kwargs), train)
        return CIFAR10(root, train, transform, target_transform, download)
    path = Path(name).expanduser()
    if path.is_dir() or (path.is_file() and is_archive(path)):
        return holdout(ImageFolder(path, transform, target_transform=target_transform, **kwargs), train)
    raise DatasetError(f"{name}: not a known dataset (mnist, fashion-mnist, cifar10) nor an existing "
                       f"folder or .tar/.tar.gz/.zip archive")


def holdout(dataset, train, fraction=HOLDOUT_FRACTION):
    """A fixed, deterministic train/validation split of ``dataset``.

    Within each class, in the dataset's order (sorted file names for an
    ImageFolder), the last ``round(fraction * n_class)`` samples (at least
    one when the class has two or more) are the validation part
    (``train=False``), the rest the training part. No randomness: the same
    files always land on the same side.
    """
    targets = np.asarray(dataset.targets)
    held = np.zeros(len(targets), bool)
    for c in np.unique(targets):
        members = np.flatnonzero(targets == c)
        k = int(round(fraction * len(members)))
        if len(members) >= 2:
            k = max(k, 1)
        held[members[len(members) - k:]] = True
    keep = np.flatnonzero(~held if train else held)
    part = "training" if train else "validation"
    note = (f"{part} part of a fixed per-class hold-out: the last {fraction:.0%} of each class's "
            f"files are validation ({len(keep):,} of {len(targets):,} images)")
    return dataset.select(keep, note)
