"""On-disk cache of decoded datasets: ``.npz`` files (no pickle) under
``$NUMBACNN_CACHE``, else ``~/.cache/numbacnn/``, never beside the source
(which may be read-only). Keyed by the source's path, size and mtime (every
image file's, for a folder) and the decoding parameters; written atomically
(temporary file + rename). Each array is checked against the CRC-32 the
``.npz`` (a zip) records for it when the cache is opened: a cache file that
is unreadable, damaged or fails a checksum counts as absent, so the caller
rebuilds it from the source and its contents are never served."""

import hashlib
import io
import json
import math
import os
import re
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .archive import folder_images
from .files import open_regular, write_atomic

FORMAT = 1  # bump when the cached layout changes
_MAX_NPY_HEADER = 10_000 + 12  # numpy's own limit on a .npy header, plus its preamble


def cache_dir():
    env = os.environ.get("NUMBACNN_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "numbacnn"


def _signature(source):
    """What identifies this version of ``source``: size and mtime of the
    file, or of every image file under the folder (``folder_images``)."""
    st = source.stat()
    if not source.is_dir():
        return [st.st_size, st.st_mtime_ns]
    digest = hashlib.sha256()
    for name, _, s in folder_images(source):
        digest.update(f"{name}\0{s.st_size}\0{s.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cache_path(kind, source, **params):
    """The cache file for ``source`` decoded as ``kind`` with ``params``."""
    source = Path(source).resolve()
    key = json.dumps({"format": FORMAT, "kind": kind, "source": str(source), "signature": _signature(source),
                      "params": params}, sort_keys=True)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", source.name)[:60]
    return cache_dir() / f"{kind}-{stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


def load(path):
    """{name: array} from a cache file, or None if it is missing, unreadable,
    damaged or fails a checksum.

    Each ``.npy`` member is read whole into one buffer, checked against the
    zip's CRC-32 and its array viewed in place (a plain ``np.load`` of an npz copies in
    small chunks, several times slower for the 150 MB of CIFAR-10)."""
    try:
        out = {}
        f, size = open_regular(path, limit=None)  # our own file, as large as the data it caches
        with f, zipfile.ZipFile(f) as zf:
            for info in zf.infolist():
                if (info.compress_type != zipfile.ZIP_STORED or not info.filename.endswith(".npy")
                        or info.compress_size != info.file_size):
                    return None
                f.seek(info.header_offset)
                local = f.read(30)
                if local[:4] != b"PK\x03\x04":
                    return None
                name_len, extra_len = struct.unpack("<HH", local[26:30])
                start = info.header_offset + 30 + name_len + extra_len
                if start + info.file_size > size:
                    return None
                f.seek(start)
                member = np.empty(info.file_size, np.uint8)  # not zero-filled: read straight in
                if f.readinto(member) != info.file_size or zlib.crc32(member) != info.CRC:
                    return None
                head = io.BytesIO(member[:_MAX_NPY_HEADER].tobytes())
                version = np.lib.format.read_magic(head)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                shape, fortran, dtype = read_header(head)
                if dtype.hasobject or fortran or head.tell() + math.prod(shape) * dtype.itemsize != info.file_size:
                    return None
                out[info.filename[:-4]] = member[head.tell():].view(dtype).reshape(shape)
        return out
    except Exception:  # a truncated or corrupt cache is just a miss
        return None


def save(path, **arrays):
    """Write ``arrays`` to ``path`` atomically; warn (and carry on) when the
    cache folder is not writable."""
    try:
        write_atomic(path, lambda f: np.savez(f, **arrays))
    except OSError as e:
        warnings.warn(f"could not write the dataset cache {path} ({e}); the next open will decode again",
                      stacklevel=3)
