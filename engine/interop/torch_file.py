"""``torch_load(path)``: what ``torch.save`` wrote, read without torch (see
:mod:`engine.interop.torch_pickle` for what the pickle may contain and what comes out).

Two layouts are read. torch >= 1.6 writes a zip archive::

    NAME/data.pkl        the pickled object: a state_dict, or a dict that wraps one
    NAME/data/KEY        the raw bytes of storage KEY
    NAME/byteorder       "little" or "big" (absent before torch 1.10: little)
    NAME/version, NAME/.format_version, NAME/.storage_alignment, NAME/.data/serialization_id

torch < 1.6 (and ``torch.save(..., _use_new_zipfile_serialization=False)``) writes one
stream: five pickles — the magic number 0x1950a86a20f9469cfc6c, the protocol version 1001,
a dict of system information, the object, the sorted list of storage keys — then each
storage in that order as a little-endian int64 element count and its little-endian bytes.
The tar archive of torch < 0.4 is refused with a message saying how to save the file again.

Sizes are checked before memory is used: each storage's declared elements against its
bytes (a zip entry, or the stream's count and what is left of the file), each zip entry's
declared size against its compressed size (deflate cannot expand more than 1032:1), and
everything read and built against ``max_bytes``.
"""
from __future__ import annotations

import io
import os
import zipfile
import zlib

import numpy as np

from ..errors import QUOTE_LIMIT, first_line
from .errors import WeightsError
from .torch_pickle import Source, Storage

__all__ = ["torch_load", "MAX_BYTES"]

MAX_BYTES = 4 << 30
"""Default cap on the bytes one file may make the reader read and build (4 GiB)."""

MAX_PICKLE = 64 << 20       # data.pkl of even a large model's state dict is a few hundred KiB
MAX_ENTRIES = 100_000       # zip entries
DEFLATE_MAX_RATIO = 1032    # deflate's largest possible expansion
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
RESAVE = "open it with torch and torch.save it again (torch >= 1.6 writes the zip format)"


class _Archive(Source):
    """The zip format: where its entries are, its byte order, and reading them with their sizes checked."""

    pickle_name = "data.pkl"

    def __init__(self, path: str, zf: zipfile.ZipFile, max_bytes: int):
        super().__init__(path, max_bytes)
        self.zf = zf
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise WeightsError(f"{path}: the zip archive has {len(infos):,} entries; a PyTorch checkpoint has "
                               f"a few per tensor, at most {MAX_ENTRIES:,} are read")
        self.entries = {i.filename: i for i in infos}
        roots = sorted(n[:-len("/data.pkl")] for n in self.entries if n.endswith("/data.pkl") and n.count("/") == 1)
        if not roots:
            raise WeightsError(f"{path} is a zip file but not a PyTorch checkpoint (no NAME/data.pkl inside)")
        if len(roots) > 1:
            raise WeightsError(f"{path} holds {len(roots)} pickles ({', '.join(roots[:3])} ...); a checkpoint "
                               "written by torch.save holds one")
        self.prefix = roots[0] + "/"
        if self.prefix + "constants.pkl" in self.entries or any(n.startswith(self.prefix + "code/") for n in self.entries):
            raise WeightsError(f"{path} is a TorchScript archive (torch.jit.save); save the model's state_dict() "
                               "with torch.save and import that")
        order = b"little"
        if self.prefix + "byteorder" in self.entries:
            order = self.read(self.prefix + "byteorder", limit=16)
            if order not in (b"little", b"big"):
                raise WeightsError(f"{path}: its byteorder entry says {order[:16]!r}, not 'little' or 'big'")
        self.order = "<" if order == b"little" else ">"

    def read(self, name: str, limit: int | None = None) -> bytes:
        """The bytes of entry ``name``, after checking its declared size (against ``limit``,
        its compressed size and max_bytes); the zip module checks the CRC."""
        info = self.entries.get(name)
        if info is None:
            raise WeightsError(f"{self.path}: the archive has no entry {name!r}")
        if info.flag_bits & 0x1:
            raise WeightsError(f"{self.path}: entry {name!r} is encrypted")
        if info.compress_type == zipfile.ZIP_STORED:
            if info.file_size != info.compress_size:
                raise WeightsError(f"{self.path}: entry {name!r} is stored uncompressed but declares "
                                   f"{info.file_size:,} bytes in {info.compress_size:,}")
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            if info.file_size > DEFLATE_MAX_RATIO * max(info.compress_size, 1):
                raise WeightsError(f"{self.path}: entry {name!r} declares {info.file_size:,} bytes from "
                                   f"{info.compress_size:,} compressed ones, more than deflate can produce "
                                   "(a zip bomb)")
        else:
            raise WeightsError(f"{self.path}: entry {name!r} uses zip compression method {info.compress_type}; "
                               "a PyTorch checkpoint stores its entries plainly")
        if limit is not None and info.file_size > limit:
            raise WeightsError(f"{self.path}: entry {name!r} is {info.file_size:,} bytes, more than the "
                               f"{limit:,} it may have")
        self.charge(info.file_size, f"entry {name!r}")
        try:
            with self.zf.open(info) as f:
                data = f.read(info.file_size)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as e:
            raise WeightsError(f"{self.path}: entry {name!r} is damaged ({first_line(e, QUOTE_LIMIT)})") from None
        if len(data) != info.file_size:
            raise WeightsError(f"{self.path}: entry {name!r} holds {len(data):,} bytes, not the "
                               f"{info.file_size:,} it declares")
        return data

    def raw(self, s: Storage) -> np.ndarray:
        if s.raw is None:
            dt = s.dtype(self.order)
            name = f"{self.prefix}data/{s.key}"
            info = self.entries.get(name)
            if info is None:
                raise WeightsError(f"{self.path}: data.pkl refers to storage {s.key!r}, which the archive "
                                   "does not hold")
            if info.file_size != s.numel * dt.itemsize:
                raise WeightsError(f"{self.path}: storage {s.key!r} declares {s.numel:,} {s.kind.name} elements "
                                   f"({s.numel * dt.itemsize:,} bytes) but its entry holds {info.file_size:,} bytes")
            s.raw = np.frombuffer(self.read(name), dtype=dt)
        return s.raw

    def load_object(self):
        return self.plain(self.load(io.BytesIO(self.read(self.prefix + "data.pkl", limit=MAX_PICKLE))))


