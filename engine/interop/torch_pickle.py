"""The restricted unpickler of PyTorch checkpoints: torch's pickles read without torch and
without running anything from them.

A checkpoint's pickle names each storage by a persistent id ``('storage',
torch.FloatStorage, KEY, LOCATION, NUMEL)`` (torch < 1.6 adds a sixth item, a view of
another storage, always None since torch 0.4) and builds each tensor as
``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad,
backward_hooks)``, a view into that storage. Like torch's own ``weights_only=True``, the
unpickler here lets a pickle name only the globals such a file needs — the tensor and
parameter rebuilders, the storage types, ``collections.OrderedDict``, numpy's scalar and
dtype for numbers, and ``_codecs.encode`` for latin-1 bytes — and refuses any other
(``os.system``, ``builtins.eval``, a model class ...) before anything is called.

What comes out (:meth:`Source.plain`) is plain data: dicts (in file order), lists, tuples,
sets, numbers, strings, bytes, None and numpy arrays; float16, bfloat16 and float64 tensors
become float32, integer and bool tensors keep their type. Every view (offset, sizes,
strides) is checked against its storage's declared size when the pickle builds it, and
every array charged against the file's byte budget, before any storage byte is read or
any array allocated. Where the storages' bytes are is the file format's business
(:mod:`engine.interop.torch_file`): a :class:`Source` subclass supplies ``raw``.
"""
from __future__ import annotations

import collections
import math
import pickle
import pickletools
import re

import numpy as np

from ..errors import QUOTE_LIMIT, first_line
from .errors import WeightsError

__all__ = ["Source", "Storage", "MAX_DEPTH", "MAX_OBJECTS"]

MAX_DEPTH = 100             # nesting of containers
MAX_OBJECTS = 1_000_000     # containers and values visited (memo references can repeat a subtree)
MAX_NDIM = 64               # numpy's limit on dimensions
_KEY = re.compile(r"[A-Za-z0-9_.]{1,64}")

# torch storage type -> numpy type of its elements (bfloat16: the raw 16 bits)
_STORAGE_CODES = {"FloatStorage": "f4", "DoubleStorage": "f8", "HalfStorage": "f2", "BFloat16Storage": "u2",
                  "LongStorage": "i8", "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1",
                  "ByteStorage": "u1", "BoolStorage": "b1"}


class _StorageType:
    """What ``torch.XStorage`` in a pickle resolves to: a name and an element type, no behaviour."""

    __slots__ = ("name", "code")

    def __init__(self, name: str, code: str):
        self.name, self.code = name, code


_STORAGE_TYPES = {name: _StorageType(name, code) for name, code in _STORAGE_CODES.items()}


class Storage:
    """One storage of a checkpoint: ``numel`` elements of ``kind``, named ``key``; ``raw``
    (a 1-D array over its bytes in the file's byte order) is set by the Source that holds it."""

    __slots__ = ("kind", "key", "numel", "raw")

    def __init__(self, kind: _StorageType, key: str, numel: int):
        self.kind, self.key, self.numel = kind, key, numel
        self.raw = None

    def dtype(self, order: str) -> np.dtype:
        """The elements' numpy type in byte order ``order`` ("<" or ">"; bfloat16 as uint16)."""
        return np.dtype(self.kind.code).newbyteorder(order)


class _TensorRef:
    """A tensor the pickle built: a checked view of ``storage``, copied out by Source.plain."""

    __slots__ = ("storage", "offset", "size", "stride")

    def __init__(self, storage: Storage, offset: int, size: tuple, stride: tuple):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


class _OrderedDict(collections.OrderedDict):
    """``collections.OrderedDict`` as a pickle builds it; the state a state_dict carries (its
    ``_metadata`` of module versions) is dropped, any other state refused."""

    def __setstate__(self, state):
        if not (state is None or (isinstance(state, dict) and set(state) <= {"_metadata"})):
            raise WeightsError("an OrderedDict in the pickle carries attributes other than _metadata")


def _rebuild_parameter(data, requires_grad, backward_hooks):
    """``torch._utils._rebuild_parameter``: a Parameter is its tensor here."""
    if not isinstance(data, _TensorRef):
        raise WeightsError("a Parameter in the pickle wraps something other than a tensor")
    return data


