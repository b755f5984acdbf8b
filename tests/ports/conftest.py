"""Data folders in torchvision's layouts for the ported scripts, built once per session:

- ``cifar/data/cifar-10-batches-py/``: the official python layout (``data_batch_1..5``,
  ``test_batch``, ``batches.meta``, written as Python 2's cPickle wrote them) holding
  ``CIFAR_TRAIN_PER_CLASS`` + ``CIFAR_TEST_PER_CLASS`` real CIFAR-10 images per class, taken
  from the JPEG archive in ../shared/data;
- ``mnist/data/MNIST/raw/``: the four official MNIST IDX files, gzipped (links) and extracted,
  as torchvision leaves them (torchvision looks for the extracted ones before downloading).
"""
import gzip
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import dataset_files

CIFAR_TRAIN_PER_CLASS = 50   # 5 batch files of 100 images
CIFAR_TEST_PER_CLASS = 10    # a test_batch of 100 images
MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
               "t10k-labels-idx1-ubyte.gz")


def _jpeg_images(archive: Path, classes, per_class: int) -> dict:
    """{class: [uint8 (32, 32, 3)] * per_class}: the first images of each class folder
    (``train/<class>/NNNN.jpg``) of the CIFAR-10 JPEG archive, read as a stream."""
    found = {c: [] for c in classes}
    with tarfile.open(archive, "r|gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 3 and len(found.get(parts[1], ())) < per_class:
                with Image.open(io.BytesIO(tar.extractfile(member).read())) as img:
                    found[parts[1]].append(np.asarray(img.convert("RGB")))
                if all(len(v) == per_class for v in found.values()):
                    return found
    raise RuntimeError(f"{archive} holds fewer than {per_class} images of some class")


def _batch(images, labels, name: str) -> dict:
    """One official batch dict: planar uint8 (n, 3072) data, int labels, bytes keys."""
    data = np.stack(images).transpose(0, 3, 1, 2).reshape(len(images), -1)
    return {b"batch_label": name.encode(), b"labels": [int(v) for v in labels], b"data": np.ascontiguousarray(data),
            b"filenames": [b"image_%04d.png" % i for i in range(len(images))]}


@pytest.fixture(scope="session")
def cifar_root(shared_data, tmp_path_factory) -> Path:
    """A folder whose ``data/cifar-10-batches-py/`` holds 500 training and 100 test images."""
    classes = dataset_files.CIFAR_CLASSES
    per_class = CIFAR_TRAIN_PER_CLASS + CIFAR_TEST_PER_CLASS
    found = _jpeg_images(shared_data / "cifar10-train-jpg.tar.gz", classes, per_class)
    # sample k of class c at position 10 k + c: every batch file mixes the classes
    train = [(found[c][k], i) for k in range(CIFAR_TRAIN_PER_CLASS) for i, c in enumerate(classes)]
    test = [(found[c][k], i) for k in range(CIFAR_TRAIN_PER_CLASS, per_class) for i, c in enumerate(classes)]
    n = len(test)
    pickle = dataset_files.py2_pickle
    blobs = {f"data_batch_{b + 1}": pickle(_batch(*zip(*train[b * n:(b + 1) * n]), f"training batch {b + 1} of 5"))
             for b in range(5)}
    blobs["test_batch"] = pickle(_batch(*zip(*test), "testing batch 1 of 1"))
    blobs["batches.meta"] = pickle({b"num_cases_per_batch": n, b"num_vis": 3072,
                                    b"label_names": [c.encode() for c in classes]})
    root = tmp_path_factory.mktemp("cifar")
    dataset_files.write_cifar_folder(root / "data", blobs)
    return root


@pytest.fixture(scope="session")
def mnist_root(shared_data, tmp_path_factory) -> Path:
    """A folder whose ``data/MNIST/raw/`` holds the official MNIST files, .gz and extracted."""
    root = tmp_path_factory.mktemp("mnist")
    raw = root / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_FILES:
        source = shared_data / "mnist" / name
        (raw / name).symlink_to(source)
        (raw / name[:-len(".gz")]).write_bytes(gzip.decompress(source.read_bytes()))
    return root
