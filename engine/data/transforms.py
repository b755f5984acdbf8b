"""torchvision-style transforms that run on whole batches.

Usage reads like torchvision::

    transforms.Compose([transforms.RandomCrop(32, padding=4),
                        transforms.RandomHorizontalFlip(),
                        transforms.ToTensor(),
                        transforms.Normalize((0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261))])

Every transform here works on a batch (``apply_batch``, or the DataLoader's
fast path) and also on one sample (``t(img)``: uint8 (H, W[, C]) image, PIL
image, or float (C, H, W) array or Tensor; a result in the tensor domain is a
float32 (C, H, W) :class:`~engine.autograd.Tensor`, as torchvision's ToTensor gives). Random parameters are drawn per sample,
for the whole batch at once, from a numpy Generator: the DataLoader's, seeded
per batch from (seed, epoch, batch index), so results do not depend on
``num_workers``. Outside a loader a single-sample call draws from a fresh
Generator (or from the one installed by ``random_context``).

Geometric and affine steps (crop, flip, ToTensor, Normalize) fuse into one
pass over the pixels (see ``batch.Batch``); ColorJitter, Lighting and
RandomErasing run Numba kernels in place. Any other callable in a Compose
still works, one sample at a time.
"""

import contextlib
import math
import numbers
import threading

import numpy as np

from ..autograd import Tensor
from . import kernels
from .batch import Batch

__all__ = [
    "Compose", "ToTensor", "Normalize", "RandomCrop", "RandomHorizontalFlip",
    "ColorJitter", "Lighting", "RandomErasing", "BatchTransform", "apply_batch",
    "batch_steps", "random_context", "Batch",
]

_local = threading.local()


@contextlib.contextmanager
def random_context(rng):
    """Make single-sample transform calls on this thread draw from ``rng``
    (the DataLoader installs its per-batch Generator this way)."""
    previous = getattr(_local, "rng", None)
    _local.rng = rng
    try:
        yield rng
    finally:
        _local.rng = previous


def _context_rng():
    rng = getattr(_local, "rng", None)
    return rng if rng is not None else np.random.default_rng()


