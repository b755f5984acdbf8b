"""``engine.utils``, shaped like ``torch.utils``: ``engine.utils.data``."""
from . import data

__all__ = ["data"]
