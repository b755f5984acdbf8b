"""GoogLeNet (Inception v1) for 32x32 inputs: Inception blocks of four branches joined on
channels — 1x1; 1x1 reduction then 3x3; 1x1 reduction then 5x5; 3x3 max pool then 1x1 —
each conv followed by BatchNorm and ReLU."""
from __future__ import annotations

from ..nn import (AdaptiveAvgPool2d, BatchNorm2d, Concat, Conv2d, Dropout, Flatten, Linear, MaxPool2d,
                  ReLU, Sequential)


def _conv(i, o, k):
    return [Conv2d(i, o, k, padding=k // 2), BatchNorm2d(o), ReLU()]


def inception(in_c, n1, r3, n3, r5, n5, pool_proj) -> Concat:
    """Output channels: n1 + n3 + n5 + pool_proj."""
    return Concat(
        Sequential(*_conv(in_c, n1, 1)),
        Sequential(*_conv(in_c, r3, 1), *_conv(r3, n3, 3)),
        Sequential(*_conv(in_c, r5, 1), *_conv(r5, n5, 5)),
        Sequential(MaxPool2d(3, 1, padding=1), *_conv(in_c, pool_proj, 1)),
    )


def googlenet(in_channels=3, num_classes=10, input_size=(32, 32)):
    return Sequential(
        *_conv(in_channels, 192, 3),
        inception(192, 64, 96, 128, 16, 32, 32),
        inception(256, 128, 128, 192, 32, 96, 64),
        MaxPool2d(3, 2, padding=1),
        inception(480, 192, 96, 208, 16, 48, 64),
        inception(512, 160, 112, 224, 24, 64, 64),
        inception(512, 128, 128, 256, 24, 64, 64),
        inception(512, 112, 144, 288, 32, 64, 64),
        inception(528, 256, 160, 320, 32, 128, 128),
        MaxPool2d(3, 2, padding=1),
        inception(832, 256, 160, 320, 32, 128, 128),
        inception(832, 384, 192, 384, 48, 128, 128),
        AdaptiveAvgPool2d(1), Flatten(), Dropout(0.4), Linear(1024, num_classes),
    )
