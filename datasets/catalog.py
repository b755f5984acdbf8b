"""``datasets.get``: a dataset by name or path, as the CLI and GUI ask for it."""

from pathlib import Path

from . import definition
from .archive import is_archive
from .cifar import CIFAR10
from .errors import DatasetError
from .folder import ImageFolder
from .mnist import MNIST, FashionMNIST
from .root import default_root
from .split import holdout

CIFAR10_JPEG_ARCHIVE = "cifar10-train-jpg.tar.gz"

_NAMED = {"mnist": MNIST, "fashion-mnist": FashionMNIST, "fashionmnist": FashionMNIST}


def get(name, root=None, train=True, transform=None, target_transform=None, download=False, **kwargs):
    """The dataset called ``name``, or the ImageFolder at path ``name``.

    name: "mnist", "fashion-mnist", "cifar10" (case and "_"/"-" ignored), a
    class-folder tree or .tar/.tar.gz/.zip of one, or a dataset definition's
    ``.json`` file (``datasets.definition``: its own size, resize mode, colour
    and seeded per-class split). root: see
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
    if definition.is_definition(path):
        if kwargs:
            raise TypeError(f"{name} takes no {', '.join(sorted(kwargs))}: a dataset definition sets its images' "
                            f"size and colour itself")
        return definition.load(path).open(train, transform, target_transform)
    if path.is_dir() or (path.is_file() and is_archive(path)):
        return holdout(ImageFolder(path, transform, target_transform=target_transform, **kwargs), train)
    raise DatasetError(f"{name}: not a known dataset (mnist, fashion-mnist, cifar10) nor an existing "
                       f"folder, .tar/.tar.gz/.zip archive or dataset definition (.json)")
