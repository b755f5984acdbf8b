"""``engine.vision.datasets``, shaped like ``torchvision.datasets``: the readers of the
top-level :mod:`datasets` package under torchvision's names, signatures and folder layouts.

- ``MNIST(root, train=True, transform=None, target_transform=None, download=False)``
  reads ``root/MNIST/raw/`` (torchvision's layout) or ``root/mnist/``: the four IDX files,
  gzipped or extracted. ``FashionMNIST``: ``root/FashionMNIST/raw/`` or ``root/fashion-mnist/``.
- ``CIFAR10(root, train=True, transform=None, target_transform=None, download=False)`` reads
  ``root/cifar-10-batches-py/`` or ``root/cifar-10-python.tar.gz``.
- ``ImageFolder(root, transform=None, target_transform=None)``: ``root/<class>/<image>``.

``download=True`` uses the files already there and goes to the network only for missing
ones. ``dataset[i]`` is ``(image, target)``: the image is a uint8 numpy array (H, W[, C])
where torchvision gives a PIL image, and a float32 (C, H, W) Tensor after
``transforms.ToTensor()``; the target is an int. ``data`` is uint8 (N, H, W[, C]) and
``targets`` int64 (N,), both numpy arrays. Other torchvision datasets raise
NotImplementedError saying what to use instead.
"""
from __future__ import annotations

import datasets as _readers
from datasets import CIFAR10, MNIST, DatasetError, FashionMNIST, VisionDataset

from ._refuse import refusals


class ImageFolder(_readers.ImageFolder):
    """``torchvision.datasets.ImageFolder(root, transform, target_transform)`` over
    :class:`datasets.ImageFolder`: class folders (or a .tar/.tar.gz/.zip of them) decoded
    once into uint8 arrays and cached. The images must share one size unless ``size=(h, w)``
    (keyword only) resizes them while decoding, in place of ``transforms.Resize``;
    ``grayscale`` as in :class:`datasets.ImageFolder`. ``samples`` and ``imgs`` are
    ``[(path relative to root, class index)]``. torchvision's ``loader``,
    ``is_valid_file`` and ``allow_empty=True`` are refused with NotImplementedError.
    """

    def __init__(self, root, transform=None, target_transform=None, loader=None, is_valid_file=None,
                 allow_empty=False, *, size=None, grayscale=None):
        refused = {"loader": (loader, "images are decoded by Pillow into uint8 arrays"),
                   "is_valid_file": (is_valid_file, "every image file under the class folders is read; "
                                                    "hidden files and non-images are skipped"),
                   "allow_empty": (allow_empty or None, "a class folder without images is not a class")}
        for name, (value, why) in refused.items():
            if value is not None:
                raise NotImplementedError(f"ImageFolder({name}=...) is not supported: {why}")
        super().__init__(root, transform, size=size, grayscale=grayscale, target_transform=target_transform)

    @property
    def imgs(self):
        return self.samples


_ONLY = "engine.vision.datasets has MNIST, FashionMNIST, CIFAR10 and ImageFolder"
_AS_FOLDER = f"{_ONLY}: put the images in class folders (root/<class>/<image>) and open them with ImageFolder"
_NOT_SUPPORTED = {name: _AS_FOLDER for name in (
    "CIFAR100", "SVHN", "STL10", "ImageNet", "EMNIST", "KMNIST", "QMNIST", "USPS", "Caltech101", "Caltech256",
    "CelebA", "Flowers102", "Food101", "OxfordIIITPet", "StanfordCars", "GTSRB", "Places365", "LSUN")}
_NOT_SUPPORTED.update({
    "DatasetFolder": f"{_ONLY}: ImageFolder reads class folders of images",
    "FakeData": "use engine.utils.data.TensorDataset(engine.randn(n, c, h, w), engine.randint(0, k, (n,)))",
    "VOCDetection": f"{_ONLY} (classification only; no detection or segmentation datasets)",
    "VOCSegmentation": f"{_ONLY} (classification only; no detection or segmentation datasets)",
    "CocoDetection": f"{_ONLY} (classification only; no detection or segmentation datasets)",
})
globals().update(refusals("datasets", _NOT_SUPPORTED))

__all__ = ["MNIST", "FashionMNIST", "CIFAR10", "ImageFolder", "VisionDataset", "DatasetError", *_NOT_SUPPORTED]
