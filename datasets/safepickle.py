"""A pickle reader that can only build plain containers and numeric numpy arrays.

What the official CIFAR pickles need (Python 2 cPickle, protocol 2) and
what Python 3 writes for the same data at protocols 0-5, and nothing else:

- numbers, strings, bytes, None, booleans, lists, tuples, dicts, sets;
- numpy arrays of a plain numeric dtype (bool, int8..int64, uint8..uint64,
  float16..float64) from numpy's own recipes: ``_reconstruct`` + state
  (protocols 0-4) or ``_frombuffer`` (protocol 5), with their raw bytes;
- bytes as Python 3 writes them at protocols 0-2: ``_codecs.encode(text,
  'latin1')``, and ``__builtin__.bytes()`` for ``b''``.

No numpy callable ever sees a value the pickle chose: ``numpy.dtype``,
``numpy.ndarray`` and ``_reconstruct`` resolve to inert stand-ins that
record what the pickle asks for; the array is built here, from validated
bytes, only once its whole description is known (object dtypes, structured
dtypes, odd byte orders, sizes that disagree with the bytes: refused). The
opcodes are checked before anything is built: persistent ids, extension
codes, INST/OBJ/NEWOBJ, out-of-band buffers and memo indices beyond the
number of objects memoized so far (picklers number them 0, 1, 2, ...; a
9-byte pickle with a huge index makes the unpickler allocate gigabytes) are
refused, as are bytes after STOP.
"""

import io
import math
import pickle
import pickletools

import numpy as np

_FORBIDDEN_OPCODES = {"PERSID", "BINPERSID", "EXT1", "EXT2", "EXT4", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX",
                      "NEXT_BUFFER", "READONLY_BUFFER"}
_MEMO_PUTS = {"PUT", "BINPUT", "LONG_BINPUT"}  # with an index; MEMOIZE takes the next one
_NUMERIC_CODES = {"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8"}
_BYTE_ORDERS = {"<", ">", "|", "="}
_MAX_DIMS = 32


def _text(value):
    """A str or a Python 2 str (bytes, under encoding='bytes') as str, else None."""
    if isinstance(value, bytes):
        return value.decode("latin1")
    return value if isinstance(value, str) else None


class _DType:
    """A dtype a pickle names: only a plain numeric code and a byte order."""

    def __init__(self, code):
        self.code, self.order = code, "="

    def __setstate__(self, state):
        # numpy writes (3, byteorder, subarray, names, fields, elsize, alignment, flags):
        # (3, '<' or '|', None, None, None, -1, -1, 0) for every plain numeric type
        if not (isinstance(state, tuple) and len(state) == 8 and _text(state[1]) in _BYTE_ORDERS
                and all(type(v) is int for v in state[:1] + state[5:])
                and state[:1] + state[2:] == (3, None, None, None, -1, -1, 0)):
            raise pickle.UnpicklingError(f"dtype {self.code} has a state other than a plain numeric type's")
        self.order = _text(state[1])

    def numpy(self):
        dtype = np.dtype(self.code)
        return dtype.newbyteorder(self.order) if self.order in "<>" else dtype


def _dtype(code, *flags):
    text = _text(code)
    if text not in _NUMERIC_CODES:
        shown = repr(text[:20]) if text is not None else f"a {type(code).__name__}"
        raise pickle.UnpicklingError(f"dtype {shown} is not a plain numeric type (object dtypes and "
                                     f"structured ones are not allowed)")
    return _DType(text)


def _ndarray(*args):
    raise pickle.UnpicklingError("numpy.ndarray may only be named as the class of a reconstructed array")


def _build(raw, dtype, shape, order):
    """A new numpy array of ``shape`` and the ``_DType`` ``dtype`` holding exactly the bytes ``raw``."""
    if not isinstance(dtype, _DType):
        raise pickle.UnpicklingError(f"an array's dtype is a {type(dtype).__name__}, not a numpy dtype")
    if not isinstance(raw, (bytes, bytearray)):
        raise pickle.UnpicklingError(f"an array's data is a {type(raw).__name__}, not raw bytes")
    if not (isinstance(shape, tuple) and len(shape) <= _MAX_DIMS and all(type(d) is int and d >= 0 for d in shape)):
        raise pickle.UnpicklingError("an array's shape is not a tuple of sizes")
    dtype = dtype.numpy()
    if math.prod(shape) * dtype.itemsize != len(raw):
        raise pickle.UnpicklingError(f"an array of shape {shape} and dtype {dtype} needs "
                                     f"{math.prod(shape) * dtype.itemsize} bytes, the pickle holds {len(raw)}")
    return np.frombuffer(raw, dtype).reshape(shape, order=order).copy()


