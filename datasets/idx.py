"""The IDX format of MNIST-style files: a 4-byte magic (0, 0, type, ndim),
ndim big-endian uint32 sizes, then the values. Only unsigned bytes (type
0x08) are used by these datasets."""

import math
import struct

import numpy as np

from . import limits
from .errors import DatasetError
from .files import GZIP_MAGIC, gunzip, read_file

UBYTE = 0x08


def read_idx(path, ndim, check_dims=None):
    """(array, file bytes, IDX bytes) of the IDX file ``path``, gzipped or not.

    The header is read first: ``check_dims(dims)`` may refuse the sizes it
    declares (raising DatasetError), and a gzip stream is inflated only up
    to the declared size -- at most ``limits.inflate_limit`` of the file's
    size -- so a small file cannot inflate to gigabytes.
    """
    blob = read_file(path)
    gz = blob[:2] == GZIP_MAGIC
    header = 4 + 4 * ndim
    dims = parse_header(gunzip(blob, path, header, head=True) if gz else blob[:header], path, ndim)
    if check_dims is not None:
        check_dims(dims)
    declared = header + math.prod(dims)
    if gz and declared > limits.inflate_limit(len(blob)):
        raise DatasetError(f"{path}: the header declares {' x '.join(map(str, dims))} = {declared - header:,} bytes, "
                           f"more than a {len(blob):,}-byte gzip file can plausibly hold")
    raw = gunzip(blob, path, declared) if gz else blob
    return parse_idx(raw, path, ndim), blob, raw


def parse_header(raw, path, ndim):
    """The ``ndim`` sizes an IDX header (the start of ``raw``) declares;
    DatasetError naming ``path`` for a bad magic, type, rank or truncation."""
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
    return struct.unpack(f">{ndim}I", raw[4:header])


def parse_idx(raw, path, ndim):
    """The uint8 array of shape (d1, ..., d_ndim) that IDX bytes ``raw`` hold;
    DatasetError naming ``path`` for a bad header (``parse_header``),
    truncation, trailing bytes or an empty array."""
    dims = parse_header(raw, path, ndim)
    header = 4 + 4 * ndim
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
