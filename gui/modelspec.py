"""The model editor's logic, free of Qt: layer catalogue, argument parsing, and the
per-row check (output shape, parameters, MACs, or the reason a row does not fit).

A custom model is a ``Sequential`` spec, ``{"type": "Sequential", "layers": [...]}``;
rows are its top-level layers. Containers (Residual, Concat, nested Sequential) from
zoo models are rows too: they can be moved or removed, not edited argument by argument.

Shape checks build each row's layer (cached by its spec) and trace shapes through them
with the engine's own ``output_shape``/``summary`` logic: no computation, no kernels,
so it is safe on the GUI thread while a run trains.
"""
from __future__ import annotations

import ast
import inspect
import json
from collections import OrderedDict

from engine import models, nn

REQUIRED = inspect.Parameter.empty
CONTAINERS = ("Sequential", "Residual", "Concat")


def layer_types() -> list[str]:
    return sorted(nn.layer_types())


def is_layer_type(kind) -> bool:
    """Whether ``kind`` names a layer the engine builds (a spec's "type" may name anything)."""
    return isinstance(kind, str) and kind in nn.layer_types()


def signature(kind: str) -> list[tuple[str, object]]:
    """[(argument, default or REQUIRED)] of layer ``kind``'s constructor (ValueError
    naming the known types for an unknown one)."""
    if not is_layer_type(kind):
        raise ValueError(f"unknown layer type {kind!r}; known types: {', '.join(layer_types())}")
    cls = nn.layer_types()[kind]
    out = []
    for name, p in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out.append((name, p.default))
    return out


