"""CIFAR-10 from the official python layout: ``cifar-10-batches-py/`` or its
``cifar-10-python.tar.gz``."""

import pickle
import warnings

import numpy as np

from . import safepickle
from .archive import open_tar, read_member
from .base import VisionDataset, check_labels
from .download import fetch_missing, md5_bytes, md5_file
from .errors import ChecksumWarning, DatasetError
from .files import read_file
from .root import default_root

N_CLASSES = 10
BATCH_ROWS = 10_000  # images in an official batch file, the most one may hold
IMAGE_BYTES = 3 * 32 * 32
# a batch file may be at most four times its array (protocol 0 writes a byte as up to 4 characters) + 1 MiB
MAX_PICKLE_BYTES = 4 * BATCH_ROWS * IMAGE_BYTES + (1 << 20)


class CIFAR10(VisionDataset):
    """CIFAR-10: 32 x 32 RGB images of 10 classes, 50,000 train / 10,000 test.

    Reads ``root/cifar-10-batches-py/`` (``data_batch_1`` .. ``data_batch_5``
    for train, ``test_batch`` for test, ``batches.meta`` for the class names:
    pickles with bytes keys) or, failing that, the same files inside
    ``root/cifar-10-python.tar.gz``. The pickles go through a restricted
    unpickler (``datasets.safepickle``), so a crafted file cannot run code
    or build anything but plain data. A batch holds ``data``, a uint8
    (n, 3072) array with n <= 10,000 (n = ``num_cases_per_batch`` of
    batches.meta where it says), and ``labels``, a list of n ints in 0..9;
    batches.meta names exactly 10 classes.
    data: uint8 (N, 32, 32, 3); targets: int64 (N,).

    download=True fetches ``cifar-10-python.tar.gz`` into ``root`` (read in
    place, not extracted). Files that differ from the official MD5s load with
    a ChecksumWarning; broken ones raise DatasetError.
    """

    base_folder = "cifar-10-batches-py"
    filename = "cifar-10-python.tar.gz"
    mirrors = ["https://www.cs.toronto.edu/~kriz/"]
    tgz_md5 = "c58f30108f718f92721af3b95e74349a"
    train_list = [
        ("data_batch_1", "c99cafc152244af753f735de768cd75f"),
        ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
        ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
        ("data_batch_4", "634d18415352ddfa80567beed471001a"),
        ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
    ]
    test_list = [("test_batch", "40351d587109b95175f43aff81a1287e")]
    meta = ("batches.meta", "5ff9c542aee3614f3951f8cda6e48888")

    def __init__(self, root=None, train=True, transform=None, target_transform=None, download=False):
        root = default_root(root)
        source = self.find(root)
        if source is None and download:
            fetch_missing("CIFAR-10", [(self.filename, self.tgz_md5)], self.mirrors, root)
            source = root / self.filename
        if source is None:
            raise DatasetError(
                f"CIFAR-10 not found: place {self.filename}, or the folder {self.base_folder}/ extracted from it "
                f"(data_batch_1..5, test_batch, batches.meta), in {root.resolve()}/, or download it (the studio's "
                f"Download button, --download, download=True in Python) "
                f"(datasets.get('cifar10', root) also opens the JPEG archive cifar10-train-jpg.tar.gz)")
        wanted = [self.meta] + (self.train_list if train else self.test_list)
        files = _read_files(source, self.base_folder, [name for name, _ in wanted])
        if source.name == self.filename and md5_file(source) == self.tgz_md5:
            differing = []
        else:
            differing = [where for (where, blob), (_, md5) in zip(files, wanted) if md5_bytes(blob) != md5]
        classes, per_batch = _meta(*files[0])
        data, labels = zip(*(_batch(*f, len(classes), per_batch, files[0][0]) for f in files[1:]))
        if differing:
            warnings.warn(f"{', '.join(differing)} differ from the official CIFAR-10 files (MD5); loading them anyway",
                          ChecksumWarning, stacklevel=2)
        data = np.concatenate(data).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
        split = "training" if train else "test"
        super().__init__(data, np.concatenate(labels), classes, transform, target_transform, root,
                         split_note=f"official {split} split, {len(data):,} images")
        self.train = train

    @classmethod
    def find(cls, root):
        """The official-layout source under ``root``: the extracted folder,
        else the archive, else None."""
        root = default_root(root)
        if (root / cls.base_folder).is_dir():
            return root / cls.base_folder
        if (root / cls.filename).is_file():
            return root / cls.filename
        return None


