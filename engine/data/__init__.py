"""Batches for the engine: DataLoader, Subset, random_split and batch-wise transforms.

    from engine.data import DataLoader, random_split, Subset, transforms
"""

from . import transforms
from .loader import DataLoader
from .subset import Subset, random_split

__all__ = ["DataLoader", "Subset", "random_split", "transforms"]