def format_value(v) -> str:
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "(" + ", ".join(format_value(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    return repr(v)  # None too: parse_value reads 'None' back as None


def format_args(layer: dict) -> str:
    """``{"type": "Conv2d", "in_channels": 1, ...}`` -> ``in_channels=1, ...``; containers
    give a short description."""
    kind = layer.get("type")
    if kind in CONTAINERS:
        return describe_container(layer)
    return ", ".join(f"{k}={format_value(v)}" for k, v in layer.items() if k != "type")


def describe_container(layer: dict) -> str:
    kind = layer.get("type")
    if kind == "Sequential":
        inner = layer.get("layers", [])
        return f"{len(inner)} layers: " + ", ".join(s.get("type", "?") for s in inner[:6]) + \
            (" ..." if len(inner) > 6 else "")
    if kind == "Residual":
        return "body + " + ("identity" if layer.get("shortcut") is None else "projection") + " shortcut"
    if kind == "Concat":
        return f"{len(layer.get('branches', []))} branches joined on channels"
    return ""


def parse_value(text: str):
    """A Python literal (3, 0.5, True, (3, 3), 'x'); bare words become strings."""
    text = text.strip()
    if text == "":
        raise ValueError("empty value")
    try:
        v = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if text.replace("_", "").isalnum():
            return text
        raise ValueError(f"{text!r} is not a number, boolean, tuple or string") from None
    return list(v) if isinstance(v, tuple) else v


def parse_args(text: str) -> dict:
    """``"in_channels=1, out_channels=6, kernel_size=(5, 5)"`` -> dict. Raises
    ValueError saying what is wrong."""
    text = text.strip().rstrip(",")
    if not text:
        return {}
    try:
        call = ast.parse(f"f({text})", mode="eval").body
    except SyntaxError:
        raise ValueError("arguments must read name=value, name=value, ...") from None
    if call.args:
        raise ValueError("give every argument as name=value")
    out = {}
    for kw in call.keywords:
        if kw.arg is None:
            raise ValueError("give every argument as name=value")
        try:
            v = ast.literal_eval(kw.value)
        except ValueError:
            if isinstance(kw.value, ast.Name):
                v = kw.value.id
            else:
                raise ValueError(f"{kw.arg}: value must be a number, boolean, tuple or string") from None
        out[kw.arg] = list(v) if isinstance(v, tuple) else v
    return out


def new_layer(kind: str, shape: tuple | None = None, num_classes: int = 10) -> dict:
    """A fresh layer of ``kind`` with its defaults, and its required arguments guessed
    from the incoming ``shape`` (C, H, W) or (F,)."""
    layer = {"type": kind}
    for name, default in signature(kind):
        if default is not REQUIRED:
            layer[name] = list(default) if isinstance(default, tuple) else default
            continue
        if name in ("in_channels", "num_features"):
            layer[name] = int(shape[0]) if shape else 1
        elif name == "in_features":
            layer[name] = int(__import__("math").prod(shape)) if shape else 1
        elif name == "out_channels":
            layer[name] = 16
        elif name == "out_features":
            layer[name] = num_classes
        elif name == "kernel_size":
            layer[name] = 3 if kind == "Conv2d" else 2
        elif name == "size":
            layer[name] = 5
        else:
            layer[name] = 1
    return layer


_cache: "OrderedDict[str, object]" = OrderedDict()


def _build(layer: dict):
    """The module for one row's spec, cached (building allocates the weights)."""
    key = json.dumps(layer, sort_keys=True, default=str)
    m = _cache.get(key)
    if m is None:
        m = nn.from_spec(layer)
        _cache[key] = m
        while len(_cache) > 64:
            _cache.popitem(last=False)
    else:
        _cache.move_to_end(key)
    return m


def _clean_error(msg: str) -> str:
    return msg[len("model: "):] if msg.startswith("model: ") else msg


def analyse(layers: list[dict], input_shape, num_classes: int | None = None) -> dict:
    """Checks a layer list on one sample of ``input_shape`` (C, H, W).

    Returns {"rows": [{"out", "params", "macs", "error", "container"}...], "ok",
    "message", "output", "total_params", "total_macs", "bad_row"}. The first row that
    does not fit carries the reason; the rows after it have no shape."""
    shape = tuple(int(s) for s in input_shape)
    rows, ok, message, bad = [], True, "", None
    total_p = total_m = 0
    for i, layer in enumerate(layers):
        kind = layer.get("type") if isinstance(layer, dict) else None
        row = {"out": None, "params": None, "macs": None, "error": None,
               "container": kind in CONTAINERS, "type": kind}
        rows.append(row)
        try:
            m = _build(layer)
        except (ValueError, TypeError, KeyError) as e:
            row["error"] = _clean_error(str(e))
            if ok:
                ok, message, bad = False, f"row {i + 1} ({kind}): {row['error']}", i
            continue
        row["params"] = m.num_parameters()
        if not ok or shape is None:
            continue
        try:
            trace_rows: list = []
            out = tuple(m.trace(shape, "", trace_rows))
        except nn.ShapeError as e:
            where = ".".join(p for p in e.path if p)
            row["error"] = e.message + (f" (inside, at {where})" if where and row["container"] else "")
            ok, message, bad = False, f"row {i + 1} ({kind}): {row['error']}", i
            shape = None
            continue
        row["out"] = out
        row["macs"] = int(sum(r[4] for r in trace_rows))
        total_p += row["params"]
        total_m += row["macs"]
        shape = out
    if ok and not layers:
        ok, message = False, "the model has no layers"
    if ok and num_classes is not None and shape != (num_classes,):
        last = len(layers) - 1
        rows[last]["error"] = (f"the model ends in {shape}; the loss needs ({num_classes},), one score per class"
                               + (" (add Flatten and Linear)" if len(shape) > 1 else ""))
        ok, message, bad = False, f"row {last + 1}: {rows[last]['error']}", last
    return {"rows": rows, "ok": ok, "message": message, "output": shape, "bad_row": bad,
            "total_params": total_p, "total_macs": total_m, "input": tuple(int(s) for s in input_shape)}


def fix_inputs(layers: list[dict], input_shape) -> list[dict]:
    """Copies of ``layers`` whose in_channels / in_features / num_features match what
    flows into them (the usual edit after changing a width)."""
    shape = tuple(int(s) for s in input_shape)
    out = []
    for layer in layers:
        layer = dict(layer)
        kind = layer.get("type")
        if shape is not None and kind not in CONTAINERS:
            if "in_channels" in layer and len(shape) == 3:
                layer["in_channels"] = shape[0]
            if "num_features" in layer and len(shape) in (1, 3):
                layer["num_features"] = shape[0]
            if "in_features" in layer:
                n = 1
                for s in shape:
                    n *= s
                layer["in_features"] = n if len(shape) == 1 else layer["in_features"]
        out.append(layer)
        try:
            shape = tuple(_build(layer).trace(shape, "", [])) if shape is not None else None
        except (nn.ShapeError, ValueError, TypeError):
            shape = None
    return out


def as_sequential(spec: dict) -> list[dict]:
    """The editable top-level rows of a model spec."""
    if spec.get("type") == "Sequential":
        return [dict(layer) for layer in spec.get("layers", [])]
    return [dict(spec)]


def sequential(layers: list[dict]) -> dict:
    return {"type": "Sequential", "layers": [dict(layer) for layer in layers]}


def zoo_spec(name: str, in_channels: int, num_classes: int, input_size) -> dict:
    """The spec of zoo model ``name`` sized for the data."""
    return models.get(name, in_channels=in_channels, num_classes=num_classes, input_size=tuple(input_size)).spec()


def load_spec(path) -> dict:
    with open(path) as f:
        spec = json.load(f)
    if isinstance(spec, dict) and "spec" in spec and isinstance(spec["spec"], dict):
        spec = spec["spec"]            # a file that wraps the spec with metadata
    if isinstance(spec, list):
        spec = sequential(spec)
    if not isinstance(spec, dict) or "type" not in spec:
        raise ValueError(f"{path}: not a model spec (a JSON object with a 'type')")
    return spec


def save_spec(spec: dict, path) -> None:
    with open(path, "w") as f:
        json.dump(spec, f, indent=1)
