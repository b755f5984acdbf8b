"""Stand-ins for torchvision names numbacnn does not implement: the name exists (so
``from engine.vision.transforms import Resize`` works), and calling it raises
NotImplementedError saying what to use instead."""
from __future__ import annotations


def refusals(module: str, table: dict) -> dict:
    """``{name: callable}`` for ``table`` (``{name: what to use instead}``); each callable
    raises NotImplementedError("torchvision.<module>.<name> is not supported ...; <instead>")."""
    return {name: _refusal(module, name, instead) for name, instead in table.items()}


def _refusal(module: str, name: str, instead: str):
    def refuse(*args, **kwargs):
        raise NotImplementedError(f"torchvision.{module}.{name} is not supported by numbacnn; {instead}")

    refuse.__name__ = refuse.__qualname__ = name
    refuse.__doc__ = f"Not supported (torchvision.{module}.{name}): {instead}."
    return refuse
