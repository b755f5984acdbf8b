"""Argument checks shared by the layers: clear messages that say what to pass."""
from __future__ import annotations


def positive_int(name: str, value, layer: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{layer}: {name} must be a positive integer, got {value!r}")
    return value


def pair(name: str, value, layer: str, minimum: int = 1) -> tuple[int, int]:
    """An int or a pair of ints, each >= minimum, as (h, w)."""
    v = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(v) != 2 or any(isinstance(i, bool) or not isinstance(i, int) or i < minimum for i in v):
        raise ValueError(f"{layer}: {name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return v


def positive_number(name: str, value, layer: str) -> float:
    """A finite number > 0 (e.g. a batch norm's eps)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ValueError(f"{layer}: {name} must be a finite number > 0, got {value!r}")
    return float(value)


def probability(name: str, value, layer: str) -> float:
    if not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{layer}: {name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def short(v: tuple[int, int]):
    """(3, 3) -> 3 for printing and specs; (3, 5) stays a list."""
    return v[0] if v[0] == v[1] else list(v)


def torch_default(layer: str, name: str, value, default, normalise=None) -> None:
    """Accepts a torch argument we implement only at its default value, refusing any other
    value with the argument's name (e.g. Conv2d's groups). A default of None is compared
    by identity (the value may be a tensor, e.g. a loss's class weights)."""
    v = normalise(name, value, layer) if normalise is not None else value
    if (v is not None) if default is None else (v != default):
        raise NotImplementedError(f"{layer}: {name}={value!r} is not supported; numbacnn implements only "
                                  f"{name}={default!r}")
