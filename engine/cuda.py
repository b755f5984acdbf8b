"""``engine.cuda``, shaped like ``torch.cuda``: whether a GPU can be used, and its name.

Never raises: without numba-cuda, a driver or a GPU, ``is_available()`` is False and
``unavailable_reason()`` says what is missing.
"""
from __future__ import annotations

from .autograd import random


def _kernels():
    from .kernels import cuda  # numba-cuda is optional: loaded only when asked about
    return cuda


def is_available() -> bool:
    try:
        return _kernels().available()
    except Exception:
        return False


def unavailable_reason() -> str | None:
    """None when CUDA can be used, else what is missing (no numba-cuda, no driver, no GPU...)."""
    try:
        return _kernels().unusable_reason()
    except Exception as e:  # pragma: no cover
        return f"numba.cuda could not be loaded ({e})"


def device_count() -> int:
    return 1 if is_available() else 0


def get_device_name(device=None) -> str:
    if not is_available():
        raise RuntimeError(f"no CUDA device: {unavailable_reason()}")
    return _kernels().device_name()


def current_device() -> int:
    return 0


def synchronize() -> None:
    if is_available():
        _kernels().synchronize()


def manual_seed(seed: int) -> None:
    """The engine has one generator for every device: the same as ``engine.manual_seed``."""
    random.manual_seed(seed)


manual_seed_all = manual_seed
