"""Test helper: PyTorch checkpoints written without torch, byte by byte as torch.save lays
them out (zip entries NAME/data.pkl, NAME/data/KEY, NAME/byteorder, NAME/version; the
pickle at protocol 2 with storage persistent ids and _rebuild_tensor_v2), so the reader is
tested where torch is absent and on files torch itself would never write (views past
their storage, lying sizes, big-endian data, hostile globals).

``encode(obj)`` pickles dicts, OrderedDicts (:class:`ODict`), lists, tuples, str, bytes,
int, float, bool, None, numpy arrays (as tensors with their own storage), :class:`View`
(a tensor over a shared :class:`Storage` with any offset/size/stride) and :class:`Raw`
(opcodes spliced in as they are). ``write_pt(path, obj)`` writes the zip archive,
``write_legacy(path, obj)`` the stream of torch < 1.6.
"""
from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass, field

import numpy as np

STORAGE_TYPES = {np.dtype("float32"): "FloatStorage", np.dtype("float64"): "DoubleStorage",
                 np.dtype("float16"): "HalfStorage", np.dtype("int64"): "LongStorage",
                 np.dtype("int32"): "IntStorage", np.dtype("int16"): "ShortStorage", np.dtype("int8"): "CharStorage",
                 np.dtype("uint8"): "ByteStorage", np.dtype("bool"): "BoolStorage"}


@dataclass
class Storage:
    """Raw storage bytes; ``kind`` is the torch storage type name, ``numel`` what the
    persistent id declares (default: the bytes' element count)."""
    data: bytes
    kind: str = "FloatStorage"
    numel: int | None = None
    key: str | None = None


@dataclass
class View:
    storage: Storage
    offset: int
    size: tuple
    stride: tuple
    hooks: object = None


class ODict(dict):
    """Pickled as collections.OrderedDict (as a torch state_dict is), with ``_metadata``."""


@dataclass
class Raw:
    """Opcodes spliced into the pickle as they are."""
    ops: bytes


