"""VGG for CIFAR: 3x3 conv (with bias) + BatchNorm + ReLU stacks, 2x2 max pools, a 512 -> classes head."""
from __future__ import annotations

from ..nn import BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential

CONFIGS = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}


def _vgg(cfg, in_channels, num_classes, input_size):
    layers, c = [], in_channels
    for v in cfg:
        if v == "M":
            layers.append(MaxPool2d(2))
        else:
            layers += [Conv2d(c, v, 3, padding=1), BatchNorm2d(v), ReLU()]
            c = v
    f = Sequential(*layers)
    oc, h, w = f.output_shape((in_channels,) + tuple(input_size))
    return Sequential(*f, Flatten(), Linear(oc * h * w, num_classes))


def vgg11(in_channels=3, num_classes=10, input_size=(32, 32)):
    return _vgg(CONFIGS["vgg11"], in_channels, num_classes, input_size)


def vgg16(in_channels=3, num_classes=10, input_size=(32, 32)):
    return _vgg(CONFIGS["vgg16"], in_channels, num_classes, input_size)
