"""On-disk cache of decoded datasets: ``.npz`` files (no pickle) under
``$NUMBACNN_CACHE``, else ``~/.cache/numbacnn/``, never beside the source
(which may be read-only). Keyed by the source's path, size and mtime (every
file's, for a folder) and the decoding parameters; written atomically
(temporary file + rename); an unreadable cache file counts as absent."""

import hashlib
import json
import math
import os
import re
import struct
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np

FORMAT = 1  # bump when the cached layout changes


def cache_dir():
    env = os.environ.get("NUMBACNN_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "numbacnn"


def _signature(source):
    """What identifies this version of ``source``: size and mtime of the
    file, or of every file under the folder."""
    st = source.stat()
    if not source.is_dir():
        return [st.st_size, st.st_mtime_ns]
    digest = hashlib.sha256()
    for folder, _, names in sorted(os.walk(source)):
        for name in sorted(names):
            s = os.stat(os.path.join(folder, name))
            digest.update(f"{os.path.join(folder, name)}\0{s.st_size}\0{s.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cache_path(kind, source, **params):
    """The cache file for ``source`` decoded as ``kind`` with ``params``."""
    source = Path(source).resolve()
    key = json.dumps({"format": FORMAT, "kind": kind, "source": str(source), "signature": _signature(source),
                      "params": params}, sort_keys=True)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", source.name)[:60]
    return cache_dir() / f"{kind}-{stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


def load(path):
    """{name: array} from a cache file, or None if it is missing or unreadable.

    Arrays are read straight from the uncompressed zip members with
    ``np.fromfile`` (a plain ``np.load`` of an npz copies in small chunks and
    CRCs everything, several times slower for the 150 MB of CIFAR-10)."""
    try:
        out = {}
        with zipfile.ZipFile(path) as zf, open(path, "rb") as f:
            for info in zf.infolist():
                if info.compress_type != zipfile.ZIP_STORED or not info.filename.endswith(".npy"):
                    return None
                f.seek(info.header_offset)
                local = f.read(30)
                if local[:4] != b"PK\x03\x04":
                    return None
                name_len, extra_len = struct.unpack("<HH", local[26:30])
                f.seek(info.header_offset + 30 + name_len + extra_len)
                version = np.lib.format.read_magic(f)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                shape, fortran, dtype = read_header(f)
                count = math.prod(shape)
                if dtype.hasobject or fortran:
                    return None
                array = np.fromfile(f, dtype=dtype, count=count)
                if array.size != count:
                    return None
                out[info.filename[:-4]] = array.reshape(shape)
        return out
    except Exception:  # a truncated or corrupt cache is just a miss
        return None


def save(path, **arrays):
    """Write ``arrays`` to ``path`` atomically; warn (and carry on) when the
    cache folder is not writable."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as e:
        warnings.warn(f"could not write the dataset cache {path} ({e}); the next open will decode again",
                      stacklevel=3)
