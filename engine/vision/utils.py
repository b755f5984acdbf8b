"""``engine.vision.utils``, shaped like ``torchvision.utils``: ``make_grid`` (a batch of
images tiled into one (C, H', W') Tensor) and ``save_image`` (that grid as a PNG/JPEG file)."""
from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..autograd import Tensor
from ..nn.layers._args import positive_int
from ..train.checkpoint import atomic_write_bytes
from ._refuse import refusals

MAX_GRID_BYTES = 1 << 30  # a grid larger than this is refused (a padding or nrow mistake)


def _batch(tensor) -> np.ndarray:
    """``tensor`` (a Tensor, or a list/tuple of same-shape Tensors) as an (N, C, H, W)
    array, torchvision's way: (H, W) -> one image; one-channel images -> three channels."""
    if isinstance(tensor, (list, tuple)):
        bad = next((t for t in tensor if not isinstance(t, Tensor)), None)
        if not tensor or bad is not None:
            raise TypeError("make_grid: give a Tensor or a non-empty list of Tensors"
                            + (f", not a list holding a {type(bad).__name__}" if bad is not None else ""))
        shapes = {t.shape for t in tensor}
        if len(shapes) > 1:
            raise ValueError(f"make_grid: the images differ in shape ({', '.join(map(str, sorted(shapes)))})")
        x = np.stack([t.numpy() for t in tensor])
    elif isinstance(tensor, Tensor):
        x = tensor.numpy()
    else:
        raise TypeError(f"make_grid: give a Tensor or a list of Tensors, not a {type(tensor).__name__}")
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 3:
        x = (np.concatenate([x, x, x]) if x.shape[0] == 1 else x)[None]
    if x.ndim != 4:
        raise ValueError(f"make_grid: images are (B, C, H, W), (C, H, W) or (H, W); got shape {x.shape}")
    return np.concatenate([x, x, x], axis=1) if x.shape[1] == 1 else x


def _normalized(x: np.ndarray, value_range, scale_each: bool) -> np.ndarray:
    """A copy of ``x`` clamped to ``value_range`` (default: its own min and max, per image
    when ``scale_each``) and mapped to [0, 1]."""
    if value_range is not None and not (isinstance(value_range, tuple) and len(value_range) == 2):
        raise TypeError(f"make_grid: value_range must be a tuple (min, max), got {value_range!r}")
    x = x.astype(np.float32) if x.dtype.kind != "f" else x.copy()
    for img in (x if scale_each else [x]):
        low, high = value_range if value_range is not None else (float(img.min()), float(img.max()))
        np.clip(img, low, high, out=img)
        img -= low
        img /= max(high - low, 1e-5)
    return x


def make_grid(tensor, nrow: int = 8, padding: int = 2, normalize: bool = False, value_range=None,
              scale_each: bool = False, pad_value: float = 0.0) -> Tensor:
    """The images of ``tensor`` (B, C, H, W) (or a list of (C, H, W) Tensors) tiled into
    one (C, H', W') Tensor, ``nrow`` per row, ``padding`` pixels of ``pad_value`` between
    and around them; as ``torchvision.utils.make_grid``, including its special cases
    (one-channel images become three channels; a single image comes back unpadded).
    normalize: map to [0, 1] by ``value_range`` (min, max), else by the batch's own
    (or, with ``scale_each``, each image's own) min and max. The dtype is kept, and the
    device of a Tensor input."""
    nrow = positive_int("nrow", nrow, "make_grid")
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"make_grid: padding must be a non-negative integer, got {padding!r}")
    like = tensor if isinstance(tensor, Tensor) else (tensor[0] if isinstance(tensor, (list, tuple)) and tensor
                                                      else None)
    x = _batch(tensor)
    if normalize:
        x = _normalized(x, value_range, scale_each)
    if len(x) == 1:
        grid = x[0]
    else:
        n, c, h, w = x.shape
        cols = min(nrow, n)
        rows = math.ceil(n / cols)
        cell_h, cell_w = h + padding, w + padding
        size = c * (rows * cell_h + padding) * (cols * cell_w + padding) * x.itemsize
        if size > MAX_GRID_BYTES:
            raise ValueError(f"make_grid: the grid would take {size:,} bytes (more than {MAX_GRID_BYTES:,}); "
                             f"use a smaller padding or fewer images")
        cells = np.full((rows * cols, c, cell_h, cell_w), pad_value, x.dtype)
        cells[:n, :, padding:, padding:] = x
        grid = np.full((c, rows * cell_h + padding, cols * cell_w + padding), pad_value, x.dtype)
        grid[:, :rows * cell_h, :cols * cell_w] = (
            cells.reshape(rows, cols, c, cell_h, cell_w).transpose(2, 0, 3, 1, 4).reshape(c, rows * cell_h, -1))
    return Tensor(np.ascontiguousarray(grid), device=like.device if like is not None else None)


def save_image(tensor, fp, format: str | None = None, **kwargs) -> None:
    """``make_grid(tensor, **kwargs)`` written to the file ``fp`` as an 8-bit image (values in
    [0, 1] -> 0..255, rounded and clamped), as ``torchvision.utils.save_image``. The format
    comes from ``format`` or the file's extension (.png, .jpg, .bmp, ...); the file is
    written whole or not at all."""
    if not isinstance(fp, (str, os.PathLike)):
        raise TypeError("save_image: give a file path (open file objects are not supported)")
    fmt = format or Image.registered_extensions().get(Path(fp).suffix.lower())
    if fmt is None:
        raise ValueError(f"save_image: {fp}: unknown image extension; use .png or .jpg, or pass format='PNG'")
    grid = make_grid(tensor, **kwargs).numpy()
    if grid.shape[0] not in (3, 4):
        raise ValueError(f"save_image: images have {grid.shape[0]} channels; an image file holds 1, 3 or 4")
    pixels = np.clip(grid.astype(np.float32) * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format=fmt)
    atomic_write_bytes(os.fspath(fp), buffer.getvalue())


globals().update(refusals("utils", {name: "engine.vision.utils has make_grid and save_image" for name in (
    "draw_bounding_boxes", "draw_segmentation_masks", "draw_keypoints", "flow_to_image")}))

__all__ = ["make_grid", "save_image"]
