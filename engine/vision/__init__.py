"""``engine.vision``, shaped like ``torchvision``, so ``import engine.vision as torchvision``
serves course code: ``datasets`` (MNIST, FashionMNIST, CIFAR10, ImageFolder over the
readers of the top-level :mod:`datasets` package, in torchvision's folder layouts),
``transforms`` (the batch-wise Numba transforms of :mod:`engine.data.transforms`, plus
``Lambda``) and ``utils`` (``make_grid``, ``save_image``). A torchvision name that numbacnn
does not implement raises NotImplementedError saying what to use instead.
"""
from . import datasets, transforms, utils

__all__ = ["datasets", "transforms", "utils"]

_NOT_HERE = {
    "models": "the model zoo is engine.models: engine.models.get('resnet18', in_channels=3, num_classes=10)",
    "io": "read images with PIL.Image.open and numpy.asarray, or open a folder with datasets.ImageFolder",
    "ops": "detection operators (nms, roi_align...) are not part of numbacnn",
}


def __getattr__(name):
    if name in _NOT_HERE:
        raise AttributeError(f"torchvision.{name} is not supported by numbacnn; {_NOT_HERE[name]}")
    raise AttributeError(f"module 'engine.vision' has no attribute {name!r}")