def _scalar(dtype, data):
    """``numpy.core.multiarray.scalar`` for bool, integer and float scalars: a Python number."""
    dt = np.dtype(dtype.str) if isinstance(dtype, np.dtype) else None   # a fresh dtype, whatever BUILD did
    if not (dt is not None and dt.kind in "biuf" and isinstance(data, bytes) and len(data) == dt.itemsize):
        raise WeightsError("a numpy scalar in the pickle is not a plain number")
    return np.frombuffer(data, dtype=dt)[0].item()


def _dtype(*args):
    """``numpy.dtype`` for a scalar's type: plain bool, integer and float types only."""
    dt = np.dtype(*args)
    if dt.kind not in "biuf":
        raise WeightsError(f"the pickle asks for a numpy {dt} value; only plain numbers may appear")
    return dt


def _latin1(text, encoding):
    """``_codecs.encode(text, 'latin1')``: how protocol-2 pickles spell bytes."""
    if not (isinstance(text, str) and encoding in ("latin1", "latin-1")):
        raise WeightsError("the pickle uses _codecs.encode for something other than latin-1 bytes")
    return text.encode("latin-1")


def _float32(a: np.ndarray, code: str) -> np.ndarray:
    """A fresh C-ordered native array: float types (bfloat16 given as raw bits) as float32, others as they are."""
    if code == "u2":
        return (a.astype(np.uint32, order="C") << 16).view(np.float32)
    return a.astype(np.float32 if a.dtype.kind == "f" else a.dtype.newbyteorder("="), order="C")


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _short(v) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


# what a hostile pickle can raise from inside the C unpickler (bad opcodes, a truncated
# stream, allowed functions called with wrong arguments, unhashable keys)
_PICKLE_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
                  OverflowError, UnicodeDecodeError, MemoryError)


class Source:
    """One checkpoint file being read: its path, its byte budget (max_bytes, for bytes read
    and arrays built together), its storages by key, and where their bytes are (``raw``)."""

    pickle_name = "the pickle"      # how messages name the pickle ("data.pkl" in the zip format)

    def __init__(self, path: str, max_bytes: int):
        self.path, self.left, self.limit = path, max_bytes, max_bytes
        self.storages: dict[str, Storage] = {}

    def charge(self, nbytes: int, what: str) -> None:
        """Counts ``nbytes`` against max_bytes before they are read or allocated."""
        if nbytes > self.left:
            raise WeightsError(f"{self.path}: {what} needs {nbytes:,} bytes, past the reader's limit of "
                               f"{self.limit:,} bytes for this file (max_bytes)")
        self.left -= nbytes

    def storage(self, kind: _StorageType, key: str, numel: int) -> Storage:
        """The storage a persistent id names; the same key must always name the same storage."""
        s = self.storages.get(key)
        if s is None:
            s = self.storages[key] = Storage(kind, key, numel)
        elif s.kind is not kind or s.numel != numel:
            raise WeightsError(f"{self.path}: storage {key!r} is declared twice, as {s.numel} {s.kind.name} "
                               f"and as {numel} {kind.name}")
        return s

    def raw(self, s: Storage) -> np.ndarray:
        """Storage ``s``'s elements as a 1-D array in the file's byte order."""
        raise NotImplementedError

    def load(self, file):
        """The next pickle of ``file`` (a seekable binary file object), read by the restricted
        unpickler; WeightsError (one sentence) for anything else in it. The opcodes are
        walked first (pickletools reads no more than the file holds): the C unpickler would
        allocate a BYTEARRAY8's declared length, up to 2**63 bytes, before reading it."""
        start = file.tell()
        try:
            for _ in pickletools.genops(file):
                pass
            file.seek(start)
            return _Unpickler(file, self).load()
        except WeightsError:
            raise
        except _PICKLE_ERRORS as e:
            raise WeightsError(f"{self.path}: {self.pickle_name} is not a valid checkpoint pickle "
                               f"({type(e).__name__}: {first_line(e, QUOTE_LIMIT)})") from None

    def plain(self, obj):
        """``obj`` as plain data: tensors copied out of their storages, _OrderedDicts as dicts;
        refuses internal objects left unbuilt, nesting deeper than MAX_DEPTH and more than
        MAX_OBJECTS values."""
        seen = [0]

        def walk(o, depth):
            seen[0] += 1
            if seen[0] > MAX_OBJECTS:
                raise WeightsError(f"{self.path}: {self.pickle_name} holds more than {MAX_OBJECTS:,} values")
            if depth > MAX_DEPTH:
                raise WeightsError(f"{self.path}: {self.pickle_name} nests containers more than {MAX_DEPTH} deep")
            if o is None or isinstance(o, (bool, int, float, str, bytes)):
                return o
            if isinstance(o, _TensorRef):
                return self._array(o)
            if isinstance(o, dict):
                return {walk(k, depth + 1): walk(v, depth + 1) for k, v in o.items()}
            if isinstance(o, (list, tuple, set, frozenset)):
                return type(o)(walk(v, depth + 1) for v in o)
            what = {Storage: "a bare storage", _StorageType: "a storage type"}.get(type(o), f"a {type(o).__name__}")
            raise WeightsError(f"{self.path}: {self.pickle_name} holds {what}, which is not plain data")
        return walk(obj, 0)

    def _array(self, t: _TensorRef) -> np.ndarray:
        """The tensor ``t`` as a fresh native array (its view was checked when it was built)."""
        code = t.storage.kind.code
        if math.prod(t.size) == 0:
            return np.zeros(t.size, dtype=np.float32 if code in ("f2", "f8", "u2") else np.dtype(code))
        raw = self.raw(t.storage)
        view = np.lib.stride_tricks.as_strided(raw[t.offset:], shape=t.size,
                                               strides=[s * raw.itemsize for s in t.stride], writeable=False)
        return _float32(view, code)


