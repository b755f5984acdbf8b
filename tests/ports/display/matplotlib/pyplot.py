"""``imshow(X)`` checks that X is what matplotlib would draw as an RGB(A) image (H, W, 3|4)
of finite numbers, floats within [0, 1] (up to rounding) or uint8, and counts the calls;
``show()`` does nothing (no screen)."""
import numpy as np

shown = []


def imshow(X, *args, **kwargs):
    a = np.asarray(X)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or not np.isfinite(a).all():
        raise ValueError(f"imshow: not an RGB(A) image: shape {a.shape}, dtype {a.dtype}")
    if a.dtype.kind == "f" and (a.min() < -1e-6 or a.max() > 1 + 1e-6):
        raise ValueError(f"imshow: float RGB values outside [0, 1]: {a.min()}..{a.max()}")
    shown.append(a.shape)


def show(*args, **kwargs):
    pass
