"""Writers of small dataset files in the official layouts, for the tests."""

import gzip
import io
import pickle
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

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


def py2_pickle(value):
    """``value`` pickled the way Python 2's cPickle wrote the official CIFAR
    files (protocol 2): bytes as Python 2 ``str`` (SHORT_BINSTRING /
    BINSTRING), uint8 arrays through ``numpy.core.multiarray._reconstruct``
    with their raw bytes as a ``str``. Handles dicts, lists, ints, bytes and
    1-D or 2-D uint8 arrays, as those files hold."""
    out = [b"\x80\x02"]

    def emit(v):
        if isinstance(v, bytes):
            out.append((b"U" + bytes([len(v)]) if len(v) < 256 else b"T" + struct.pack("<I", len(v))) + v)
        elif isinstance(v, int):
            out.append(b"K" + bytes([v]) if 0 <= v < 256 else b"J" + struct.pack("<i", v))
        elif isinstance(v, list):
            out.append(b"](")
            for item in v:
                emit(item)
            out.append(b"e")
        elif isinstance(v, dict):
            out.append(b"}(")
            for key, item in v.items():
                emit(key)
                emit(item)
            out.append(b"u")
        elif isinstance(v, np.ndarray) and v.dtype == np.uint8 and v.ndim in (1, 2):
            out.append(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R(K\x01")
            for d in v.shape:
                emit(d)
            out.append(b"\x85" if v.ndim == 1 else b"\x86")  # TUPLE1 / TUPLE2
            out.append(b"cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
            out.append(b"\x89")
            emit(v.tobytes())
            out.append(b"tb")
        else:
            raise TypeError(f"py2_pickle does not write {type(v).__name__}")

    emit(value)
    out.append(b".")
    return b"".join(out)


def py2_cifar_files(n_per_batch=4):
    """{name: bytes} of a small CIFAR-10 written as the official files were (``py2_pickle``)."""
    files = {f"data_batch_{k}": py2_pickle(cifar_batch(n_per_batch, k)) for k in range(1, 6)}
    files["test_batch"] = py2_pickle(cifar_batch(n_per_batch, 99))
    files["batches.meta"] = py2_pickle({b"num_cases_per_batch": n_per_batch,
                                        b"label_names": [c.encode() for c in CIFAR_CLASSES], b"num_vis": 3072})
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


# -- image folders and archives ------------------------------------------------------

def encode(array, fmt="PNG"):
    """The bytes of ``array`` saved as an image in format ``fmt``."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt)
    return buf.getvalue()


def png_tree(seed=0):
    """({'cat/0.png': bytes, ...}, data (5, 8, 8, 3), targets (5,)): a 2-class folder of PNGs."""
    rng = np.random.default_rng(seed)
    arrays = {f"{cls}/{k}.png": rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
              for cls, n in (("cat", 3), ("dog", 2)) for k in range(n)}
    names = sorted(arrays)
    return ({n: encode(a) for n, a in arrays.items()}, np.stack([arrays[n] for n in names]),
            np.array([n.startswith("dog") for n in names], np.int64))


def write_noise_folder(root, per_class, rng, classes=("a", "b")):
    """Class folders ``root/<class>/<i>.png`` of ``per_class`` random 8x8 RGB images each,
    drawn from ``rng`` class by class; returns ``root``."""
    for c in classes:
        (Path(root) / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(Path(root) / c / f"{i}.png")
    return Path(root)


def write_tree(root, files):
    """Write {relative path: bytes} under ``root``; returns ``root``."""
    for rel, blob in files.items():
        path = Path(root) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)
    return Path(root)


def tar_bytes(files, prefix="", gz=False):
    """A .tar (or .tar.gz) of {name: bytes}, each name under ``prefix``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tar:
        for name, blob in files.items():
            info = tarfile.TarInfo(prefix + name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return buf.getvalue()


def zip_bytes(files, prefix=""):
    """A deflated .zip of {name: bytes}, each name under ``prefix``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, blob in files.items():
            zf.writestr(prefix + name, blob)
    return buf.getvalue()


def damaged(blob, kind, where, bit=0, junk=b""):
    """``blob`` with one bit flipped (kind "flip": at byte ``where`` of [0, 1)), cut short
    ("truncate": to that fraction) or replaced by ``junk`` ("random")."""
    at = int(where * len(blob))
    if kind == "flip":
        out = bytearray(blob)
        out[at] ^= 1 << bit
        return bytes(out)
    return blob[:at] if kind == "truncate" else junk


# -- bombs ------------------------------------------------------------------------

def gzip_of_zeros(megabytes):
    """A gzip stream (concatenated members) inflating to ``megabytes`` MiB of zeros; ~1 KB per MiB."""
    return gzip.compress(bytes(1 << 20)) * megabytes


def zip_bomb(name, megabytes):
    """A .zip whose member ``name`` inflates to ``megabytes`` MiB of zeros, honestly declared; ~1 KB per MiB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(1 << 20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    data, crc = block * megabytes + b"\x03\x00", 0  # identical blocks after full flushes, an empty final one
    for _ in range(megabytes):
        crc = zlib.crc32(bytes(1 << 20), crc)
    name, size = name.encode(), megabytes << 20
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(data), size, len(name), 0) + name
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(data), size, len(name),
                          0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    return local + data + central + end


def png_declaring(width, height):
    """A PNG whose header declares ``width`` x ``height`` grayscale pixels, with a few bytes of data."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(1000))) + chunk(b"IEND", b""))


def tar_gz_bomb(name, megabytes):
    """A .tar.gz (concatenated gzip members: one stream) of one member ``name`` of ``megabytes`` MiB of zeros."""
    header = tarfile.TarInfo(name)
    header.size = megabytes << 20
    return gzip.compress(header.tobuf()) + gzip_of_zeros(megabytes) + gzip.compress(bytes(10240))


# -- crafted pickles ------------------------------------------------------------------

def _batch_around(data_ops, labels_ops=b"](K\x00K\x01e"):
    """A protocol-2 batch dict whose 'data' and 'labels' values are the pickle opcodes given."""
    return b"\x80\x02}(C\x04data" + data_ops + b"C\x06labels" + labels_ops + b"u."


def _array_ops(dtype_ops, shape_ops, raw_ops):
    """The opcodes of numpy's protocol-2 recipe: _reconstruct(ndarray, (0,), b'b') then a BUILD."""
    return (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R(K\x01" + shape_ops
            + dtype_ops + b"\x89" + raw_ops + b"tb")


def _dtype_ops(code, flags):
    return (b"cnumpy\ndtype\nX\x02\x00\x00\x00" + code + b"K\x00K\x01\x87R(K\x03X\x01\x00\x00\x00|NNN"
            b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK" + bytes([flags]) + b"tb")


def object_array_pickle():
    """A batch whose 'data' is an object array holding two forged object pointers."""
    raw = struct.pack("<QQ", 0x4141414141414141, 0x10)
    return _batch_around(_array_ops(_dtype_ops(b"O8", 63), b"K\x02\x85", b"C\x10" + raw))


def forged_flags_pickle():
    """A batch whose 'data' dtype is uint8 given an object dtype's flags by a BUILD."""
    return _batch_around(_array_ops(_dtype_ops(b"u1", 63), b"K\x02M\x00\x0c\x86", b"B\x00\x18\x00\x00" + b"A" * 6144))


def unfinished_array_pickle():
    """77 bytes: 'data' is _reconstruct(ndarray, (300000, 3072), b'B') and never given its state
    (numpy's own _reconstruct allocates the 921 MB at once)."""
    return _batch_around(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nJ\xe0\x93\x04\x00M\x00\x0c"
                         b"\x86C\x01B\x87R", b"]")


def labels_pickle(labels_ops):
    """A batch of 3 zero images whose 'labels' the pickle opcodes ``labels_ops`` build."""
    body = py2_pickle({b"data": np.zeros((3, 3072), np.uint8)})[2:-2]  # '}(' and the data entry
    return b"\x80\x02" + body + b"U\x06labels" + labels_ops + b"u."


def nested_labels_pickle():
    """A batch whose labels are 1000 references to 1000 references to a list of 1000 zeros:
    10**9 labels from 6 KB of opcodes (np.asarray of them asks for 8 GB)."""
    return labels_pickle(b"](" + b"K\x00" * 1000 + b"eq\x000" + b"](" + b"h\x00" * 1000 + b"eq\x010"
                         + b"](" + b"h\x01" * 1000 + b"e")