class _Stream(Source):
    """torch < 1.6's stream, read whole (charged against max_bytes first): the storages'
    bytes follow the pickles, so tensors are copied out once every storage is located."""

    order = "<"

    def __init__(self, path: str, max_bytes: int):
        super().__init__(path, max_bytes)
        size = os.path.getsize(path)
        self.charge(size, "the file")
        with open(path, "rb") as f:
            self.data = f.read(size)

    def raw(self, s: Storage) -> np.ndarray:
        if s.raw is None:
            raise WeightsError(f"{self.path}: the pickle refers to storage {s.key!r}, which the file does not hold")
        return s.raw

    def load_object(self):
        f = io.BytesIO(self.data)
        self.pickle_name = "its header"
        magic = self.load(f)
        if not (type(magic) is int and magic == LEGACY_MAGIC):
            raise WeightsError(f"{self.path} is a pickle but not a PyTorch checkpoint (no torch.save header)")
        protocol, info = self.load(f), self.load(f)
        if not (type(protocol) is int and protocol == LEGACY_PROTOCOL and isinstance(info, dict)):
            raise WeightsError(f"{self.path}: its torch.save header is not protocol {LEGACY_PROTOCOL} followed by "
                               "the system information")
        self.pickle_name = "the pickle"
        obj = self.load(f)
        self.pickle_name = "its list of storages"
        keys = self.load(f)
        if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys) and len(set(keys)) == len(keys)):
            raise WeightsError(f"{self.path}: its list of storages is not a list of distinct names")
        at = f.tell()
        for key in keys:
            s = self.storages.get(key)
            if s is None:
                raise WeightsError(f"{self.path}: it holds bytes for storage {key!r}, which no tensor declares")
            head = self.data[at:at + 8]
            numel = int.from_bytes(head, "little", signed=True) if len(head) == 8 else -1
            dt = s.dtype(self.order)
            if numel != s.numel or at + 8 + numel * dt.itemsize > len(self.data):
                raise WeightsError(f"{self.path}: storage {key!r} should hold {s.numel:,} {s.kind.name} elements; "
                                   f"the file gives {max(numel, 0):,} and has {max(len(self.data) - at - 8, 0):,} "
                                   "bytes left")
            s.raw = np.frombuffer(self.data, dtype=dt, count=numel, offset=at + 8)
            at += 8 + numel * dt.itemsize
        self.pickle_name = "the pickle"
        return self.plain(obj)


def torch_load(path, max_bytes: int = MAX_BYTES):
    """Reads the object ``torch.save`` wrote to ``path`` as plain data: tensors as numpy
    arrays (floats as float32), containers, numbers and strings. Runs no code from the
    file; raises WeightsError (one sentence) for a file that is missing, damaged, hostile,
    or larger than ``max_bytes`` to read and build."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise WeightsError(f"weights file {path!r} does not exist")
    if os.path.isdir(path):
        raise WeightsError(f"{path!r} is a folder, not a weights file")
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError as e:
        raise WeightsError(f"cannot read {path}: {e.strerror or first_line(e, QUOTE_LIMIT)}") from None
    if head[:4] == b"PK\x03\x04":      # as torch tells its formats apart
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as e:
            raise WeightsError(f"{path} is not a readable zip archive ({first_line(e, QUOTE_LIMIT)})") from None
        with zf:
            return _Archive(path, zf, max_bytes).load_object()
    if head[:1] == b"\x80":
        return _Stream(path, max_bytes).load_object()
    if head[257:262] == b"ustar":
        raise WeightsError(f"{path} is a tar archive, torch's format before 0.4, which is not read: {RESAVE}")
    raise WeightsError(f"{path} is not a PyTorch checkpoint (torch.save writes a zip archive or, before torch 1.6, "
                       "a pickle stream; this file is neither)")
