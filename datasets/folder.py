"""ImageFolder: one sub-folder per class, from a folder or an archive, decoded once and cached."""

import io
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from . import cache, limits
from .archive import ImageFiles, is_archive
from .base import VisionDataset
from .errors import DatasetError
from .files import printable

GRAY_MODES = {"1", "L", "LA", "I", "I;16", "F"}
# the decoders a file may pick (by its bytes, whatever its name): no EPS (which runs Ghostscript) or other rarities
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "PPM", "TIFF", "WEBP")
RESIZE_MODES = ("squash", "crop", "fill")   # how an image meets a size: stretched, centre-cropped, letterboxed


class ImageFolder(VisionDataset):
    """Images in class folders: ``root/<class>/**/<image>`` (png, jpg, bmp,
    gif, ppm, pgm, tif, webp), classes sorted by name, samples sorted by path.

    root: a folder, or a ``.tar``, ``.tar.gz``, ``.tgz`` or ``.zip`` of such a
    tree; in an archive, single top-level folders wrapping the class folders
    (``train/<class>/...``) are skipped. size: None (all images must share a
    size), an int or (h, w) to bring every image to while decoding (bilinear),
    as ``resize`` says: "squash" (stretch to (h, w)), "crop" (scale to cover
    (h, w), keep the centre) or "fill" (scale to fit inside (h, w), centred,
    black bars around it). grayscale: None keeps grayscale if every image is
    grayscale (else RGB), True or False forces it.

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

    def __init__(self, root, transform=None, size=None, grayscale=None, target_transform=None, resize="squash"):
        if size is not None:
            size = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
        if resize not in RESIZE_MODES:
            raise ValueError(f"ImageFolder: resize {resize!r} is not one of {', '.join(RESIZE_MODES)}")
        if not Path(root).exists():
            raise DatasetError(f"{root}: no such folder or archive")
        # the resize mode only matters with a size (and "squash" keeps the cache keys made before it existed)
        mode = {} if size is None or resize == "squash" else {"resize": resize}
        path = cache.cache_path("imagefolder", root, size=size, grayscale=grayscale, **mode)
        arrays = _valid(cache.load(path))
        if arrays is None:
            arrays = _decode_tree(root, size, grayscale, resize)
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


def class_files(files, root):
    """(names, labels) of the images of ``files`` (an open ImageFiles over
    ``root``) that lie in a class folder: each image's relative name and the
    name of its class folder (the first folder below ``root``, or in an
    archive below single top-level folders that wrap the class folders).

    DatasetError when no image lies in a class folder."""
    parts = [name.split("/") for name in files.names]
    strip = 0
    if is_archive(root):
        while parts and all(len(p) - strip >= 3 for p in parts) and len({p[strip] for p in parts}) == 1:
            strip += 1
    names = [name for name, p in zip(files.names, parts) if len(p) - strip >= 2]
    if not names:
        raise DatasetError(f"{printable(root)}: this {'archive' if is_archive(root) else 'folder'} has no class "
                           f"subfolders with images: put each class's images (png, jpg, bmp, gif, ...) in a "
                           f"folder named after the class")
    return names, [name.split("/")[strip] for name in names]


def _decode_tree(root, size, grayscale, resize):
    with ImageFiles(root) as files:
        names, labels = class_files(files, root)
        budget, images = limits.decoded_budget(), []
        for name in names:
            images.append(decode_image(root, name, files.read(name), size, grayscale, resize, budget))
            budget -= images[-1].nbytes
    classes = sorted(set(labels))
    lookup = {c: i for i, c in enumerate(classes)}
    shapes = {im.shape[:2] for im in images}
    if len(shapes) > 1:
        first = images[0].shape[:2]
        k = next(i for i, im in enumerate(images) if im.shape[:2] != first)
        raise DatasetError(f"{printable(root)}: the images differ in size ({names[0]} is {first[0]}x{first[1]}, "
                           f"{names[k]} is {images[k].shape[0]}x{images[k].shape[1]}): give them one size and a "
                           f"resize mode (squash, crop or fill) -- in the studio, Data tab, New dataset...; in "
                           f"Python, ImageFolder(root, size=(h, w), resize=...)")
    if any(im.ndim == 3 for im in images):
        images = [im if im.ndim == 3 else np.repeat(im[..., None], 3, axis=2) for im in images]
    return {"data": np.stack(images), "targets": np.array([lookup[c] for c in labels], np.int64),
            "classes": np.array(classes, dtype=str), "names": np.array(names, dtype=str)}


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_damage(blob):
    """What is wrong with the chunks of a PNG file (each carries a CRC-32 of its type and
    data), or None when they are intact or ``blob`` is not a PNG. PIL checks neither the
    image data's CRCs nor zlib's checksum (it stops inflating once it has the pixels), so
    a flipped bit in the pixel data would decode to wrong pixels without a word."""
    if not blob.startswith(PNG_SIGNATURE):
        return None
    view, pos = memoryview(blob), len(PNG_SIGNATURE)
    while pos + 12 <= len(blob):
        length = int.from_bytes(view[pos:pos + 4], "big")
        end = pos + 12 + length
        if end > len(blob):
            return "a chunk runs past the end of the file (cut short?)"
        kind = bytes(view[pos + 4:pos + 8])
        if zlib.crc32(view[pos + 4:pos + 8 + length]) != int.from_bytes(view[end - 4:end], "big"):
            return f"the checksum of its {kind.decode('ascii', 'backslashreplace')} chunk does not match (damaged?)"
        if kind == b"IEND":
            return None
        pos = end
    return "it ends before its IEND chunk (cut short?)"


def decode_image(root, name, blob, size, grayscale, resize, budget):
    """uint8 (H, W) or (H, W, 3) of one image file (brought to ``size`` as
    ``resize`` says, see ``fit``), refused before decoding when it has more
    than ``limits.MAX_IMAGE_PIXELS`` pixels or would take more than
    ``budget`` bytes, or when it is a PNG whose chunks fail their CRCs."""
    damage = png_damage(blob)
    if damage:
        raise DatasetError(f"{root}: {name} is not a readable image: {damage}")
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
                               f"bytes (a quarter of this machine's memory) at {name}; choose a smaller image size")
        try:
            mode = "L" if gray else "RGB"
            if img.mode != mode:
                img = img.convert(mode)
            return np.asarray(img if size is None else fit(img, size, resize))
        except Exception as e:
            raise _unreadable(root, name, e) from None


def fit(img, size, resize):
    """The PIL image ``img`` brought to ``size`` (h, w), bilinear: "squash"
    stretches it; "crop" scales it to cover (h, w) and keeps the centre;
    "fill" scales it to fit inside (h, w) and centres it on black."""
    h, w = size
    width, height = img.size
    if resize == "squash":
        return img.resize((w, h), Image.Resampling.BILINEAR)
    if resize == "crop":
        scale = max(h / height, w / width)
        box_w, box_h = w / scale, h / scale
        left, top = (width - box_w) / 2, (height - box_h) / 2
        return img.resize((w, h), Image.Resampling.BILINEAR, box=(left, top, left + box_w, top + box_h))
    scale = min(h / height, w / width)
    inner_w, inner_h = max(1, round(width * scale)), max(1, round(height * scale))
    canvas = Image.new(img.mode, (w, h))
    canvas.paste(img.resize((inner_w, inner_h), Image.Resampling.BILINEAR), ((w - inner_w) // 2, (h - inner_h) // 2))
    return canvas


def _unreadable(root, name, error):
    return DatasetError(f"{root}: {name} is not a readable image ({type(error).__name__}: {error})")
