"""Module and Parameter: the layer tree, its parameters, buffers, state_dict and device.

Every layer implements ``forward(x) -> y`` (caching what its backward needs) and
``backward(grad_y) -> grad_x`` (accumulating into ``Parameter.grad``). Containers
compose their children's forward and backward; there is no autograd tape.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterator

import numpy as np

from .. import kernels
from ..errors import ShapeError


class Parameter:
    """A learnable array ``data`` and its accumulated gradient ``grad`` (same shape)."""

    __slots__ = ("data", "grad")

    def __init__(self, data):
        self.data = np.ascontiguousarray(data, dtype=np.float32)
        self.grad = np.zeros_like(self.data)

    @property
    def shape(self):
        return tuple(self.data.shape)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape})"


class Module:
    """Base class of every layer and container, shaped like ``torch.nn.Module``."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "device", "cpu")

    # --- registration -------------------------------------------------------------
    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif name in self._buffers:
            self._buffers[name] = value  # and the attribute below, so both name one array
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, value: np.ndarray) -> None:
        """A persistent array that is not learned (e.g. BatchNorm's running mean)."""
        self._buffers[name] = value
        object.__setattr__(self, name, value)

    def add_module(self, name: str, module: "Module") -> None:
        setattr(self, name, module)

    # --- computation --------------------------------------------------------------
    @property
    def ops(self):
        """The kernel set of this module's device."""
        return kernels.ops(self.device)

    def forward(self, x):
        raise NotImplementedError

    def backward(self, grad_y):
        raise NotImplementedError

    def __call__(self, x):
        return self.forward(x)

    needs_input_grad = True
    """Whether ``backward`` must return d loss / d input. A model's input is data, so the
    first layer's input gradient is wasted work (for a first convolution, a whole GEMM and
    col2im): ``model.set_needs_input_grad(False)`` lets layers that can skip it (Conv2d,
    Linear, and containers passing it on) return None instead."""

    def set_needs_input_grad(self, flag: bool) -> "Module":
        """Sets ``needs_input_grad``; Sequential hands it on to its first child (other
        containers keep their children computing it). Returns self."""
        object.__setattr__(self, "needs_input_grad", bool(flag))
        return self

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of one sample's output for one sample's input ``shape`` (no batch axis).

        Raises ShapeError with what the layer got and what it needs."""
        return tuple(shape)

    def macs(self, shape: tuple[int, ...]) -> int:
        """Multiply-accumulates of one sample's forward pass for input ``shape``."""
        return 0

    def trace(self, shape, prefix: str, rows: list) -> tuple[int, ...]:
        """Infers the output shape for input ``shape`` (no batch axis), appending one
        summary row (name, layer, output shape, parameters, MACs) per layer to ``rows``."""
        try:
            out = tuple(self.output_shape(tuple(shape)))
        except ShapeError as e:
            raise (e.within(prefix) if prefix else e) from None
        rows.append((prefix, f"{type(self).__name__}({self.extra_repr()})", out,
                     self.num_parameters(), self.macs(tuple(shape))))
        return out

    # --- tree ---------------------------------------------------------------------
    def children(self) -> Iterator["Module"]:
        yield from self._modules.values()

    def named_children(self):
        yield from self._modules.items()

    def named_modules(self, prefix: str = ""):
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = ""):
        for mod_name, mod in self.named_modules(prefix):
            for name, p in mod._parameters.items():
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self):
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix: str = ""):
        for mod_name, mod in self.named_modules(prefix):
            for name, b in mod._buffers.items():
                yield (f"{mod_name}.{name}" if mod_name else name), b

    # --- modes --------------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            self.ops.fill(p.grad, 0)

    # --- state --------------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Host copies of every parameter and buffer, keyed as torch does ("0.weight")."""
        ops = self.ops
        out = OrderedDict()
        for mod_name, mod in self.named_modules():
            for name, p in mod._parameters.items():
                out[f"{mod_name}.{name}" if mod_name else name] = np.array(ops.to_host(p.data))
            for name, b in mod._buffers.items():
                out[f"{mod_name}.{name}" if mod_name else name] = np.array(ops.to_host(b))
        return out

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Copies arrays in by name. With strict, missing or unexpected keys are an error;
        a shape mismatch always is. Nothing is changed unless every key fits."""
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing keys {missing[:5]}{' ...' if len(missing) > 5 else ''}")
            if unexpected:
                parts.append(f"unexpected keys {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
            raise KeyError("state_dict does not match the model: " + "; ".join(parts))
        for k, v in own.items():
            if k in state and tuple(np.shape(state[k])) != v.shape:
                raise ValueError(f"state_dict entry '{k}' has shape {tuple(np.shape(state[k]))}, "
                                 f"the model needs {v.shape}")
        ops = self.ops
        for mod_name, mod in self.named_modules():
            for table in (mod._parameters, mod._buffers):
                for name in list(table):
                    key = f"{mod_name}.{name}" if mod_name else name
                    if key not in state:
                        continue
                    target = table[name].data if table is mod._parameters else table[name]
                    ops.copy_into(target, ops.asarray(np.asarray(state[key]), dtype=target.dtype))

    # --- device and dtype -----------------------------------------------------------
    def to(self, device: str = None, dtype=None) -> "Module":
        """Moves parameters, gradients and buffers to ``device`` ("cpu"/"cuda") and/or
        casts them to ``dtype`` (float64 is for gradient checks only)."""
        device = device or self.device
        src, dst = self.ops, kernels.ops(device)
        for m in self.modules():
            for p in m._parameters.values():
                dt = dtype or p.data.dtype
                p.data = dst.asarray(np.asarray(src.to_host(p.data), dtype=dt))
                p.grad = dst.zeros_like(p.data)
            for name, b in list(m._buffers.items()):
                host = np.asarray(src.to_host(b))
                if host.dtype.kind == "f":  # counters such as num_batches_tracked stay on the host
                    setattr(m, name, dst.asarray(host.astype(dtype or host.dtype)))
            object.__setattr__(m, "device", device)
        return self

    def double(self) -> "Module":
        return self.to(dtype=np.float64)

    def float(self) -> "Module":
        return self.to(dtype=np.float32)

    # --- description ----------------------------------------------------------------
    def config(self) -> dict:
        """The constructor arguments that rebuild this layer (JSON-able)."""
        return {}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config().items())

    def spec(self) -> dict:
        """A JSON-able description that ``engine.nn.from_spec`` rebuilds."""
        return {"type": type(self).__name__, **self.config()}

    def __repr__(self) -> str:
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not self._modules:
            return head + ")"
        lines = [head]
        for name, child in self._modules.items():
            lines.append(f"  ({name}): " + repr(child).replace("\n", "\n  "))
        return "\n".join(lines + [")"])

    def num_parameters(self) -> int:
        return int(sum(int(np.prod(p.shape)) for p in self.parameters()))
