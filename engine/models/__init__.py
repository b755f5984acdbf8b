"""The model zoo: ``get(name, in_channels=3, num_classes=10)`` and ``names()``.

Every model is a plain composition of engine.nn layers, so it prints, summarises,
serialises to a spec and trains like any hand-built one.
"""
from __future__ import annotations

from ..nn import Module
from . import classic, googlenet, resnet, vgg

_BUILDERS = {
    "mnist_cnn": classic.mnist_cnn,
    "cifar_cnn": classic.cifar_cnn,
    "lenet5": classic.lenet5,
    "alexnet": classic.alexnet,
    "zfnet": classic.zfnet,
    "vgg11": vgg.vgg11,
    "vgg16": vgg.vgg16,
    "googlenet": googlenet.googlenet,
    "resnet20": resnet.resnet20,
    "resnet18": resnet.resnet18,
}

# The input each model is designed for (C, H, W): MNIST-sized or CIFAR-sized.
DEFAULT_INPUT = {name: (1, 28, 28) if name in ("mnist_cnn", "lenet5") else (3, 32, 32) for name in _BUILDERS}


def names() -> list[str]:
    return list(_BUILDERS)


def get(name: str, in_channels: int | None = None, num_classes: int = 10, input_size=None) -> Module:
    """Builds zoo model ``name`` for inputs of ``in_channels`` x ``input_size`` (H, W or one
    int; defaults from DEFAULT_INPUT) and ``num_classes`` outputs."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; the zoo has: {', '.join(_BUILDERS)}")
    c, h, w = DEFAULT_INPUT[name]
    in_channels = c if in_channels is None else in_channels
    if input_size is not None:
        h, w = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    return _BUILDERS[name](in_channels=in_channels, num_classes=num_classes, input_size=(h, w))
