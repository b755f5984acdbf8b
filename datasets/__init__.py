"""Dataset readers: MNIST, FashionMNIST, CIFAR10, ImageFolder; download + checksum.

    from datasets import MNIST, FashionMNIST, CIFAR10, ImageFolder, DatasetError
    ds = MNIST(root, train=True, transform=..., download=False)

Every dataset holds ``data`` (uint8 (N, H, W) or (N, H, W, C)), ``targets``
(int64 (N,)), ``classes``, ``split_note``, and gives ``(image, target)``
pairs. ``get(name, root, train)`` maps a name or path to a dataset;
``default_root`` says where data lives (explicit > $NUMBACNN_DATA > ./data).
"""

from .base import VisionDataset
from .catalog import get
from .cifar import CIFAR10
from .errors import ChecksumWarning, DatasetError
from .folder import ImageFolder
from .mnist import MNIST, FashionMNIST
from .root import default_root
from .split import holdout

__all__ = ["MNIST", "FashionMNIST", "CIFAR10", "ImageFolder", "VisionDataset", "DatasetError",
           "ChecksumWarning", "default_root", "get", "holdout"]