@dataclass
class _Writer:
    storages: list = field(default_factory=list)
    out: bytearray = field(default_factory=bytearray)
    legacy: bool = False        # torch < 1.6's persistent ids carry a sixth item, None

    def put(self, obj):
        o = self.out
        if isinstance(obj, Raw):
            o += obj.ops
        elif obj is None:
            o += b"N"
        elif obj is True:
            o += b"\x88"
        elif obj is False:
            o += b"\x89"
        elif isinstance(obj, int):
            if -2**31 <= obj < 2**31:
                o += b"J" + struct.pack("<i", obj)
            else:
                raw = obj.to_bytes((obj.bit_length() + 8) // 8, "little", signed=True)
                o += b"\x8a" + bytes([len(raw)]) + raw
        elif isinstance(obj, float):
            o += b"G" + struct.pack(">d", obj)
        elif isinstance(obj, str):
            raw = obj.encode()
            o += b"X" + struct.pack("<I", len(raw)) + raw
        elif isinstance(obj, bytes):   # protocol 2 spells bytes as _codecs.encode(latin-1 text)
            o += b"c_codecs\nencode\n"
            self.put((obj.decode("latin-1"), "latin1"))
            o += b"R"
        elif isinstance(obj, tuple):
            o += b"("
            for v in obj:
                self.put(v)
            o += b"t"
        elif isinstance(obj, list):
            o += b"]("
            for v in obj:
                self.put(v)
            o += b"e"
        elif isinstance(obj, ODict):
            o += b"ccollections\nOrderedDict\n)R("
            self._items(obj)
            o += b"u"
            o += b"}X" + struct.pack("<I", 9) + b"_metadata" + b"ccollections\nOrderedDict\n)Rs" + b"b"
        elif isinstance(obj, dict):
            o += b"}("
            self._items(obj)
            o += b"u"
        elif isinstance(obj, np.ndarray):
            a = np.require(obj, requirements="C")
            s = Storage(a.astype(a.dtype.newbyteorder("<")).tobytes(), STORAGE_TYPES[a.dtype])
            strides = tuple(st // a.itemsize for st in a.strides) if a.size else (1,) * a.ndim
            self.put(View(s, 0, a.shape, strides))
        elif isinstance(obj, View):
            s = obj.storage
            if s.key is None:
                s.key = str(len(self.storages))
                self.storages.append(s)
            numel = s.numel if s.numel is not None else len(s.data) // _itemsize(s.kind)
            o += b"ctorch._utils\n_rebuild_tensor_v2\n("
            o += b"(X" + struct.pack("<I", 7) + b"storage" + f"ctorch\n{s.kind}\n".encode()
            self.put(s.key)
            self.put("cpu")
            self.put(numel)
            if self.legacy:
                o += b"N"
            o += b"tQ"
            self.put(obj.offset)
            self.put(tuple(obj.size))
            self.put(tuple(obj.stride))
            o += b"\x89"
            if obj.hooks is None:
                o += b"ccollections\nOrderedDict\n)R"
            else:
                self.put(obj.hooks)
            o += b"tR"
        else:
            raise TypeError(f"torch_files cannot pickle {type(obj).__name__}")

    def _items(self, d):
        for k, v in d.items():
            self.put(k)
            self.put(v)


def _itemsize(kind: str) -> int:
    if kind == "BFloat16Storage":
        return 2
    return next(dt.itemsize for dt, k in STORAGE_TYPES.items() if k == kind)


def encode(obj, legacy: bool = False) -> tuple[bytes, list]:
    """(data.pkl bytes, the storages it refers to, in key order)."""
    w = _Writer(legacy=legacy)
    w.out += b"\x80\x02"
    w.put(obj)
    w.out += b"."
    return bytes(w.out), w.storages


def write_pt(path, obj=None, *, pickle_bytes=None, storages=(), name="archive", byteorder="little",
             compression=zipfile.ZIP_STORED, extra=None) -> str:
    """Writes a torch.save-style zip archive holding ``obj`` (or ``pickle_bytes`` and
    ``storages`` given as they are); ``extra`` adds entries {name: bytes}."""
    if obj is not None or pickle_bytes is None:
        pickle_bytes, storages = encode(obj)
    with zipfile.ZipFile(path, "w", compression) as z:
        z.writestr(f"{name}/data.pkl", pickle_bytes)
        if byteorder is not None:
            z.writestr(f"{name}/byteorder", byteorder)
        for s in storages:
            z.writestr(f"{name}/data/{s.key}", s.data)
        z.writestr(f"{name}/version", "3\n")
        for k, v in (extra or {}).items():
            z.writestr(k, v)
    return str(path)


LEGACY_HEADER = (0x1950A86A20F9469CFC6C, 1001,
                 {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}})


def write_legacy(path, obj=None, *, pickle_bytes=None, storages=(), keys=None, header=LEGACY_HEADER) -> str:
    """Writes torch < 1.6's stream: pickles of the header's three values, of ``obj`` (or
    ``pickle_bytes`` with ``storages``) and of the storage keys (``keys``: default, the
    storages' keys sorted), then each storage as an int64 element count and its bytes."""
    if obj is not None or pickle_bytes is None:
        pickle_bytes, storages = encode(obj, legacy=True)
    by_key = {s.key: s for s in storages}
    keys = sorted(by_key) if keys is None else keys
    with open(path, "wb") as f:
        for value in header:
            f.write(encode(value)[0])
        f.write(pickle_bytes)
        f.write(encode(list(keys))[0])
        for k in keys:
            s = by_key[k]
            numel = s.numel if s.numel is not None else len(s.data) // _itemsize(s.kind)
            f.write(struct.pack("<q", numel) + s.data)
    return str(path)


def state_dict_of(model) -> ODict:
    """``model.state_dict()`` as torch pickles it (an OrderedDict)."""
    return ODict(model.state_dict())
