"""A model is data: ``model.spec()`` is a JSON-able dict and ``from_spec`` rebuilds the model.

Layers are ``{"type": "Conv2d", "in_channels": 3, ...}`` (their constructor arguments);
``Sequential`` holds ``layers``, ``Residual`` holds ``body`` and ``shortcut``, ``Concat``
holds ``branches``.
"""
from __future__ import annotations

from . import containers, layers
from .module import Module


def layer_types() -> dict[str, type]:
    """Every leaf layer a spec may name, by class name."""
    return {name: getattr(layers, name) for name in layers.__all__}


def from_spec(spec) -> Module:
    """Builds the model ``spec`` describes; unknown types or bad arguments raise
    ValueError naming the place in the spec."""
    return _build(spec, "model")


def _build(spec, where: str) -> Module:
    if not isinstance(spec, dict) or "type" not in spec:
        raise ValueError(f"{where}: a layer spec must be a dict with a 'type', got {spec!r}")
    kind = spec["type"]
    args = {k: v for k, v in spec.items() if k != "type"}
    if kind == "Sequential":
        return containers.Sequential(*[_build(s, f"{where}[{i}]") for i, s in enumerate(args.get("layers", []))])
    if kind == "Residual":
        short = args.get("shortcut")
        return containers.Residual(_build(args.get("body"), f"{where}.body"),
                                   None if short is None else _build(short, f"{where}.shortcut"))
    if kind == "Concat":
        return containers.Concat(*[_build(s, f"{where}.branches[{i}]") for i, s in enumerate(args.get("branches", []))])
    types = layer_types()
    if "python_class" in args:
        raise ValueError(f"{where}: {kind} is a module class defined in Python ({args['python_class']}); a spec "
                         f"rebuilds only numbacnn's own layers (files are never code): build the {kind} in Python "
                         "and load its weights with load_state_dict")
    if kind not in types:
        raise ValueError(f"{where}: unknown layer type {kind!r}; known types: {', '.join(sorted(types))}, "
                         "Sequential, Residual, Concat")
    try:
        return types[kind](**args)
    except TypeError as e:
        raise ValueError(f"{where}: bad arguments for {kind}: {e}") from None
    except (ValueError, NotImplementedError) as e:
        raise ValueError(f"{where}: {e}") from None
