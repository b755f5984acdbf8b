"""``jsonable(obj)``: an object of dicts, lists, tuples, numpy arrays and numbers as
what JSON holds (dict keys as strings, arrays as lists, numpy numbers as Python's, and
non-finite floats as None, which JSON has no word for)."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["jsonable"]


def jsonable(obj):
    """``obj`` with every container, array and number made JSON-able (see the module)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj
