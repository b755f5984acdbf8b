"""PyTorch checkpoints (``torch.save``'s zip format) read without torch and without running
anything from the file.

A ``.pt`` / ``.pth`` file written by torch >= 1.6 is a zip archive::

    NAME/data.pkl        the pickled object: a state_dict, or a dict that wraps one
    NAME/data/KEY        the raw bytes of storage KEY
    NAME/byteorder       "little" or "big" (absent in files from before torch 1.10: little)
    NAME/version, NAME/.format_version, NAME/.storage_alignment, NAME/.data/serialization_id

``data.pkl`` names a storage by the persistent id ``('storage', torch.FloatStorage, KEY,
LOCATION, NUMEL)`` and builds each tensor as ``torch._utils._rebuild_tensor_v2(storage,
offset, size, stride, requires_grad, backward_hooks)``, a view into that storage. Like
torch's own ``weights_only=True``, this reader lets a pickle name only the globals such a
file needs — the tensor and parameter rebuilders, the storage types,
``collections.OrderedDict``, numpy's scalar and dtype, and ``_codecs.encode`` for latin-1
bytes — and refuses any other (``os.system``, ``builtins.eval``, a model class ...) before
anything is called. What comes out is plain data: dicts (in file order), lists, tuples,
sets, numbers, strings, bytes, None and numpy arrays; float16, bfloat16 and float64 tensors
become float32, integer and bool tensors keep their type.

Sizes are checked before memory is used: each storage's declared elements against the
bytes of its zip entry, each view (offset, sizes, strides) against its storage, each zip
entry's declared size against its compressed size (deflate cannot expand more than
1032:1), and all bytes read and arrays built together against ``max_bytes``.

The older formats — the tar archive of torch < 0.4 and the pickle stream of torch < 1.6
(or ``_use_new_zipfile_serialization=False``) — are refused with a message saying how to
save the file again.
"""
from __future__ import annotations

import collections
import io
import math
import os
import pickle
import re
import zipfile
import zlib

import numpy as np

from .errors import WeightsError

__all__ = ["torch_load", "MAX_BYTES"]

MAX_BYTES = 4 << 30
"""Default cap on the bytes one file may make the reader read and build (4 GiB)."""

MAX_PICKLE = 64 << 20       # data.pkl of even a large model's state dict is a few hundred KiB
MAX_ENTRIES = 100_000       # zip entries
MAX_DEPTH = 100             # nesting of containers
MAX_OBJECTS = 1_000_000     # containers and values visited (memo references can repeat a subtree)
MAX_NDIM = 64               # numpy's limit on dimensions
DEFLATE_MAX_RATIO = 1032    # deflate's largest possible expansion
_KEY = re.compile(r"[A-Za-z0-9_.]{1,64}")

# torch storage type -> numpy type of its elements (bfloat16: the raw 16 bits)
_STORAGE_CODES = {"FloatStorage": "f4", "DoubleStorage": "f8", "HalfStorage": "f2", "BFloat16Storage": "u2",
                  "LongStorage": "i8", "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1",
                  "ByteStorage": "u1", "BoolStorage": "b1"}


class _StorageType:
    """What ``torch.XStorage`` in data.pkl resolves to: a name and an element type, no behaviour."""

    __slots__ = ("name", "code")

    def __init__(self, name: str, code: str):
        self.name, self.code = name, code


_STORAGE_TYPES = {name: _StorageType(name, code) for name, code in _STORAGE_CODES.items()}


class _Storage:
    """One storage of the archive: ``numel`` elements of ``kind``, in entry ``data/KEY``."""

    __slots__ = ("kind", "key", "numel", "raw")

    def __init__(self, kind: _StorageType, key: str, numel: int):
        self.kind, self.key, self.numel = kind, key, numel
        self.raw = None     # 1-D array over the entry's bytes, read on first use


class _OrderedDict(collections.OrderedDict):
    """``collections.OrderedDict`` as data.pkl builds it; the state a state_dict carries
    (its ``_metadata`` of module versions) is dropped, any other state refused."""

    def __setstate__(self, state):
        if not (state is None or (isinstance(state, dict) and set(state) <= {"_metadata"})):
            raise WeightsError("an OrderedDict in data.pkl carries attributes other than _metadata")


def _rebuild_parameter(data, requires_grad, backward_hooks):
    """``torch._utils._rebuild_parameter``: a Parameter is its tensor here."""
    if not isinstance(data, np.ndarray):
        raise WeightsError("a Parameter in data.pkl wraps something other than a tensor")
    return data


def _scalar(dtype, data):
    """``numpy.core.multiarray.scalar`` for bool, integer and float scalars: a Python number."""
    dt = np.dtype(dtype.str) if isinstance(dtype, np.dtype) else None   # a fresh dtype, whatever BUILD did
    if not (dt is not None and dt.kind in "biuf" and isinstance(data, bytes) and len(data) == dt.itemsize):
        raise WeightsError("a numpy scalar in data.pkl is not a plain number")
    return np.frombuffer(data, dtype=dt)[0].item()


def _latin1(text, encoding):
    """``_codecs.encode(text, 'latin1')``: how protocol-2 pickles spell bytes."""
    if not (isinstance(text, str) and encoding in ("latin1", "latin-1")):
        raise WeightsError("data.pkl uses _codecs.encode for something other than latin-1 bytes")
    return text.encode("latin-1")


def _dtype(*args):
    """``numpy.dtype`` for a scalar's type: plain bool, integer and float types only."""
    dt = np.dtype(*args)
    if dt.kind not in "biuf":
        raise WeightsError(f"data.pkl asks for a numpy {dt} value; only plain numbers may appear")
    return dt


def _float32(a: np.ndarray, code: str) -> np.ndarray:
    """A fresh C-ordered native array: float types (bfloat16 given as raw bits) as float32, others as they are."""
    if code == "u2":
        return (a.astype(np.uint32, order="C") << 16).view(np.float32)
    return a.astype(np.float32 if a.dtype.kind == "f" else a.dtype.newbyteorder("="), order="C")


class _Archive:
    """The opened zip: where its entries are, its byte order, and what may still be read."""

    def __init__(self, path: str, zf: zipfile.ZipFile, max_bytes: int):
        self.path, self.zf, self.left, self.limit = path, zf, max_bytes, max_bytes
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
        self.storages: dict[str, _Storage] = {}

    def charge(self, nbytes: int, what: str) -> None:
        """Counts ``nbytes`` against max_bytes before they are read or allocated."""
        if nbytes > self.left:
            raise WeightsError(f"{self.path}: {what} needs {nbytes:,} bytes, past the reader's limit of "
                               f"{self.limit:,} bytes for this file (max_bytes)")
        self.left -= nbytes

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
            raise WeightsError(f"{self.path}: entry {name!r} is damaged ({_first_line(e)})") from None
        if len(data) != info.file_size:
            raise WeightsError(f"{self.path}: entry {name!r} holds {len(data):,} bytes, not the "
                               f"{info.file_size:,} it declares")
        return data

    def storage(self, kind: _StorageType, key: str, numel: int) -> _Storage:
        """The storage a persistent id names; the same key must always name the same storage."""
        s = self.storages.get(key)
        if s is None:
            s = self.storages[key] = _Storage(kind, key, numel)
        elif s.kind is not kind or s.numel != numel:
            raise WeightsError(f"{self.path}: storage {key!r} is declared twice, as {s.numel} {s.kind.name} "
                               f"and as {numel} {kind.name}")
        return s

    def raw(self, s: _Storage) -> np.ndarray:
        """Storage ``s`` as a 1-D array in the file's byte order (bfloat16 as uint16)."""
        if s.raw is None:
            dt = np.dtype(s.kind.code).newbyteorder(self.order)
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


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class _Unpickler(pickle.Unpickler):
    """data.pkl's unpickler: the globals named above and storage persistent ids, nothing else."""

    def __init__(self, data: bytes, archive: _Archive):
        super().__init__(io.BytesIO(data))
        self.archive = archive
        self.allowed = {
            ("collections", "OrderedDict"): _OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2"): self.rebuild_tensor,
            ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
            ("numpy", "dtype"): _dtype,
            ("numpy.core.multiarray", "scalar"): _scalar,
            ("numpy._core.multiarray", "scalar"): _scalar,
            ("_codecs", "encode"): _latin1,
            **{("torch", name): t for name, t in _STORAGE_TYPES.items()},
        }

    def find_class(self, module, name):
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise WeightsError(f"{self.archive.path}: data.pkl asks for {str(module)[:80]}.{str(name)[:80]}, which "
                               "a weights file may not use (only tensors, containers, numbers and strings "
                               "are read)") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] in ("storage", b"storage")):
            raise WeightsError(f"{self.archive.path}: data.pkl has a persistent id that is not a storage")
        _, kind, key, location, numel = pid
        if not isinstance(kind, _StorageType):
            raise WeightsError(f"{self.archive.path}: a storage in data.pkl has no storage type")
        if not (isinstance(key, str) and _KEY.fullmatch(key) and isinstance(location, str)
                and _int(numel) and numel >= 0):
            raise WeightsError(f"{self.archive.path}: a storage in data.pkl has a malformed key, location "
                               "or element count")
        return self.archive.storage(kind, key, numel)

    def rebuild_tensor(self, storage, offset, size, stride, requires_grad, backward_hooks, metadata=None):
        """``torch._utils._rebuild_tensor_v2``: a copy of the view (offset, size, stride) of
        ``storage``, checked to lie inside it, as a native array (floats as float32)."""
        path = self.archive.path
        if not isinstance(storage, _Storage):
            raise WeightsError(f"{path}: a tensor in data.pkl is built from something other than a storage")
        if not (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride) <= MAX_NDIM
                and all(_int(v) and v >= 0 for v in size + stride) and _int(offset) and offset >= 0):
            raise WeightsError(f"{path}: a tensor in data.pkl has malformed sizes, strides or offset "
                               f"({_short(size)}, {_short(stride)}, {_short(offset)})")
        if backward_hooks or metadata:
            raise WeightsError(f"{path}: a tensor in data.pkl carries backward hooks or Python attributes")
        out_code = "f4" if storage.kind.code in ("f2", "f8", "u2") else storage.kind.code
        count = math.prod(size)
        self.archive.charge(count * np.dtype(out_code).itemsize, f"a tensor of shape {_short(size)}")
        if count == 0:
            return np.zeros(size, dtype=np.dtype(out_code))
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= storage.numel:
            raise WeightsError(f"{path}: a tensor of shape {_short(size)} (offset {offset}, strides "
                               f"{_short(stride)}) reaches element {last:,} of storage {storage.key!r}, which "
                               f"has {storage.numel:,}")
        raw = self.archive.raw(storage)
        view = np.lib.stride_tricks.as_strided(raw[offset:], shape=size,
                                               strides=[s * raw.itemsize for s in stride], writeable=False)
        return _float32(view, storage.kind.code)


def _short(v) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _first_line(e) -> str:
    lines = str(e).strip().splitlines()
    return lines[0][:200] if lines else type(e).__name__


# exceptions a hostile data.pkl can raise from inside the C unpickler (bad opcodes, a
# truncated stream, allowed functions called with wrong arguments, unhashable keys)
_PICKLE_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
                  OverflowError, UnicodeDecodeError, MemoryError)


def _plain(obj, path: str, depth: int, seen: list):
    """``obj`` as plain data (an _OrderedDict becomes a dict); refuses internal objects that
    data.pkl left unbuilt, nesting deeper than MAX_DEPTH and more than MAX_OBJECTS values."""
    seen[0] += 1
    if seen[0] > MAX_OBJECTS:
        raise WeightsError(f"{path}: data.pkl holds more than {MAX_OBJECTS:,} values")
    if depth > MAX_DEPTH:
        raise WeightsError(f"{path}: data.pkl nests containers more than {MAX_DEPTH} deep")
    if obj is None or isinstance(obj, (bool, int, float, str, bytes, np.ndarray)):
        return obj
    if isinstance(obj, dict):
        return {_plain(k, path, depth + 1, seen): _plain(v, path, depth + 1, seen) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return type(obj)(_plain(v, path, depth + 1, seen) for v in obj)
    what = {_Storage: "a bare storage", _StorageType: "a storage type"}.get(type(obj), f"a {type(obj).__name__}")
    raise WeightsError(f"{path}: data.pkl holds {what}, which is not plain data")


def _format_hint(path: str, head: bytes) -> str:
    """Why a file that is not a zip archive cannot be read, in one sentence."""
    resave = "open it with torch and torch.save it again (torch >= 1.6 writes the zip format)"
    if head[257:262] == b"ustar":
        return f"{path} is a tar archive, torch's format before 0.4, which is not read: {resave}"
    if head[:1] == b"\x80":
        return (f"{path} is a plain pickle stream (torch < 1.6 or _use_new_zipfile_serialization=False), "
                f"which is not read: {resave}")
    return f"{path} is not a PyTorch checkpoint (torch.save writes a zip archive; this file is not one)"


def torch_load(path, max_bytes: int = MAX_BYTES):
    """Reads the object ``torch.save`` wrote to ``path`` as plain data (see the module
    docstring): tensors as numpy arrays (floats as float32), containers, numbers and
    strings. Runs no code from the file; raises WeightsError (one sentence) for a file
    that is missing, damaged, hostile, or larger than ``max_bytes`` to read and build."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise WeightsError(f"weights file {path!r} does not exist")
    if os.path.isdir(path):
        raise WeightsError(f"{path!r} is a folder, not a weights file")
    try:
        with open(path, "rb") as f:
            head = f.read(512)
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise WeightsError(_format_hint(path, head)) from None
    except (OSError, ValueError, EOFError, NotImplementedError) as e:     # NotImplementedError: zip features
        raise WeightsError(f"{path} is not a readable zip archive ({_first_line(e)})") from None
    with zf:
        archive = _Archive(path, zf, max_bytes)
        data = archive.read(archive.prefix + "data.pkl", limit=MAX_PICKLE)
        try:
            obj = _Unpickler(data, archive).load()
        except WeightsError:
            raise
        except _PICKLE_ERRORS as e:
            raise WeightsError(f"{path}: data.pkl is not a valid checkpoint pickle ({type(e).__name__}: "
                               f"{_first_line(e)})") from None
        return _plain(obj, path, 0, [0])
