"""safetensors files in and out, through the ``safetensors`` package's numpy API
(``pip install 'numbacnn[safetensors]'``).

A file written here names each tensor by its state_dict key, as torch does ("0.weight",
"3.body.1.running_mean", ...), so ``torch_model.load_state_dict(safetensors.torch.load_file(
path))`` takes it as it is. Its header metadata holds ``{"format": "pt", "numbacnn.spec":
the model's JSON spec}``, so the file alone rebuilds the model. Reading converts float16,
bfloat16 (needs the ``ml_dtypes`` package, which ``onnx`` brings along) and float64 tensors
to float32; integer tensors keep their type.
"""
from __future__ import annotations

import json
import math
import os

import numpy as np

from ..train.checkpoint import atomic_write_bytes
from .errors import WeightsError
from .state import load_into, state_dict_from
from .torch_file import MAX_BYTES

__all__ = ["save_safetensors", "load_safetensors", "read_safetensors", "is_safetensors", "SPEC_KEY"]

SPEC_KEY = "numbacnn.spec"
INSTALL = "safetensors files need the safetensors package: pip install 'numbacnn[safetensors]'"


def _package():
    """The optional ``safetensors`` package (its numpy API and safe_open)."""
    try:
        import safetensors
        import safetensors.numpy
    except ImportError:
        raise WeightsError(INSTALL) from None
    return safetensors


def is_safetensors(path) -> bool:
    """Whether ``path`` starts like a safetensors file: a little-endian header length, then '{'."""
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{" and 2 <= int.from_bytes(head[:8], "little") <= os.path.getsize(path)


def save_safetensors(model, path) -> str:
    """Writes ``model.state_dict()`` to ``path`` as safetensors, atomically (a crash leaves
    the previous file whole). Returns the path."""
    st = _package()
    tensors = {k: np.require(v, requirements="C") for k, v in model.state_dict().items()}
    meta = {"format": "pt", SPEC_KEY: json.dumps(model.spec(), separators=(",", ":"))}
    atomic_write_bytes(path, st.numpy.save(tensors, metadata=meta))
    return os.fspath(path)


def read_safetensors(path, max_bytes: int = MAX_BYTES) -> tuple[dict, dict]:
    """``(arrays, metadata)`` of a safetensors file: ``{name: array}`` in file order (floats
    as float32) and the header's string metadata. WeightsError (one sentence) for a missing,
    damaged or foreign file, or one whose bytes and arrays would take more than
    ``max_bytes`` (counted from the header before any tensor is read)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WeightsError(f"weights file {path!r} does not exist" if not os.path.exists(path)
                           else f"{path!r} is a folder, not a weights file")
    st = _package()
    try:
        import ml_dtypes  # noqa: F401 - registers numpy's bfloat16, which safetensors then reads
    except ImportError:
        pass
    try:
        with st.safe_open(path, framework="np") as f:
            meta = dict(f.metadata() or {})
            keys = list(f.keys())
            need = os.path.getsize(path) + sum(
                math.prod(sl.get_shape()) * _OUT_ITEMSIZE.get(sl.get_dtype(), 8) for sl in map(f.get_slice, keys))
            if need > max_bytes:
                raise WeightsError(f"{path}: reading it needs {need:,} bytes, past the reader's limit of "
                                   f"{max_bytes:,} bytes for this file (max_bytes)")
            arrays = {k: _float32(f.get_tensor(k)) for k in keys}
    except WeightsError:
        raise
    except TypeError as e:
        if "bfloat16" in str(e):
            raise WeightsError(f"{path} holds bfloat16 tensors, which numpy reads with the ml_dtypes package: "
                               "pip install ml_dtypes") from None
        raise WeightsError(f"{path} is not a readable safetensors file ({e})") from None
    except (st.SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{path} is not a readable safetensors file ({str(e).strip()[:200]})") from None
    return arrays, meta


# bytes per element once read (floats become float32); other types count 8
_OUT_ITEMSIZE = {"F64": 4, "F32": 4, "F16": 4, "BF16": 4, "I64": 8, "U64": 8, "I32": 4, "U32": 4, "I16": 2, "U16": 2,
                 "I8": 1, "U8": 1, "BOOL": 1}


def _float32(a: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "f" or a.dtype.name == "bfloat16":
        return np.require(a, dtype=np.float32, requirements="C")
    return np.require(a, requirements="C")


def load_safetensors(model, path):
    """Loads the state_dict in safetensors file ``path`` into ``model`` (strict: the same
    keys and shapes; a ``module.`` prefix on every key is dropped). Returns ``model``."""
    path = os.fspath(path)
    return load_into(model, state_dict_from(read_safetensors(path)[0], source=path), source=path)
