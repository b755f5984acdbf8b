"""MNIST and Fashion-MNIST from the four official IDX files (gzip or not)."""

import warnings
from pathlib import Path

from .base import VisionDataset, check_labels
from .download import fetch_missing, md5_bytes
from .errors import ChecksumWarning, DatasetError
from .idx import read_idx
from .root import default_root


class MNIST(VisionDataset):
    """MNIST handwritten digits: 60,000 training and 10,000 test images.

    Reads ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte`` (train) or
    ``t10k-*`` (test), each gzipped or not, from ``root/mnist/`` (or
    torchvision's ``root/MNIST/raw/``). root: see ``datasets.default_root``.
    data: uint8 (N, 28, 28); targets: int64 (N,) in 0..9.

    download=True fetches the missing files of the split from ``mirrors``
    into ``root/mnist/``. A file whose MD5 (of the gzip file, or of its
    uncompressed bytes) is not the official one loads with a ChecksumWarning;
    a structurally broken one raises DatasetError, as do images that are not
    28 x 28 and counts that disagree, checked on the headers before the data
    is inflated.
    """

    folders = ("mnist", "MNIST/raw")
    system_dirs = ()
    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ]
    raw_md5 = {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    }
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root=None, train=True, transform=None, target_transform=None, download=False):
        root = default_root(root)
        prefix = "train" if train else "t10k"
        stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
        candidates = [root / f for f in self.folders] + [Path(d) for d in self.system_dirs]
        folder = next((d for d in candidates if all(_locate(d, s) for s in stems)), None)
        name, split = type(self).__name__, "training" if train else "test"
        if folder is None and download:
            folder = candidates[0]
            fetch_missing(name, [r for r in self.resources if r[0].startswith(prefix)], self.mirrors, folder)
        if folder is None:
            raise DatasetError(
                f"{name} {split} files not found: place {stems[0]}.gz and {stems[1]}.gz (gzip or not) in "
                f"{candidates[0].resolve()}/ (also looked in {', '.join(str(d) for d in candidates[1:])}), "
                f"or download them (the studio's Download button, --download, download=True in Python)")
        images_path, labels_path = _locate(folder, stems[0]), _locate(folder, stems[1])
        labels, labels_ok = self._read(labels_path, stems[1], 1)

        def check_images(dims):
            if dims[1:] != (28, 28):
                raise DatasetError(f"{images_path}: images are {dims[1]} x {dims[2]}, not the 28 x 28 of {name}")
            if dims[0] != len(labels):
                raise DatasetError(f"{images_path} holds {dims[0]} images but {labels_path} "
                                   f"holds {len(labels)} labels")

        images, images_ok = self._read(images_path, stems[0], 3, check_images)
        check_labels(labels, len(self.classes), labels_path)
        differing = [str(p) for p, ok in ((images_path, images_ok), (labels_path, labels_ok)) if not ok]
        if differing:
            warnings.warn(f"{' and '.join(differing)} differ from the official {name} files (MD5); "
                          f"loading them anyway", ChecksumWarning, stacklevel=2)
        super().__init__(images, labels, self.classes, transform, target_transform, root,
                         split_note=f"official {split} split, {len(images):,} images")
        self.train = train

    def _read(self, path, stem, ndim, check_dims=None):
        """(array, whether the file is the official one); see ``idx.read_idx``."""
        array, blob, raw = read_idx(path, ndim, check_dims)
        official_gz = dict(self.resources).get(stem + ".gz")
        ok = (blob is not raw and md5_bytes(blob) == official_gz) or md5_bytes(raw) == self.raw_md5.get(stem)
        return array, ok


def _locate(folder, stem):
    """``folder/stem`` or ``folder/stem.gz``, whichever exists, else None."""
    for path in (folder / stem, folder / (stem + ".gz")):
        if path.is_file():
            return path
    return None


class FashionMNIST(MNIST):
    """Fashion-MNIST (Zalando): 28 x 28 grayscale clothing images, same
    format and sizes as MNIST. Read from ``root/fashion-mnist/`` (or
    torchvision's ``root/FashionMNIST/raw/``), else from
    ``/usr/share/datasets/fashion-mnist/`` where the Debian package
    ``dataset-fashion-mnist`` installs it; downloads go to ``root/fashion-mnist/``."""

    folders = ("fashion-mnist", "FashionMNIST/raw")
    system_dirs = ("/usr/share/datasets/fashion-mnist",)
    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ]
    raw_md5 = {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    }
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
