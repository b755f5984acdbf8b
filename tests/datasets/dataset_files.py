"""Writers of small dataset files in the official layouts, for the tests."""

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def idx_bytes(array, type_code=0x08):
    array = np.asarray(array, np.uint8)
    return bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_bytes(path, raw, gz=False):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        raw = gzip.compress(raw)
    path.write_bytes(raw)
    return path


def mnist_arrays(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


def write_mnist(folder, n_train=12, n_test=5, gz=True):
    """Valid train and t10k IDX files in ``folder``; returns {split: (images, labels)}."""
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images, labels = mnist_arrays(n, seed=n)
        write_bytes(Path(folder) / f"{prefix}-images-idx3-ubyte", idx_bytes(images), gz)
        write_bytes(Path(folder) / f"{prefix}-labels-idx1-ubyte", idx_bytes(labels), gz)
        out[prefix] = (images, labels)
    return out


def cifar_batch(n, seed, label_key=b"labels", n_classes=10):
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"training batch", label_key: rng.integers(0, n_classes, n).tolist(),
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [b"img_%d.png" % i for i in range(n)]}


def cifar_files(n_per_batch=4, protocol=2):
    """{name: pickle bytes} of a small official-layout CIFAR-10."""
    files = {f"data_batch_{k}": pickle.dumps(cifar_batch(n_per_batch, k), protocol=protocol) for k in range(1, 6)}
    files["test_batch"] = pickle.dumps(cifar_batch(n_per_batch, 99), protocol=protocol)
    files["batches.meta"] = pickle.dumps({b"num_cases_per_batch": n_per_batch,
                                          b"label_names": [c.encode() for c in CIFAR_CLASSES],
                                          b"num_vis": 3072}, protocol=protocol)
    return files


def write_cifar_folder(root, files):
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for name, blob in files.items():
        (folder / name).write_bytes(blob)
    return folder


def write_cifar_tar(root, files):
    path = Path(root) / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in files.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def expected_cifar(files, names):
    """(data (N, 32, 32, 3), labels) the batches ``names`` hold."""
    batches = [pickle.loads(files[n], encoding="bytes") for n in names]
    data = np.concatenate([b[b"data"] for b in batches]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return data, np.concatenate([b[b"labels"] for b in batches])
