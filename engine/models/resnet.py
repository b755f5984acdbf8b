"""ResNets for CIFAR (He et al. 2016): basic blocks y = ReLU(F(x) + shortcut(x)) with
F = conv3x3-BN-ReLU-conv3x3-BN, a 1x1 conv + BN projection where the shape changes,
convolutions without bias, global average pooling and one Linear head."""
from __future__ import annotations

from ..nn import AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, ReLU, Residual, Sequential


def basic_block(in_c: int, out_c: int, stride: int) -> Sequential:
    body = Sequential(Conv2d(in_c, out_c, 3, stride, 1, bias=False), BatchNorm2d(out_c), ReLU(),
                      Conv2d(out_c, out_c, 3, 1, 1, bias=False), BatchNorm2d(out_c))
    shortcut = None
    if stride != 1 or in_c != out_c:
        shortcut = Sequential(Conv2d(in_c, out_c, 1, stride, bias=False), BatchNorm2d(out_c))
    return Sequential(Residual(body, shortcut), ReLU())


def _resnet(widths, blocks, in_channels, num_classes):
    layers = [Conv2d(in_channels, widths[0], 3, 1, 1, bias=False), BatchNorm2d(widths[0]), ReLU()]
    c = widths[0]
    for i, (w, n) in enumerate(zip(widths, blocks)):
        for j in range(n):
            layers.append(basic_block(c, w, 2 if (i > 0 and j == 0) else 1))
            c = w
    return Sequential(*layers, AdaptiveAvgPool2d(1), Flatten(), Linear(c, num_classes))


def resnet20(in_channels=3, num_classes=10, input_size=(32, 32)):
    """ResNet-20: 3 stages of 3 blocks, 16/32/64 channels (0.27 M parameters)."""
    return _resnet([16, 32, 64], [3, 3, 3], in_channels, num_classes)


def resnet18(in_channels=3, num_classes=10, input_size=(32, 32)):
    """ResNet-18 for CIFAR: 4 stages of 2 blocks, 64/128/256/512 channels."""
    return _resnet([64, 128, 256, 512], [2, 2, 2, 2], in_channels, num_classes)