def _read_files(source, base_folder, names):
    """[(display path, bytes)] of ``names`` from a folder or the tar.gz."""
    if source.is_dir():
        return [(str(source / name), read_file(source / name, MAX_PICKLE_BYTES)) for name in names]
    tar, members = open_tar(read_file(source), source)
    with tar:
        found = {m.name: m for m in members if m.isfile()}
        out = []
        for name in names:
            where = f"{source}:{base_folder}/{name}"
            member = found.get(f"{base_folder}/{name}")
            if member is None:
                raise DatasetError(f"{where}: missing from the archive")
            if member.size > MAX_PICKLE_BYTES:
                raise DatasetError(f"{where}: {member.size:,} bytes, more than a CIFAR-10 batch file can be")
            out.append((where, read_member(tar, member, source)))
        return out


def _unpickle(where, blob):
    try:
        entry = safepickle.loads(blob)
    except pickle.UnpicklingError as e:
        raise DatasetError(f"{where}: not a valid CIFAR-10 pickle ({e})") from None
    if not isinstance(entry, dict):
        raise DatasetError(f"{where}: the pickle holds a {type(entry).__name__}, not a dict")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}


def _meta(where, blob):
    """(class names, images per batch or None) from ``batches.meta``."""
    meta = _unpickle(where, blob)
    names = meta.get("label_names")
    if not isinstance(names, list) or not names or not all(isinstance(n, (bytes, str)) for n in names):
        raise DatasetError(f"{where}: the pickle lacks a 'label_names' list of class names")
    if len(names) != N_CLASSES:
        raise DatasetError(f"{where}: 'label_names' lists {len(names)} classes where CIFAR-10 has {N_CLASSES}")
    per_batch = meta.get("num_cases_per_batch")
    if per_batch is not None and not (type(per_batch) is int and 1 <= per_batch <= BATCH_ROWS):
        raise DatasetError(f"{where}: 'num_cases_per_batch' is not a count of images from 1 to {BATCH_ROWS:,}")
    return [n.decode("latin1") if isinstance(n, bytes) else n for n in names], per_batch


def _batch(where, blob, n_classes, per_batch, meta_where):
    """(data uint8 (n, 3072), labels int64 (n,)) of one batch file, which
    must hold ``per_batch`` images when batches.meta (at ``meta_where``) says how many."""
    entry = _unpickle(where, blob)
    missing = [k for k in ("data", "labels") if k not in entry]
    if missing:
        raise DatasetError(f"{where}: the pickle lacks the key(s) {', '.join(missing)}")
    data, labels = entry["data"], entry["labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != IMAGE_BYTES:
        what = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DatasetError(f"{where}: 'data' is {what}, not uint8 N x {IMAGE_BYTES}")
    if len(data) > BATCH_ROWS:
        raise DatasetError(f"{where}: {len(data):,} images, more than the {BATCH_ROWS:,} of a CIFAR-10 batch")
    if isinstance(labels, np.ndarray):
        integers = labels.ndim == 1 and labels.dtype.kind in "iu"
    else:  # checked item by item: np.asarray of a nested list could ask for gigabytes
        integers = isinstance(labels, list) and all(type(x) is int for x in labels)
    if not integers:
        raise DatasetError(f"{where}: 'labels' is not a list of integers")
    if len(labels) != len(data):
        raise DatasetError(f"{where}: {len(data)} images but {len(labels)} labels")
    if per_batch is not None and len(data) != per_batch:
        raise DatasetError(f"{where}: {len(data)} images where {meta_where} says {per_batch} per batch")
    check_labels(labels, n_classes, where)
    return data, np.asarray(labels, dtype=np.int64)
