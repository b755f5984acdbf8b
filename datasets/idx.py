"""The IDX format of MNIST-style files: a 4-byte magic (0, 0, type, ndim),
ndim big-endian uint32 sizes, then the values. Only unsigned bytes (type
0x08) are used by these datasets."""

import gzip
import math
import struct
import zlib

import numpy as np

from .errors import DatasetError

UBYTE = 0x08


def read_bytes(path):
    """(file bytes, uncompressed bytes) of a file that may be gzipped."""
    try:
        blob = path.read_bytes()
    except OSError as e:
        raise DatasetError(f"{path}: cannot be read ({e.strerror or e})") from None
    if blob[:2] != b"\x1f\x8b":
        return blob, blob
    try:
        return blob, gzip.decompress(blob)
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"{path}: broken gzip stream ({e})") from None


def parse_idx(raw, path, ndim):
    """The uint8 array of shape (d1, ..., d_ndim) that IDX bytes ``raw`` hold;
    DatasetError naming ``path`` for a bad magic, type, rank, truncation,
    trailing bytes or an empty array."""
    if len(raw) < 4:
        raise DatasetError(f"{path}: {len(raw)} bytes is too short for an IDX header")
    if raw[0] or raw[1]:
        raise DatasetError(f"{path}: bad magic number 0x{raw[:4].hex()}, not an IDX file")
    if raw[2] != UBYTE:
        raise DatasetError(f"{path}: IDX data type 0x{raw[2]:02x} is not unsigned byte (0x08)")
    if raw[3] != ndim:
        raise DatasetError(f"{path}: IDX array has {raw[3]} dimensions where {ndim} are expected")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated IDX header ({len(raw)} of {header} bytes)")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    shape = " x ".join(map(str, dims))
    expected, held = math.prod(dims), len(raw) - header
    if held < expected:
        raise DatasetError(f"{path}: truncated, the header declares {shape} = {expected} bytes of data "
                           f"but the file holds {held}")
    if held > expected:
        raise DatasetError(f"{path}: {held - expected} bytes follow the {shape} data the header declares")
    if expected == 0:
        raise DatasetError(f"{path}: holds no data (shape {shape})")
    return np.frombuffer(raw, np.uint8, count=expected, offset=header).reshape(dims).copy()
