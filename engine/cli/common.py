"""What several commands share: the device and thread options, a checkpoint's model and
input transform, a model's layer table for an input shape, an image file read safely, and
a file to write that must not replace another by accident."""
from __future__ import annotations

import os
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from .. import kernels
from ..data import transforms as T
from ..errors import ShapeError, first_line
from ..nn import summary
from ..train import load_checkpoint
from ..train.recipe import shape_text
from ..train.threads import get_threads, set_threads
from .errors import UserError

MAX_PIXELS = 1 << 26   # an image a command decodes (8192 x 8192); more is refused as a decompression bomb


def check_device(device: str) -> None:
    """UserError unless the kernels of ``device`` can run here."""
    if device == "cuda":
        try:
            kernels.ops("cuda")
        except RuntimeError as e:
            raise UserError(f"--device cuda: {first_line(e).rstrip('.')}; use --device cpu") from None


def use_threads(n: int | None) -> None:
    """--threads: the kernels' thread count (None: leave it)."""
    if n:
        set_threads(n)


def threads_note() -> str:
    n = get_threads()
    return f"{n} thread{'s' if n != 1 else ''}"


def open_checkpoint(path):
    """(checkpoint, its model); CheckpointError (one line) if either cannot be read."""
    c = load_checkpoint(path)
    return c, c.build_model()


def open_image_model(path, verb: str):
    """(checkpoint, its model, its input shape (C, H, W)) for a command that feeds the model
    image files (``verb``: "predict", "explain"); UserError unless the checkpoint records
    an input shape of 1 (grayscale) or 3 (RGB) channels."""
    c, model = open_checkpoint(path)
    shape = c.input_shape or tuple(c.metadata.get("input_shape") or ())
    if not shape:
        raise UserError(f"{path} does not record its input shape")
    if shape[0] not in (1, 3):
        raise UserError(f"{path} takes {shape[0]}-channel images; {verb} reads grayscale (1) or RGB (3) images")
    return c, model, tuple(shape)


def eval_transform(c):
    """ToTensor, then the normalisation checkpoint ``c`` records (if any)."""
    norm = c.metadata.get("normalize") or {}
    steps = [T.ToTensor()]
    if norm.get("mean") is not None:
        steps.append(T.Normalize(norm["mean"], norm["std"]))
    return T.Compose(steps)


def layer_table(model, shape, what: str):
    """The model's summary for ``shape`` (C, H, W) images; UserError if it does not fit
    (``what`` names the model in the message: "model 'resnet20'")."""
    try:
        return summary(model, shape)
    except ShapeError as e:
        raise UserError(f"{what} does not fit {shape_text(shape)} images: {e}") from None


def fresh_out(path, force):
    """Refuses to replace an existing file unless --force; never a folder."""
    if os.path.isdir(path):
        raise UserError(f"-o {path} is a folder; give a file name")
    if os.path.exists(path) and not force:
        raise UserError(f"{path} already exists; choose another -o or pass --force to replace it")


def read_image(path, ch, h, w):
    """uint8 (h, w, ch) of the image at ``path``, resized; one UserError for anything else,
    including an image whose header declares more than MAX_PIXELS (checked before
    its pixels are decoded)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.size[0] * im.size[1] > MAX_PIXELS:
                    raise UserError(f"{path} is {im.size[0]}x{im.size[1]} pixels, more than numbacnn decodes "
                                    f"({MAX_PIXELS:,}); it may be a decompression bomb")
                im = im.convert("L" if ch == 1 else "RGB")
                if im.size != (w, h):
                    im = im.resize((w, h), Image.BILINEAR)
                a = np.asarray(im, dtype=np.uint8)
    except FileNotFoundError:
        raise UserError(f"no such image: {path}") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder, not an image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UserError(f"{path} is refused as a decompression bomb ({first_line(e)})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as e:
        raise UserError(f"{path} is not a readable image ({first_line(e)})") from None
    return a if a.ndim == 3 else a[..., None]
