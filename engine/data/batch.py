"""The batch that transforms act on: an array plus a pending, fused remap.

Geometric and per-channel affine transforms (gather by index, crop with
padding, horizontal flip, ToTensor's 1/255, Normalize) do not touch pixels
when applied: they compose into a pending remap that ``materialize`` computes
in one pass of ``kernels.remap``. So the usual ``RandomCrop, RandomHorizontalFlip,
ToTensor, Normalize`` pipeline reads each source pixel once and writes each
output value once. Transforms that need pixel values (colour jitter, erasing,
lighting) materialize first and then work in place.

A batch is in one of two domains:

* image: uint8, (N, H, W, C) -- what datasets hold (grayscale gets C = 1);
* tensor: float32, (N, C, H, W) -- what ToTensor makes and the engine eats.
"""

import functools
import numbers

import numpy as np

from . import kernels


@functools.lru_cache(maxsize=16)
def _zeros(n, dtype):
    """Zeros (N,) standing for absent offsets (int64) or flips (bool); never written to."""
    return np.zeros(n, dtype)


class Batch:
    """N samples of ``array`` (all of it, or the rows ``index``) with a pending remap.

    ``array``: uint8 (S, H, W) or (S, H, W, C) images, or float (S, C, H, W)
    tensors (cast to float32). ``index``: int64 (N,) rows of ``array`` to take,
    each in ``[0, S)`` (not checked). ``owned``: whether ``array`` may be
    written in place (False for a dataset's own data).

    ``height``, ``width``, ``channels``, ``is_tensor`` describe the batch as it
    will be once the pending operations are done.
    """

    def __init__(self, array, index=None, owned=False):
        array = np.asarray(array)
        if array.dtype == np.uint8:
            if array.ndim == 3:
                array = array[..., None]
            if array.ndim != 4:
                raise ValueError(f"an image batch is uint8 (N, H, W) or (N, H, W, C); got shape {array.shape}")
            self._tensor = False
        else:
            if array.ndim != 4:
                raise ValueError(f"a tensor batch is float (N, C, H, W); got shape {array.shape}")
            self._tensor = True
            if array.dtype != np.float32:
                array, owned = array.astype(np.float32), True
        self.array = array
        self.owned = owned
        self.n = len(array) if index is None else len(index)
        self._index = index
        self._reset()

    # -- shape of the batch once the pending operations are done -------------
    @property
    def channels(self):
        return self.array.shape[1] if self._tensor else self.array.shape[3]

    @property
    def is_tensor(self):
        return self._tensor or self._to_tensor

    def _source(self):
        """``array`` as an (S, H, W, C)-indexed view."""
        return self.array.transpose(0, 2, 3, 1) if self._tensor else self.array

    def _reset(self):
        src = self._source()
        self.height, self.width = src.shape[1], src.shape[2]
        self._top = self._left = self._flip = None
        self._cropped = False
        self._mode = kernels.CONSTANT
        c = self.channels
        # per-channel values as tuples of C floats: cheaper than tiny arrays
        self._fill = self._shift = (0.0,) * c
        self._scale = (1.0,) * c
        self._to_tensor = False
        self._identity = True

    # -- pending operations ---------------------------------------------------
    def crop(self, top, left, height, width, mode=kernels.CONSTANT, fill=0.0):
        """Crop a ``height x width`` window whose top-left corner is at
        (``top[n]``, ``left[n]``) in the current image; coordinates outside it
        (padding) follow ``mode``, or take ``fill`` (per channel, in the
        current value units) for CONSTANT."""
        if self._cropped:
            self.materialize()
        top = np.asarray(top, np.int64)
        left = np.asarray(left, np.int64)
        if self._flip is not None:
            left = np.where(self._flip, self.width - width - left, left)
        self._top, self._left = top, left
        self.height, self.width = height, width
        self._mode = mode
        self._fill = self._per_channel(fill, "fill")
        self._cropped = True
        self._identity = False

    def hflip(self, mask):
        """Mirror left-right the samples where ``mask`` (bool (N,)) is True."""
        mask = np.asarray(mask, bool)
        self._flip = mask if self._flip is None else self._flip ^ mask
        self._identity = False

    def affine(self, scale, shift):
        """``v -> v * scale[c] + shift[c]`` for every value, padding included."""
        scale = self._per_channel(scale, "scale")
        shift = self._per_channel(shift, "shift")
        self._scale = tuple([a * s for a, s in zip(self._scale, scale)])
        self._shift = tuple([b * s + t for b, s, t in zip(self._shift, scale, shift)])
        self._fill = tuple([f * s + t for f, s, t in zip(self._fill, scale, shift)])
        self._identity = False

    def to_tensor(self):
        """uint8 (N, H, W, C) in [0, 255] -> float32 (N, C, H, W) in [0, 1]."""
        if self.is_tensor:
            raise TypeError("ToTensor expects uint8 images (H, W[, C]) but the batch is already a float tensor")
        self._to_tensor = True
        self.affine(1.0 / 255.0, 0.0)

    def _per_channel(self, value, what):
        """``value`` (a number, or 1 or C numbers) as a tuple of C floats."""
        c = self.channels
        if type(value) is tuple and len(value) == c:
            return value
        if isinstance(value, numbers.Real):
            return (float(value),) * c
        v = tuple(float(x) for x in np.ravel(value))
        if len(v) not in (1, c):
            raise ValueError(f"{what} has {len(v)} values for {c} channels")
        return v * c if len(v) == 1 else v

    # -- computing ------------------------------------------------------------
    def materialize(self):
        """Compute the pending operations; returns the owned result array
        (uint8 (N, H, W, C) or float32 (N, C, H, W)) and makes it the new source."""
        if self._identity and self._index is None:
            if not self.owned:
                self.array, self.owned = self.array.copy(), True
            return self.array
        n, c, h, w = self.n, self.channels, self.height, self.width
        tensor = self.is_tensor
        if tensor:
            out = np.empty((n, c, h, w), np.float32)
            view = out
        else:
            out = np.empty((n, h, w, c), np.uint8)
            view = out.transpose(0, 3, 1, 2)
        zeros = _zeros(n, np.int64)
        kernels.remap(
            self._source(),
            np.arange(n, dtype=np.int64) if self._index is None else self._index,
            zeros if self._top is None else self._top,
            zeros if self._left is None else self._left,
            _zeros(n, np.bool_) if self._flip is None else self._flip,
            self._mode,
            np.array(self._fill, np.float32),
            np.array(self._scale, np.float32),
            np.array(self._shift, np.float32),
            view,
        )
        self.array, self.owned, self._tensor, self._index = out, True, tensor, None
        self._reset()
        return out
