"""A pickle reader that can only build plain containers and numpy arrays.

The official CIFAR pickles (Python 2 cPickle, protocol 2) reference exactly
numpy's array reconstruction (``_reconstruct``, ``ndarray``, ``dtype``);
pickles written by Python 3 at protocol 2 also encode bytes through
``_codecs.encode``, and at protocol 5 arrays come from ``_frombuffer``.
Nothing else may be imported, so a crafted file can never call
``os.system`` or the like, and object arrays (whose elements could be
anything) are refused.
"""

import _codecs
import io
import pickle

import numpy as np

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct


def _dtype(*args):
    dt = np.dtype(*args)
    if dt.hasobject:
        raise pickle.UnpicklingError("object dtypes are not allowed")
    return dt


def _frombuffer(buf, dtype, shape, order):
    """numpy's protocol-5 array reconstruction, refusing object dtypes."""
    return np.frombuffer(buf, dtype=_dtype(dtype)).reshape(shape, order=order)


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _dtype,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("_codecs", "encode"): _codecs.encode,
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"forbidden global {module}.{name}") from None


def loads(data):
    """Unpickle ``data`` (Python 2 strings become bytes); raises
    pickle.UnpicklingError (or another ordinary exception) on anything else."""
    return _Unpickler(io.BytesIO(data), encoding="bytes").load()
