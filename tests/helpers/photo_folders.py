"""Small folders of "photos" of different sizes in class folders, as a user brings them
(the dataset definition, resize-mode and dataset-creator tests)."""

from pathlib import Path

import numpy as np

from .dataset_files import encode, write_tree

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def stripes(h, w):
    """uint8 (h, w, 3): the left quarter of the columns red, the middle half green, the
    right quarter blue (a centre crop of a wide one is all green)."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 4] = RED
    img[:, w // 4: w - w // 4] = GREEN
    img[:, w - w // 4:] = BLUE
    return img


def photo_arrays(seed=0):
    """{relative path: uint8 (H, W, 3)}: classes "cat" (3 images) and "dog" (4), all of
    different sizes; cat/0.png is ``stripes(20, 40)``."""
    rng = np.random.default_rng(seed)
    files = {"cat/0.png": stripes(20, 40)}
    for rel, (h, w) in (("cat/1.png", (30, 30)), ("cat/2.png", (40, 24)), ("dog/0.png", (12, 18)),
                        ("dog/1.png", (25, 25)), ("dog/2.png", (33, 17)), ("dog/sub/3.png", (16, 50))):
        files[rel] = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return files


def write_photos(root, seed=0):
    """``photo_arrays`` written as PNGs under ``root``; returns ``root`` as a Path."""
    return write_tree(Path(root), {rel: encode(a) for rel, a in photo_arrays(seed).items()})
