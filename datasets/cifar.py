"""CIFAR-10 from the official python layout: ``cifar-10-batches-py/`` or its
``cifar-10-python.tar.gz``."""

import tarfile
import warnings
import zlib

import numpy as np

from . import safepickle
from .base import VisionDataset, check_labels
from .download import fetch_missing, md5_bytes, md5_file
from .errors import ChecksumWarning, DatasetError
from .root import default_root


class CIFAR10(VisionDataset):
    """CIFAR-10: 32 x 32 RGB images of 10 classes, 50,000 train / 10,000 test.

    Reads ``root/cifar-10-batches-py/`` (``data_batch_1`` .. ``data_batch_5``
    for train, ``test_batch`` for test, ``batches.meta`` for the class names:
    pickles with bytes keys) or, failing that, the same files inside
    ``root/cifar-10-python.tar.gz``. The pickles go through a restricted
    unpickler (``datasets.safepickle``), so a crafted file cannot run code.
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
                f"(data_batch_1..5, test_batch, batches.meta), in {root.resolve()}/, or pass download=True "
                f"(datasets.get('cifar10', root) also opens the JPEG archive cifar10-train-jpg.tar.gz)")
        wanted = [self.meta] + (self.train_list if train else self.test_list)
        files = _read_files(source, self.base_folder, [name for name, _ in wanted])
        if source.name == self.filename and md5_file(source) == self.tgz_md5:
            differing = []
        else:
            differing = [where for (where, blob), (_, md5) in zip(files, wanted) if md5_bytes(blob) != md5]
        classes, per_batch = _meta(*files[0])
        data, labels = zip(*(_batch(*f, len(classes), per_batch) for f in files[1:]))
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
        out = []
        for name in names:
            path = source / name
            try:
                out.append((str(path), path.read_bytes()))
            except OSError as e:
                raise DatasetError(f"{path}: cannot be read ({e.strerror or e})") from None
        return out
    try:
        with tarfile.open(source, "r:*") as tar:
            out = []
            for name in names:
                where = f"{source}:{base_folder}/{name}"
                try:
                    member = tar.extractfile(f"{base_folder}/{name}")
                except KeyError:
                    member = None
                if member is None:
                    raise DatasetError(f"{where}: missing from the archive")
                out.append((where, member.read()))
            return out
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise DatasetError(f"{source}: not a readable tar.gz archive ({e})") from None


def _unpickle(where, blob):
    try:
        entry = safepickle.loads(blob)
    except Exception as e:  # a malformed pickle can raise nearly anything; all of it means "broken file"
        raise DatasetError(f"{where}: not a valid CIFAR-10 pickle ({type(e).__name__}: {e})") from None
    if not isinstance(entry, dict):
        raise DatasetError(f"{where}: the pickle holds a {type(entry).__name__}, not a dict")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}


def _meta(where, blob):
    """(class names, images per batch or None) from ``batches.meta``."""
    meta = _unpickle(where, blob)
    names = meta.get("label_names")
    if not isinstance(names, list) or not names or not all(isinstance(n, (bytes, str)) for n in names):
        raise DatasetError(f"{where}: the pickle lacks a 'label_names' list of class names")
    per_batch = meta.get("num_cases_per_batch")
    return [n.decode("latin1") if isinstance(n, bytes) else n for n in names], \
        per_batch if isinstance(per_batch, int) else None


def _batch(where, blob, n_classes, per_batch):
    """(data uint8 (n, 3072), labels int64 (n,)) of one batch file, which
    must hold ``per_batch`` images when batches.meta says how many."""
    entry = _unpickle(where, blob)
    missing = [k for k in ("data", "labels") if k not in entry]
    if missing:
        raise DatasetError(f"{where}: the pickle lacks the key(s) {', '.join(missing)}")
    data = entry["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        what = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DatasetError(f"{where}: 'data' is {what}, not uint8 N x 3072")
    try:
        labels = np.asarray(entry["labels"])
    except ValueError:
        labels = np.asarray([], object)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DatasetError(f"{where}: 'labels' is not a list of integers")
    if len(labels) != len(data):
        raise DatasetError(f"{where}: {len(data)} images but {len(labels)} labels")
    if per_batch is not None and len(data) != per_batch:
        raise DatasetError(f"{where}: {len(data)} images where batches.meta says {per_batch} per batch")
    check_labels(labels, n_classes, where)
    return data, labels.astype(np.int64)
