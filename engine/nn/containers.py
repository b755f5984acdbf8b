"""Containers: Sequential, ModuleList, ModuleDict, Identity (as torch.nn), Residual
(ResNet's skip connection) and Concat (Inception's join).

They only compose their children's forwards; autograd differentiates the result (a
branch point sums its branches' gradients by itself), and neighbours fuse by themselves
(see :mod:`.functional`).
"""
from __future__ import annotations

from collections import OrderedDict

from . import functional as F
from .module import Module, ShapeError


class _Container(Module):
    def output_shape(self, shape):
        return self.trace(shape, "", [])


def _replace(container: Module, index, module) -> None:
    """``container[index] = module`` (as torch): the child at that position (negative from
    the end) is replaced under its name, so state_dict keys stay."""
    who = type(container).__name__
    if not isinstance(module, Module):
        raise TypeError(f"{who}[{index!r}] = ... needs a Module, got {type(module).__name__}")
    names = list(container._modules)
    if isinstance(index, bool) or not isinstance(index, int) or not -len(names) <= index < len(names):
        raise IndexError(f"{who} index {index!r} is out of range for its {len(names)} modules")
    setattr(container, names[index], module)


class Sequential(_Container):
    """Runs its modules in order; children are named "0", "1", ... as in torch (or by the
    keys of an OrderedDict given as the one argument)."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
            return
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: item {i} is {type(m).__name__}, not a Module")
            self.add_module(str(i), m)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Sequential(OrderedDict(list(self._modules.items())[i]))
        return list(self._modules.values())[i]

    def __setitem__(self, i: int, module: Module) -> None:
        _replace(self, i, module)

    def __delitem__(self, i):
        """Removes child ``i`` (or a slice of them); the rest are renumbered "0", "1", ..."""
        keys = list(self._modules)
        doomed = set(keys[i]) if isinstance(i, slice) else {keys[i]}
        kept = [m for k, m in self._modules.items() if k not in doomed]
        for k in keys:
            delattr(self, k)
        for n, m in enumerate(kept):
            self.add_module(str(n), m)

    def append(self, module: Module) -> "Sequential":
        self.add_module(str(len(self)), module)
        return self

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def trace(self, shape, prefix, rows):
        for name, m in self._modules.items():
            shape = m.trace(shape, f"{prefix}.{name}" if prefix else name, rows)
        return shape

    def spec(self):
        return {"type": "Sequential", "layers": [m.spec() for m in self]}


class ModuleList(Module):
    """A list of modules, registered as children "0", "1", ... (it has no forward)."""

    spec_layer = False  # not in specs: a model using it is described by its Python class

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> "ModuleList":
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules) -> "ModuleList":
        for m in modules:
            self.append(m)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, i):
        if isinstance(i, slice):
            return ModuleList(list(self._modules.values())[i])
        return list(self._modules.values())[i]

    def __setitem__(self, i: int, module: Module) -> None:
        _replace(self, i, module)


class ModuleDict(Module):
    """A dict of modules, registered under their keys (it has no forward)."""

    spec_layer = False  # not in specs: a model using it is described by its Python class

    def __init__(self, modules=None):
        super().__init__()
        for k, m in (dict(modules or {})).items():
            self.add_module(k, m)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __contains__(self, key):
        return key in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()


class Identity(Module):
    """y = x (any arguments to the constructor are ignored, as torch)."""

    spec_layer = False  # not in specs: a model using it is described by its Python class

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Residual(_Container):
    """y = body(x) + shortcut(x); the shortcut is the identity when None, or a projection
    (typically 1x1 Conv2d + BatchNorm2d) when the body changes the shape."""

    def __init__(self, body: Module, shortcut: Module | None = None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        y = self.body(x)
        s = x if self.shortcut is None else self.shortcut(x)
        if y.shape != s.shape:
            raise ShapeError(f"Residual body gives {tuple(y.shape[1:])} but the shortcut gives "
                             f"{tuple(s.shape[1:])}; add a projection shortcut")
        return y + s

    def trace(self, shape, prefix, rows):
        p = f"{prefix}." if prefix else ""
        out = self.body.trace(shape, p + "body", rows)
        short = shape if self.shortcut is None else self.shortcut.trace(shape, p + "shortcut", rows)
        if tuple(out) != tuple(short):
            raise ShapeError(f"Residual body gives {tuple(out)} but the shortcut gives {tuple(short)}; "
                             "add a projection shortcut", (prefix,) if prefix else ())
        rows.append((prefix or "residual", "Residual (add)", tuple(out), 0, 0))
        return tuple(out)

    def spec(self):
        return {"type": "Residual", "body": self.body.spec(),
                "shortcut": None if self.shortcut is None else self.shortcut.spec()}


class Concat(_Container):
    """Runs every branch on the same input and joins the outputs along channels (axis 1)."""

    def __init__(self, *branches: Module):
        super().__init__()
        if not branches:
            raise ValueError("Concat needs at least one branch")
        for i, b in enumerate(branches):
            self.add_module(str(i), b)

    def forward(self, x):
        outs = [b(x) for b in self._modules.values()]
        if len({o.shape[2:] for o in outs}) != 1:
            raise ShapeError("Concat branches give different spatial sizes: "
                             + ", ".join(str(tuple(o.shape[1:])) for o in outs))
        return F.concat_channels(outs)

    def trace(self, shape, prefix, rows):
        p = f"{prefix}." if prefix else ""
        outs = [tuple(b.trace(shape, p + name, rows)) for name, b in self._modules.items()]
        if len({o[1:] for o in outs}) != 1:
            raise ShapeError("Concat branches give different spatial sizes: "
                             + ", ".join(str(o) for o in outs), (prefix,) if prefix else ())
        out = (sum(o[0] for o in outs),) + outs[0][1:]
        rows.append((prefix or "concat", "Concat (channels)", out, 0, 0))
        return out

    def spec(self):
        return {"type": "Concat", "branches": [b.spec() for b in self._modules.values()]}