class _Unpickler(pickle.Unpickler):
    """The restricted unpickler: the globals named in the module docstring and storage
    persistent ids, nothing else."""

    def __init__(self, file, source: Source):
        super().__init__(file)
        self.source = source
        self.allowed = {
            ("collections", "OrderedDict"): _OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2"): self.rebuild_tensor,
            ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
            ("numpy", "dtype"): _dtype,
            ("numpy.core.multiarray", "scalar"): _scalar,
            ("numpy._core.multiarray", "scalar"): _scalar,
            ("_codecs", "encode"): _latin1,
            **{("torch", name): t for name, t in _STORAGE_TYPES.items()},
            **{("torch.cuda", name): t for name, t in _STORAGE_TYPES.items()},
        }

    def _fail(self, what: str) -> WeightsError:
        return WeightsError(f"{self.source.path}: {self.source.pickle_name} {what}")

    def find_class(self, module, name):
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise self._fail(f"asks for {str(module)[:80]}.{str(name)[:80]}, which a weights file may not use "
                             "(only tensors, containers, numbers and strings are read)") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] in ("storage", b"storage")
                and (len(pid) == 5 or pid[5] is None)):
            raise self._fail("has a persistent id that is not a whole storage")
        _, kind, key, location, numel = pid[:5]
        if not isinstance(kind, _StorageType):
            raise self._fail("has a storage without a storage type")
        if not (isinstance(key, str) and _KEY.fullmatch(key) and isinstance(location, str)
                and _int(numel) and numel >= 0):
            raise self._fail("has a storage with a malformed key, location or element count")
        return self.source.storage(kind, key, numel)

    def rebuild_tensor(self, storage, offset, size, stride, requires_grad, backward_hooks, metadata=None):
        """``torch._utils._rebuild_tensor_v2``: the view (offset, size, stride) of ``storage``,
        checked to lie inside it and charged against the budget, copied out later."""
        if not isinstance(storage, Storage):
            raise self._fail("builds a tensor from something other than a storage")
        if not (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride) <= MAX_NDIM
                and all(_int(v) and v >= 0 for v in size + stride) and _int(offset) and offset >= 0):
            raise self._fail(f"has a tensor with malformed sizes, strides or offset ({_short(size)}, "
                             f"{_short(stride)}, {_short(offset)})")
        if backward_hooks or metadata:
            raise self._fail("has a tensor with backward hooks or Python attributes")
        count = math.prod(size)
        itemsize = 4 if storage.kind.code in ("f2", "f8", "u2") else np.dtype(storage.kind.code).itemsize
        self.source.charge(count * itemsize, f"a tensor of shape {_short(size)}")
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if count and last >= storage.numel:
            raise self._fail(f"has a tensor of shape {_short(size)} (offset {offset}, strides {_short(stride)}) "
                             f"that reaches element {last:,} of storage {storage.key!r}, which has {storage.numel:,}")
        return _TensorRef(storage, offset, size, stride)
