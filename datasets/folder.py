"""ImageFolder: one sub-folder per class, from a folder or an archive, decoded once and cached."""

import io
from pathlib import Path

import numpy as np
from PIL import Image

from . import cache, limits
from .archive import ImageFiles, is_archive
from .base import VisionDataset
from .errors import DatasetError

GRAY_MODES = {"1", "L", "LA", "I", "I;16", "F"}
# the decoders a file may pick (by its bytes, whatever its name): no EPS (which runs Ghostscript) or other rarities
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "PPM", "TIFF", "WEBP")


class ImageFolder(VisionDataset):
    """Images in class folders: ``root/<class>/**/<image>`` (png, jpg, bmp,
    gif, ppm, pgm, tif, webp), classes sorted by name, samples sorted by path.

    root: a folder, or a ``.tar``, ``.tar.gz``, ``.tgz`` or ``.zip`` of such a
    tree; in an archive, single top-level folders wrapping the class folders
    (``train/<class>/...``) are skipped. size: None (all images must share a
    size), an int or (h, w) to resize (bilinear) while decoding. grayscale:
    None keeps grayscale if every image is grayscale (else RGB), True or
    False forces it.

    data: uint8 (N, H, W) grayscale or (N, H, W, 3) RGB; targets: int64 (N,);
    samples: [(relative path, target)]. Decoding happens once: the arrays
    are cached (see ``datasets.cache``) keyed by the source's size and mtime,
    so later opens only read the cache.

    Damaged sources raise DatasetError naming the file, never load in part:
    an image that does not decode (truncated, garbage, an unknown format),
    one larger than ``limits.MAX_IMAGE_PIXELS`` (a decompression bomb), more
    decoded images than ``limits.decoded_budget()`` bytes, a damaged or
    truncated archive (see ``datasets.archive``), a broken link or a
    non-UTF-8 name among the images. Hidden files and folders, non-image
    files and what is not a regular file (FIFOs, devices) are skipped.
    """

    def __init__(self, root, transform=None, size=None, grayscale=None, target_transform=None):
        if size is not None:
            size = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
        if not Path(root).exists():
            raise DatasetError(f"{root}: no such folder or archive")
        path = cache.cache_path("imagefolder", root, size=size, grayscale=grayscale)
        arrays = _valid(cache.load(path))
        if arrays is None:
            arrays = _decode_tree(root, size, grayscale)
            cache.save(path, **arrays)
        names = arrays["names"].tolist()
        super().__init__(arrays["data"], arrays["targets"], arrays["classes"].tolist(),
                         transform, target_transform, root, split_note=f"all {len(names):,} images")
        self.samples = list(zip(names, self.targets.tolist()))

    def select(self, indices, split_note):
        part = super().select(indices, split_note)
        part.samples = [self.samples[i] for i in np.asarray(indices, dtype=np.int64)]
        return part


def _valid(arrays):
    """The cached arrays if they are complete and consistent, else None."""
    if arrays is None or not {"data", "targets", "classes", "names"} <= arrays.keys():
        return None
    data, targets, classes, names = arrays["data"], arrays["targets"], arrays["classes"], arrays["names"]
    ok = (data.dtype == np.uint8 and data.ndim in (3, 4) and targets.dtype == np.int64
          and targets.shape == (len(data),) and names.shape == (len(data),) and classes.ndim == 1
          and len(data) > 0 and targets.min() >= 0 and targets.max() < len(classes))
    return arrays if ok else None


def _decode_tree(root, size, grayscale):
    with ImageFiles(root) as files:
        parts = [name.split("/") for name in files.names]
        strip = 0
        if is_archive(root):
            while parts and all(len(p) - strip >= 3 for p in parts) and len({p[strip] for p in parts}) == 1:
                strip += 1
        names = [name for name, p in zip(files.names, parts) if len(p) - strip >= 2]
        if not names:
            raise DatasetError(f"{root}: no images in class sub-folders "
                               f"(expected <class>/<image>.png|jpg|bmp|gif|... files)")
        labels = [name.split("/")[strip] for name in names]
        budget, images = limits.decoded_budget(), []
        for name in names:
            images.append(_decode(root, name, files.read(name), size, grayscale, budget))
            budget -= images[-1].nbytes
    classes = sorted(set(labels))
    lookup = {c: i for i, c in enumerate(classes)}
    shapes = {im.shape[:2] for im in images}
    if len(shapes) > 1:
        first = images[0].shape[:2]
        k = next(i for i, im in enumerate(images) if im.shape[:2] != first)
        raise DatasetError(f"{root}: images differ in size ({names[0]} is {first[0]}x{first[1]}, {names[k]} is "
                           f"{images[k].shape[0]}x{images[k].shape[1]}); pass size=(h, w) to resize them")
    if any(im.ndim == 3 for im in images):
        images = [im if im.ndim == 3 else np.repeat(im[..., None], 3, axis=2) for im in images]
    return {"data": np.stack(images), "targets": np.array([lookup[c] for c in labels], np.int64),
            "classes": np.array(classes, dtype=str), "names": np.array(names, dtype=str)}


def _decode(root, name, blob, size, grayscale, budget):
    """uint8 (H, W) or (H, W, 3) of one image file, refused before decoding
    when it has more than ``limits.MAX_IMAGE_PIXELS`` pixels or would take
    more than ``budget`` bytes."""
    try:
        img = Image.open(io.BytesIO(blob), formats=FORMATS)
    except Exception as e:  # PIL signals a broken file with many exception types
        raise _unreadable(root, name, e) from None
    with img:
        width, height = img.size
        if width * height > limits.MAX_IMAGE_PIXELS:
            raise DatasetError(f"{root}: {name} is {width}x{height} pixels, more than the "
                               f"{limits.MAX_IMAGE_PIXELS:,} an image may have (a decompression bomb?)")
        gray = img.mode in GRAY_MODES if grayscale is None else grayscale
        out_h, out_w = (height, width) if size is None else size
        if out_h * out_w * (1 if gray else 3) > budget:
            raise DatasetError(f"{root}: the decoded images would take more than {limits.decoded_budget():,} "
                               f"bytes (a quarter of this machine's memory) at {name}; pass a smaller size=(h, w)")
        try:
            mode = "L" if gray else "RGB"
            if img.mode != mode:
                img = img.convert(mode)
            if size is not None:
                img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            return np.asarray(img)
        except Exception as e:
            raise _unreadable(root, name, e) from None


def _unreadable(root, name, error):
    return DatasetError(f"{root}: {name} is not a readable image ({type(error).__name__}: {error})")
