"""What every dataset here is: uint8 images and int64 targets held in memory."""

import copy

import numpy as np

from .errors import DatasetError


class VisionDataset:
    """Images in memory, torchvision-style.

    data: uint8 (N, H, W) for grayscale or (N, H, W, C); targets: int64 (N,);
    classes: the N_classes class names, ``targets`` index them.
    ``dataset[i]`` is ``(image, target)``: ``image = transform(data[i])`` (a
    numpy uint8 (H, W[, C]) array, not a PIL image, when there is no
    transform) and ``target = target_transform(int(targets[i]))``.
    split_note: which part of the source this is, in words.
    """

    def __init__(self, data, targets, classes, transform=None, target_transform=None, root=None, split_note=""):
        self.data = data
        self.targets = np.asarray(targets, dtype=np.int64)
        self.classes = list(classes)
        self.transform = transform
        self.target_transform = target_transform
        self.root = root
        self.split_note = split_note

    @property
    def class_to_idx(self):
        return {name: i for i, name in enumerate(self.classes)}

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        img, target = self.data[index], int(self.targets[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def select(self, indices, split_note):
        """A copy holding only the samples ``indices`` (data copied), described by ``split_note``."""
        indices = np.asarray(indices, dtype=np.int64)
        part = copy.copy(self)
        part.data = self.data[indices]
        part.targets = self.targets[indices]
        part.split_note = split_note
        return part

    def __repr__(self):
        lines = [f"Dataset {type(self).__name__}", f"    Number of datapoints: {len(self)}",
                 f"    Root location: {self.root}"]
        if self.split_note:
            lines.append(f"    Split: {self.split_note}")
        if self.transform is not None:
            lines.append(f"    Transform: {self.transform!r}".replace("\n", "\n    "))
        return "\n".join(lines)


def check_labels(labels, n_classes, path):
    """Raise DatasetError unless every label is in ``[0, n_classes)``."""
    labels = np.asarray(labels)
    bad = np.flatnonzero((labels < 0) | (labels >= n_classes))
    if len(bad):
        i = bad[0]
        raise DatasetError(f"{path}: label {labels[i]} at index {i} is out of range 0..{n_classes - 1}")