class BatchTransform:
    """Base of the transforms that run on whole batches.

    ``draw(rng, batch)`` returns this call's random parameters for the
    ``batch.n`` samples (None for deterministic transforms, which set
    ``random = False``); ``apply(batch, params)`` updates the ``Batch``.
    """

    random = False

    def draw(self, rng, batch):
        return None

    def apply(self, batch, params):
        raise NotImplementedError

    def __call__(self, img):
        return _apply_one([self], img)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class Compose:
    """Chain transforms: ``Compose([t1, t2])(x) == t2(t1(x))``. When every
    member is a BatchTransform the chain runs batch-wise (and fused);
    otherwise it runs member by member on single samples."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, img):
        steps = batch_steps(self)
        if steps is not None:
            return _apply_one(steps, img)
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        body = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"Compose({body}\n)"


def batch_steps(transform):
    """The flat list of BatchTransforms that ``transform`` (None, a
    BatchTransform, or a Compose, possibly nested) consists of, or None when
    it contains anything else."""
    if transform is None:
        return []
    if isinstance(transform, BatchTransform):
        return [transform]
    if isinstance(transform, Compose):
        steps = []
        for t in transform.transforms:
            sub = batch_steps(t)
            if sub is None:
                return None
            steps += sub
        return steps
    return None


def run(steps, batch, rng=None, to_tensor=False):
    """Apply ``steps`` to ``batch``; returns the materialized array. ``rng``
    (made on demand when None) supplies the random parameters, drawn step by
    step. ``to_tensor`` converts a batch still in the image domain at the end."""
    for t in steps:
        params = None
        if t.random:
            if rng is None:
                rng = _context_rng()
            params = t.draw(rng, batch)
        t.apply(batch, params)
    if to_tensor and not batch.is_tensor:
        batch.to_tensor()
    return batch.materialize()


def apply_batch(transform, x, rng=None, index=None):
    """Run a batch-capable ``transform`` on a batch.

    x: uint8 images (N, H, W) or (N, H, W, C), or float tensors (N, C, H, W);
    index: optional int (M,) rows of ``x`` to take (the batch is then x[index]);
    rng: numpy Generator for the random parameters (default: a fresh one).
    Returns uint8 (N, H, W, C) images or float32 (N, C, H, W) tensors, a new
    array (``x`` is never modified).
    """
    steps = batch_steps(transform)
    if steps is None:
        raise TypeError(f"{transform!r} is not made of batch transforms")
    if index is not None:
        index = np.asarray(index, np.int64)
        if index.ndim != 1 or (len(index) and (index.min() < 0 or index.max() >= len(x))):
            raise IndexError(f"index must be 1-D with values in [0, {len(x)})")
    return run(steps, Batch(x, index), rng)


def _apply_one(steps, img):
    """Single-sample path: a batch of one through ``steps``. An image stays a uint8
    array ((H, W) in, (H, W) out); a tensor-domain result is a float32 (C, H, W) Tensor."""
    x = np.array(img)  # a writable copy: PIL images convert read-only (another kernel specialization)
    gray = x.dtype == np.uint8 and x.ndim == 2
    out = run(steps, Batch(x[None], owned=True), None)[0]
    if out.dtype != np.uint8:
        return Tensor(out)
    return out[..., 0] if gray and out.shape[-1] == 1 else out


def _pair(value, name):
    if isinstance(value, numbers.Number):
        return int(value), int(value)
    if len(value) != 2:
        raise ValueError(f"{name} must be an int or a pair (h, w); got {value!r}")
    return int(value[0]), int(value[1])


class ToTensor(BatchTransform):
    """uint8 image (H, W, C) in [0, 255] -> float32 tensor (C, H, W) in [0, 1]
    (``x / 255``); batches (N, H, W, C) -> (N, C, H, W)."""

    def apply(self, batch, params):
        batch.to_tensor()


class Normalize(BatchTransform):
    """``x[c] = (x[c] - mean[c]) / std[c]`` on a tensor; mean and std have
    one value per channel, or one for all."""

    def __init__(self, mean, std, inplace=False):
        self.mean = tuple(float(m) for m in np.atleast_1d(mean))
        self.std = tuple(float(s) for s in np.atleast_1d(std))
        if any(s == 0 for s in self.std):
            raise ValueError(f"std has a zero: {self.std}")
        self.inplace = inplace
        n = max(len(self.mean), len(self.std))
        mean = self.mean * n if len(self.mean) == 1 else self.mean
        std = self.std * n if len(self.std) == 1 else self.std
        if len(mean) != len(std):
            raise ValueError(f"mean has {len(self.mean)} values but std {len(self.std)}")
        self._scale = tuple(1.0 / s for s in std)
        self._shift = tuple(-m / s for m, s in zip(mean, std))

    def apply(self, batch, params):
        if not batch.is_tensor:
            raise TypeError("Normalize works on tensors: put ToTensor() before it")
        batch.affine(self._scale, self._shift)


class RandomCrop(BatchTransform):
    """Crop a random ``size`` window after padding, as torchvision.

    padding: int (all sides), (left/right, top/bottom) or (left, top, right,
    bottom); pad_if_needed pads both sides of a too-small axis by the missing
    amount; padding_mode: "constant" (``fill``, one value or one per channel),
    "edge", "reflect" or "symmetric". The window's top-left corner in the
    padded image is uniform: ``i ~ U{0..Hp-h}``, ``j ~ U{0..Wp-w}``.
    """

    random = True

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant"):
        self.size = _pair(size, "size")
        if padding is None:
            padding = 0
        pad = [padding] * 4 if isinstance(padding, numbers.Number) else list(padding)
        if len(pad) == 2:
            pad = [pad[0], pad[1], pad[0], pad[1]]
        if len(pad) != 4 or min(pad) < 0:
            raise ValueError(f"padding must be an int, 2 or 4 non-negative ints; got {padding!r}")
        self.padding = tuple(int(p) for p in pad)  # left, top, right, bottom
        self.pad_if_needed = pad_if_needed
        if padding_mode not in kernels.PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {sorted(kernels.PADDING_MODES)}; got {padding_mode!r}")
        self.fill = fill
        self.padding_mode = padding_mode

    def padded(self, height, width):
        """(left, top, right, bottom) padding for an image of this size."""
        left, top, right, bottom = self.padding
        th, tw = self.size
        if self.pad_if_needed and height + top + bottom < th:
            extra = th - (height + top + bottom)
            top, bottom = top + extra, bottom + extra
        if self.pad_if_needed and width + left + right < tw:
            extra = tw - (width + left + right)
            left, right = left + extra, right + extra
        return left, top, right, bottom

    def draw(self, rng, batch):
        """Window corners (top, left), int64 (N,), in unpadded coordinates."""
        left, top, right, bottom = self.padded(batch.height, batch.width)
        hp, wp = batch.height + top + bottom, batch.width + left + right
        th, tw = self.size
        if hp < th or wp < tw:
            raise ValueError(f"crop size {self.size} is larger than the padded image ({hp}, {wp})")
        i = rng.integers(0, hp - th + 1, batch.n)
        j = rng.integers(0, wp - tw + 1, batch.n)
        return i - top, j - left

    def apply(self, batch, params):
        top, left = params
        batch.crop(top, left, self.size[0], self.size[1], kernels.PADDING_MODES[self.padding_mode], self.fill)


class RandomHorizontalFlip(BatchTransform):
    """Mirror left-right each sample with probability ``p``."""

    random = True

    def __init__(self, p=0.5):
        self.p = p

    def draw(self, rng, batch):
        """bool (N,): which samples flip."""
        return rng.random(batch.n) < self.p

    def apply(self, batch, params):
        batch.hflip(params)


def _jitter_range(value, name):
    if isinstance(value, numbers.Number):
        if value < 0:
            raise ValueError(f"{name} must be non-negative; got {value}")
        return max(0.0, 1.0 - value), 1.0 + value
    lo, hi = value
    if not 0 <= lo <= hi:
        raise ValueError(f"{name} range must satisfy 0 <= min <= max; got {value!r}")
    return float(lo), float(hi)


class ColorJitter(BatchTransform):
    """Random brightness, contrast and saturation, in a random order per sample.

    Each argument is ``v`` (factor uniform in [max(0, 1 - v), 1 + v]) or a
    (min, max) range; formulas in ``kernels.color_jitter`` (torchvision's).
    Works on uint8 images (rounded back to uint8 after each operation) and
    on [0, 1] tensors (so place it before Normalize); 1 or 3 channels. ``hue``
    (torchvision's fourth argument) must be 0: hue shifts are not implemented.
    """

    random = True

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0):
        if hue not in (0, (0, 0)):
            raise NotImplementedError(f"ColorJitter(hue={hue!r}): hue jitter is not supported; use brightness, "
                                      "contrast and saturation")
        self.brightness = _jitter_range(brightness, "brightness")
        self.contrast = _jitter_range(contrast, "contrast")
        self.saturation = _jitter_range(saturation, "saturation")

    def draw(self, rng, batch):
        """factors float32 (N, 3) for (brightness, contrast, saturation), and
        order int64 (N, 3), each row a permutation of 0, 1, 2."""
        lo, hi = np.array([self.brightness, self.contrast, self.saturation]).T
        factors = rng.uniform(lo, hi, (batch.n, 3)).astype(np.float32)
        order = np.argsort(rng.random((batch.n, 3)), axis=1)
        return factors, order

    def apply(self, batch, params):
        if batch.channels not in (1, 3):
            raise ValueError(f"ColorJitter needs 1 or 3 channels; the batch has {batch.channels}")
        factors, order = params
        x = batch.materialize()
        if batch.is_tensor:
            kernels.color_jitter(x.transpose(0, 2, 3, 1), factors, order, 1.0, 0.0)
        else:
            kernels.color_jitter(x, factors, order, 255.0, 0.5)


IMAGENET_EIGVAL = (0.2175, 0.0188, 0.0045)
IMAGENET_EIGVEC = ((-0.5675, 0.7192, 0.4009),
                   (-0.5808, -0.0045, -0.8140),
                   (-0.5836, -0.6948, 0.4203))


class Lighting(BatchTransform):
    """AlexNet's PCA colour noise on an RGB tensor in [0, 1]:
    ``x[c] += (eigvec @ (alpha * eigval))[c]`` with ``alpha ~ N(0, alphastd^2)``
    (3 values per sample). Defaults: the ImageNet RGB principal components
    (fb.resnet.torch)."""

    random = True

    def __init__(self, alphastd=0.1, eigval=IMAGENET_EIGVAL, eigvec=IMAGENET_EIGVEC):
        self.alphastd = float(alphastd)
        self.eigval = np.asarray(eigval, np.float64)
        self.eigvec = np.asarray(eigvec, np.float64)
        if self.eigval.shape != (3,) or self.eigvec.shape != (3, 3):
            raise ValueError("eigval must have 3 values and eigvec be 3 x 3")

    def draw(self, rng, batch):
        """float32 (N, 3): the colour offset of each sample."""
        alpha = rng.normal(0.0, self.alphastd, (batch.n, 3))
        return ((alpha * self.eigval) @ self.eigvec.T).astype(np.float32)

    def apply(self, batch, params):
        if not batch.is_tensor or batch.channels != 3:
            raise TypeError("Lighting works on 3-channel tensors: put ToTensor() before it")
        x = batch.materialize()
        x += params[:, :, None, None]


class RandomErasing(BatchTransform):
    """Erase a random rectangle of a tensor with probability ``p``, as torchvision.

    Up to 10 tries per sample: area ``A = H W U(scale)``, aspect
    ``r = exp(U(log ratio))``, ``h = round(sqrt(A r))``, ``w = round(sqrt(A / r))``;
    the first try with h < H and w < W is placed uniformly. value: a number,
    one per channel, or "random" (standard normal noise). inplace: accepted for
    torchvision's signature; the input is never modified either way.
    """

    random = True

    def __init__(self, p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0, inplace=False):
        if not (0 < scale[0] <= scale[1] and 0 < ratio[0] <= ratio[1]):
            raise ValueError(f"scale and ratio must be increasing positive ranges; got {scale!r}, {ratio!r}")
        if isinstance(value, str) and value != "random":
            raise ValueError(f"value must be a number, a tuple or 'random'; got {value!r}")
        self.p = p
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)
        self.value = value
        self.inplace = inplace

    def draw(self, rng, batch):
        """boxes int64 (N, 4) as (i, j, h, w), h = w = 0 where nothing is
        erased, and the values (N, C, H, W) to write there."""
        n, c, height, width = batch.n, batch.channels, batch.height, batch.width
        erase = rng.random(n) < self.p
        area = height * width * rng.uniform(self.scale[0], self.scale[1], (n, 10))
        aspect = np.exp(rng.uniform(math.log(self.ratio[0]), math.log(self.ratio[1]), (n, 10)))
        h = np.rint(np.sqrt(area * aspect)).astype(np.int64)
        w = np.rint(np.sqrt(area / aspect)).astype(np.int64)
        fits = (h < height) & (w < width)
        first = np.argmax(fits, axis=1)
        rows = np.arange(n)
        keep = erase & fits[rows, first]
        h = np.where(keep, h[rows, first], 0)
        w = np.where(keep, w[rows, first], 0)
        i = rng.integers(0, height - h + 1)
        j = rng.integers(0, width - w + 1)
        if isinstance(self.value, str):
            values = rng.standard_normal((n, c, height, width), dtype=np.float32)
        else:
            v = np.broadcast_to(np.atleast_1d(np.asarray(self.value, np.float32)), (c,))
            values = np.broadcast_to(v[None, :, None, None], (n, c, height, width))
        return np.stack([i, j, h, w], axis=1), values

    def apply(self, batch, params):
        if not batch.is_tensor:
            raise TypeError("RandomErasing works on tensors: put ToTensor() before it")
        boxes, values = params
        kernels.erase(batch.materialize(), boxes, values)