class _Array:
    """An array a pickle is building: ``_reconstruct`` makes it empty, the
    BUILD that follows gives its state, ``_frombuffer`` makes it whole."""

    def __init__(self, array=None):
        self.array = array

    def __setstate__(self, state):
        # numpy writes (version, shape, dtype, is_fortran, raw bytes); very old files lack the version
        if self.array is not None:
            raise pickle.UnpicklingError("an array is given its state twice")
        if isinstance(state, tuple) and len(state) == 5 and state[0] == 1:
            state = state[1:]
        if not (isinstance(state, tuple) and len(state) == 4 and type(state[2]) in (bool, int)):
            raise pickle.UnpicklingError("an array's state is not (shape, dtype, is_fortran, bytes)")
        shape, dtype, fortran, raw = state
        self.array = _build(raw, dtype, shape, "F" if fortran else "C")


def _reconstruct(cls, *args):
    if cls is not _ndarray:
        raise pickle.UnpicklingError("_reconstruct may only make a numpy.ndarray")
    return _Array()


def _frombuffer(buf, dtype, shape, order):
    if _text(order) not in ("C", "F"):
        raise pickle.UnpicklingError("an array's order is not 'C' or 'F'")
    return _Array(_build(buf, dtype, shape, _text(order)))


def _encode(text, encoding):
    if type(text) is not str or _text(encoding) not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode may only turn a str into latin-1 bytes")
    return text.encode("latin-1")


def _bytes(*args):
    if args:
        raise pickle.UnpicklingError("bytes() may only be called without arguments (b'')")
    return b""


_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): _ndarray,
    ("numpy", "dtype"): _dtype,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("_codecs", "encode"): _encode,
    ("__builtin__", "bytes"): _bytes,
    ("builtins", "bytes"): _bytes,
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _GLOBALS[(module, name)]
        except (KeyError, TypeError):
            raise pickle.UnpicklingError(f"forbidden global {module}.{name}") from None


def _check_opcodes(data):
    """Raise UnpicklingError for an opcode this reader does not allow, a
    memo index beyond the number of objects memoized so far, or bytes after STOP."""
    memoized, end = 0, 0
    for opcode, arg, pos in pickletools.genops(data):
        if opcode.name in _FORBIDDEN_OPCODES:
            raise pickle.UnpicklingError(f"opcode {opcode.name} at byte {pos} is not allowed")
        if opcode.name in _MEMO_PUTS and arg > memoized:
            raise pickle.UnpicklingError(f"memo index {arg} at byte {pos} is out of range")
        memoized += opcode.name in _MEMO_PUTS or opcode.name == "MEMOIZE"
        end = pos + 1
    if end != len(data):
        raise pickle.UnpicklingError(f"{len(data) - end} bytes follow the end of the pickle")


def _resolve(value):
    """``value`` with each finished ``_Array`` in it replaced by its numpy
    array. Arrays may sit in lists and as dict values, where the official
    files have them; anywhere else (a tuple, a set, a dict key), or an
    array never given its data, is refused. Shared and cyclic references
    are visited once."""
    if isinstance(value, _Array):
        return _finished(value)
    if isinstance(value, _DType):
        raise pickle.UnpicklingError("a bare dtype is not allowed")
    seen, stack = set(), [value]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, (list, dict)):
            if isinstance(obj, dict) and any(isinstance(k, (_Array, _DType)) for k in obj):
                raise pickle.UnpicklingError("an array or dtype is used as a dict key")
            for key, item in list(obj.items() if isinstance(obj, dict) else enumerate(obj)):
                if isinstance(item, _Array):
                    obj[key] = _finished(item)
                elif isinstance(item, _DType):
                    raise pickle.UnpicklingError("a bare dtype is not allowed")
                else:
                    stack.append(item)
        elif isinstance(obj, (tuple, set, frozenset)):
            if any(isinstance(item, (_Array, _DType)) for item in obj):
                raise pickle.UnpicklingError("an array or dtype inside a tuple or set is not allowed")
            stack.extend(obj)
    return value


def _finished(stub):
    if stub.array is None:
        raise pickle.UnpicklingError("an array is never given its data")
    return stub.array


def loads(data):
    """Unpickle ``data`` (Python 2 strings become bytes) with only what the
    module docstring lists; raises pickle.UnpicklingError, saying what is
    wrong, for anything else, a damaged pickle included."""
    try:
        _check_opcodes(data)
        return _resolve(_Unpickler(io.BytesIO(data), encoding="bytes").load())
    except pickle.UnpicklingError:
        raise
    except Exception as e:  # a malformed pickle can raise nearly anything; all of it means "broken"
        raise pickle.UnpicklingError(f"{type(e).__name__}: {e}") from None
