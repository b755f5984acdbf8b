"""The course's small nets and the 2012-13 ImageNet winners, sized for 28x28 / 32x32 inputs."""
from __future__ import annotations

from ..nn import (AvgPool2d, Conv2d, Dropout, Flatten, Linear, LocalResponseNorm, MaxPool2d, ReLU,
                  Sequential, Sigmoid)


def _head_size(features: Sequential, in_channels: int, input_size) -> int:
    """Number of features the Flatten after ``features`` produces."""
    c, h, w = features.output_shape((in_channels,) + tuple(input_size))
    return c * h * w


def mnist_cnn(in_channels=1, num_classes=10, input_size=(28, 28)):
    """The course's MNIST net: conv5x5(6)-ReLU-pool2 x2, FC 50, ReLU, FC classes."""
    f = Sequential(Conv2d(in_channels, 6, 5), ReLU(), MaxPool2d(2), Conv2d(6, 6, 5), ReLU(), MaxPool2d(2))
    return Sequential(*f, Flatten(), Linear(_head_size(f, in_channels, input_size), 50), ReLU(),
                      Linear(50, num_classes))


def cifar_cnn(in_channels=3, num_classes=10, input_size=(32, 32)):
    """The course's CIFAR-10 net: conv5x5(6)-pool-conv5x5(16)-pool, FC 120, FC 84, FC classes."""
    f = Sequential(Conv2d(in_channels, 6, 5), ReLU(), MaxPool2d(2), Conv2d(6, 16, 5), ReLU(), MaxPool2d(2))
    return Sequential(*f, Flatten(), Linear(_head_size(f, in_channels, input_size), 120), ReLU(),
                      Linear(120, 84), ReLU(), Linear(84, num_classes))


def lenet5(in_channels=1, num_classes=10, input_size=(28, 28)):
    """LeCun's LeNet-5: sigmoid units and average pooling; 28x28 inputs are padded to 32x32."""
    pad = 2 if tuple(input_size) == (28, 28) else 0
    f = Sequential(Conv2d(in_channels, 6, 5, padding=pad), Sigmoid(), AvgPool2d(2),
                   Conv2d(6, 16, 5), Sigmoid(), AvgPool2d(2))
    return Sequential(*f, Flatten(), Linear(_head_size(f, in_channels, input_size), 120), Sigmoid(),
                      Linear(120, 84), Sigmoid(), Linear(84, num_classes))


def alexnet(in_channels=3, num_classes=10, input_size=(32, 32)):
    """AlexNet for 32x32: five convs (5x5, 5x5, 3x3 x3) with ReLU, LRN after the first two,
    overlapping 3x3/2 max pooling, and a dropout-regularised classifier."""
    f = Sequential(
        Conv2d(in_channels, 64, 5, padding=2), ReLU(), LocalResponseNorm(5), MaxPool2d(3, 2),
        Conv2d(64, 192, 5, padding=2), ReLU(), LocalResponseNorm(5), MaxPool2d(3, 2),
        Conv2d(192, 384, 3, padding=1), ReLU(),
        Conv2d(384, 256, 3, padding=1), ReLU(),
        Conv2d(256, 256, 3, padding=1), ReLU(), MaxPool2d(3, 2))
    return Sequential(*f, Flatten(), Dropout(0.5), Linear(_head_size(f, in_channels, input_size), 1024), ReLU(),
                      Dropout(0.5), Linear(1024, 1024), ReLU(), Linear(1024, num_classes))


def zfnet(in_channels=3, num_classes=10, input_size=(32, 32)):
    """ZFNet for 32x32: AlexNet with a smaller first filter (7x7, stride 2 instead of 11x11/4),
    a strided 5x5 second conv, LRN and dropout."""
    f = Sequential(
        Conv2d(in_channels, 96, 7, stride=2, padding=3), ReLU(), LocalResponseNorm(5), MaxPool2d(3, 2, padding=1),
        Conv2d(96, 256, 5, stride=1, padding=2), ReLU(), LocalResponseNorm(5), MaxPool2d(3, 2, padding=1),
        Conv2d(256, 384, 3, padding=1), ReLU(),
        Conv2d(384, 384, 3, padding=1), ReLU(),
        Conv2d(384, 256, 3, padding=1), ReLU(), MaxPool2d(3, 2, padding=1))
    return Sequential(*f, Flatten(), Dropout(0.5), Linear(_head_size(f, in_channels, input_size), 1024), ReLU(),
                      Dropout(0.5), Linear(1024, 1024), ReLU(), Linear(1024, num_classes))
