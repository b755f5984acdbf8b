"""Numba kernels behind the batch transforms.

They run on the DataLoader's worker threads while the training thread runs
the layer kernels, so none of them is ``parallel=True`` (two Python threads
entering Numba parallel regions at once abort its workqueue threading layer,
the one used when neither TBB nor OpenMP is available); each releases the
GIL instead (``nogil=True``), and the worker threads give the parallelism. All are pure functions over arrays.

Layout conventions: images are indexed ``[n, y, x, c]`` and tensors
``[n, c, y, x]``; callers hand in transposed views where the memory layout
differs, so one kernel serves uint8 HWC images and float32 CHW tensors.
"""

import numpy as np
from numba import njit, uint64

CONSTANT, EDGE, REFLECT, SYMMETRIC = 0, 1, 2, 3
PADDING_MODES = {"constant": CONSTANT, "edge": EDGE, "reflect": REFLECT, "symmetric": SYMMETRIC}


@njit(nogil=True, cache=True, fastmath=True)
def source_index(i, n, mode):
    """Map coordinate ``i`` on an axis of length ``n`` into ``[0, n)`` by the
    padding ``mode``; -1 means "outside, use the fill value" (CONSTANT).

    EDGE repeats the border pixel, REFLECT mirrors without repeating it
    (``-1 -> 1``), SYMMETRIC mirrors repeating it (``-1 -> 0``)."""
    if i >= 0 and i < n:
        return i
    if mode == CONSTANT:
        return -1
    if mode == EDGE:
        return 0 if i < 0 else n - 1
    period = 2 * n - 2 if mode == REFLECT else 2 * n
    if period == 0:
        return 0
    i = i % period
    if i < n:
        return i
    return period - i if mode == REFLECT else period - 1 - i


@njit(nogil=True, cache=True, fastmath=True)
def remap(src, index, top, left, flip, mode, fill, scale, shift, out):
    """Gather, crop, pad, flip and scale a batch in one pass.

    ``out[n, c, y, x] = src[index[n], sy, sx, c] * scale[c] + shift[c]`` with
    ``sy = top[n] + y`` and ``sx = left[n] + (w - 1 - x if flip[n] else x)``;
    a source coordinate outside ``src`` is mapped by ``source_index(mode)``, or
    for CONSTANT the pixel is ``fill[c]``.

    src: (S, H, W, C) view, any dtype; index, top, left: int64 (N,);
    flip: bool (N,); fill, scale, shift: float32 (C,); out: (N, C, h, w) view,
    float32 or uint8 (uint8 outputs are only written with exact integers).
    Source indices are cast to uint64 once known to be in range: Numba then
    skips its negative-index wraparound and the row loops vectorise; only
    the padding columns take the per-pixel ``source_index`` path.
    """
    n_out, channels, h, w = out.shape
    height = src.shape[1]
    width = src.shape[2]
    for n in range(n_out):
        s = uint64(index[n])
        flipped = flip[n]
        step = -1 if flipped else 1
        first = left[n] + w - 1 if flipped else left[n]  # sx = first + step * x
        # x0 <= x < x1: the columns whose source lies inside the image
        x0 = max(0, first - width + 1) if flipped else max(0, -first)
        x1 = max(x0, min(w, first + 1) if flipped else min(w, width - first))
        base = uint64(first + step * x0)
        for c in range(channels):
            a = scale[c]
            b = shift[c]
            for y in range(h):
                row = out[n, c, y]
                j = source_index(top[n] + y, height, mode)
                if j < 0:
                    row[:] = fill[c]
                    continue
                sy = uint64(j)
                for x in range(x0):
                    row[x] = _outside(src, s, sy, first + step * x, width, mode, fill[c], c, a, b)
                if flipped:
                    for k in range(x1 - x0):
                        row[uint64(x0 + k)] = src[s, sy, base - uint64(k), c] * a + b
                else:
                    for k in range(x1 - x0):
                        row[uint64(x0 + k)] = src[s, sy, base + uint64(k), c] * a + b
                for x in range(x1, w):
                    row[x] = _outside(src, s, sy, first + step * x, width, mode, fill[c], c, a, b)


@njit(nogil=True, cache=True, fastmath=True, inline="always")
def _outside(src, s, sy, sx, width, mode, fill, c, a, b):
    """The value of a pixel whose source column ``sx`` is off the image."""
    i = source_index(sx, width, mode)
    if i < 0:
        return fill
    return src[s, sy, uint64(i), c] * a + b


BRIGHTNESS, CONTRAST, SATURATION = 0, 1, 2


@njit(nogil=True, cache=True, fastmath=True)
def color_jitter(x, factors, order, vmax, rounding):
    """Brightness, contrast and saturation jitter, in place.

    x: (N, H, W, C) view with C of 1 or 3, values in [0, vmax]; factors:
    float32 (N, 3) for (brightness, contrast, saturation); order: int64 (N, 3),
    the per-sample order of the three operations. With ``v = x / vmax`` and
    ``gray = 0.299 R + 0.587 G + 0.114 B`` (``v`` itself when C == 1), each
    operation is clipped to [0, 1]:

    * brightness ``f v``
    * contrast ``f v + (1 - f) mean(gray)`` (mean over the image)
    * saturation ``f v + (1 - f) gray`` (identity when C == 1)

    and stored as ``v * vmax + rounding`` (``rounding=0.5`` rounds to uint8,
    0 for float tensors).
    """
    n_img, height, width, channels = x.shape
    inv = 1.0 / vmax
    for n in range(n_img):
        for k in range(3):
            op = order[n, k]
            f = factors[n, op]
            if f == 1.0 or (op == SATURATION and channels == 1):
                continue
            if op == BRIGHTNESS:
                for y in range(height):
                    for xx in range(width):
                        for c in range(channels):
                            v = min(max(x[n, y, xx, c] * inv * f, 0.0), 1.0)
                            x[n, y, xx, c] = v * vmax + rounding
            else:
                mean = 0.0
                if op == CONTRAST:
                    for y in range(height):
                        for xx in range(width):
                            mean += _gray(x, n, y, xx, channels) * inv
                    mean /= height * width
                for y in range(height):
                    for xx in range(width):
                        base = mean
                        if op == SATURATION:
                            base = _gray(x, n, y, xx, channels) * inv
                        for c in range(channels):
                            v = f * x[n, y, xx, c] * inv + (1.0 - f) * base
                            x[n, y, xx, c] = min(max(v, 0.0), 1.0) * vmax + rounding


@njit(nogil=True, cache=True, fastmath=True)
def _gray(x, n, y, xx, channels):
    if channels == 1:
        return np.float32(x[n, y, xx, 0])
    return np.float32(0.299) * x[n, y, xx, 0] + np.float32(0.587) * x[n, y, xx, 1] + np.float32(0.114) * x[n, y, xx, 2]


@njit(nogil=True, cache=True, fastmath=True)
def erase(x, boxes, values):
    """Random erasing, in place: ``x[n, :, i:i+h, j:j+w] = values[n, :, i:i+h, j:j+w]``
    with ``boxes[n] = (i, j, h, w)`` (h = 0 leaves the sample alone).

    x: float32 (N, C, H, W); boxes: int64 (N, 4); values: (N, C, H, W), may be
    a broadcast view with zero strides."""
    for n in range(x.shape[0]):
        i, j, h, w = boxes[n, 0], boxes[n, 1], boxes[n, 2], boxes[n, 3]
        for c in range(x.shape[1]):
            for y in range(i, i + h):
                for xx in range(j, j + w):
                    x[n, c, y, xx] = values[n, c, y, xx]
