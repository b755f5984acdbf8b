"""Containers: Sequential, Residual (ResNet's skip connection) and Concat (Inception's join).

They compose their children's forward and backward; backward runs in reverse order
and a branch point sums the gradients of its branches.
"""
from __future__ import annotations

import functools

from ..kernels import DeviceMemoryError
from . import fusion
from .module import Module, ShapeError


class _Container(Module):
    def output_shape(self, shape):
        return self.trace(shape, "", [])


class Sequential(_Container):
    """Runs its modules in order; children are named "0", "1", ... as in torch."""

    def __init__(self, *modules: Module):
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: item {i} is {type(m).__name__}, not a Module")
            self.add_module(str(i), m)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def append(self, module: Module) -> "Sequential":
        self.add_module(str(len(self)), module)
        return self

    def forward(self, x):
        for name, m, run in self._steps():
            try:
                x = run(x)
            except ShapeError as e:
                raise e.within(name) from None
            except DeviceMemoryError as e:  # GPU full: name the layer and the batch size
                raise e.within(name, m, x.shape[0]) from None
        return x

    def _steps(self):
        """(name, module, callable) per step of the forward: each module's forward, or a
        fused Conv2d[-BatchNorm2d][-ReLU[-MaxPool2d]] or BatchNorm2d-ReLU run (see .fusion)."""
        items = list(self._modules.items())
        i = 0
        while i < len(items):
            name, m = items[i]
            n = fusion.run_length([mod for _, mod in items[i:i + 4]])
            if n > 1:
                run = functools.partial(fusion.fused_forward, [mod for _, mod in items[i:i + n]])
            else:
                run = m.forward
            yield name, m, run
            i += n

    def set_needs_input_grad(self, flag: bool) -> "Sequential":
        super().set_needs_input_grad(flag)
        if self._modules:
            next(iter(self._modules.values())).set_needs_input_grad(flag)
        return self

    def backward(self, grad_y):
        items = list(self._modules.items())
        i = len(items) - 1
        while i >= 0:
            name, m = items[i]
            prev = items[i - 1][1] if i > 0 else None
            fused = prev is not None and fusion.fuses_backward(prev, m)
            try:
                grad_y = fusion.fused_backward(prev, m, grad_y) if fused else m.backward(grad_y)
            except DeviceMemoryError as e:
                raise e.within(name, m, grad_y.shape[0]) from None
            i -= 2 if fused else 1
        return grad_y

    def trace(self, shape, prefix, rows):
        for name, m in self._modules.items():
            shape = m.trace(shape, f"{prefix}.{name}" if prefix else name, rows)
        return shape

    def spec(self):
        return {"type": "Sequential", "layers": [m.spec() for m in self]}


class Residual(_Container):
    """y = body(x) + shortcut(x); the shortcut is the identity when None, or a projection
    (typically 1x1 Conv2d + BatchNorm2d) when the body changes the shape."""

    def __init__(self, body: Module, shortcut: Module | None = None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x, relu=False):
        """body(x) + shortcut(x); max(that, 0) with relu (a ReLU fused in, see .fusion)."""
        try:
            y = self.body.forward(x)
        except ShapeError as e:
            raise e.within("body") from None
        except DeviceMemoryError as e:
            raise e.within("body", self.body, x.shape[0]) from None
        try:
            s = x if self.shortcut is None else self.shortcut.forward(x)
        except ShapeError as e:
            raise e.within("shortcut") from None
        except DeviceMemoryError as e:
            raise e.within("shortcut", self.shortcut, x.shape[0]) from None
        if y.shape != s.shape:
            raise ShapeError(f"Residual body gives {tuple(y.shape[1:])} but the shortcut gives "
                             f"{tuple(s.shape[1:])}; add a projection shortcut")
        return self.ops.add(y, s, relu=relu)

    def backward(self, grad_y):
        g_body = self.body.backward(grad_y)
        g_short = grad_y if self.shortcut is None else self.shortcut.backward(grad_y)
        return self.ops.add(g_body, g_short)

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
        outs = []
        for name, b in self._modules.items():
            try:
                outs.append(b.forward(x))
            except ShapeError as e:
                raise e.within(name) from None
            except DeviceMemoryError as e:
                raise e.within(name, b, x.shape[0]) from None
        if len({o.shape[2:] for o in outs}) != 1:
            raise ShapeError("Concat branches give different spatial sizes: "
                             + ", ".join(str(tuple(o.shape[1:])) for o in outs))
        self._sizes = [o.shape[1] for o in outs]
        return self.ops.concat_channels(outs)

    def backward(self, grad_y):
        ops = self.ops
        grads = ops.split_channels(grad_y, self._sizes)
        total = None
        for b, g in zip(self._modules.values(), grads):
            gx = b.backward(g)
            total = gx if total is None else ops.add(total, gx)
        return total

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
