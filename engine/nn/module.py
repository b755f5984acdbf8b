"""Module and Parameter: the layer tree, its parameters, buffers, state_dict, device and
hooks, shaped like ``torch.nn.Module``.

A module's ``forward`` takes and returns tensors (:class:`~engine.autograd.Tensor`) and may do
anything: call submodules, ``engine.nn.functional``, tensor methods, Python control flow.
Autograd records what it did, so ``loss.backward()`` reaches every parameter; there is
no hand-written backward. Calling a module (``module(x)``) runs its forward pre-hooks,
``forward`` and forward hooks, turns numpy input into tensors, and names the layer in a
ShapeError or DeviceMemoryError raised inside it ("layer 'features.3': ...").
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterator

import numpy as np

from .. import kernels
from ..autograd import Tensor, clear_grad, deferred, device_type
from ..errors import ShapeError
from ..kernels import DeviceMemoryError


class Parameter(Tensor):
    """A learnable leaf tensor (requires_grad by default), registered by the module it is
    assigned to. Floating point data keeps its dtype (float32 from the layers)."""

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        a = data.array if isinstance(data, Tensor) else data
        if a is None:
            a = np.empty(0, np.float32)
        if isinstance(a, np.ndarray) or not hasattr(a, "copy_to_host"):
            a = np.asarray(a)
            a = np.ascontiguousarray(a, dtype=a.dtype if a.dtype.kind == "f" else np.float32)
        super().__init__(a, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


def _named_error(e, root: "Module", batch):
    """``e`` (raised in module ``e.module`` somewhere under ``root``) with the layer's
    dotted name inside ``root``."""
    source = getattr(e, "module", None)
    path = next((n for n, m in root.named_modules() if m is source), "") if source is not None else ""
    names = tuple(path.split(".")) if path else ()
    if isinstance(e, ShapeError):
        return ShapeError(e.message, names + e.path) if names else e
    layer = e.layer or (type(source).__name__ if source is not None else None)
    return DeviceMemoryError(e.message, names + e.path, layer, e.batch_size if e.batch_size is not None else batch)


class Module:
    """Base class of every layer and container, shaped like ``torch.nn.Module``."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "device", "cpu")

    # --- registration -------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign '{name}' before Module.__init__() is called: start "
                                 f"{type(self).__name__}.__init__ with super().__init__()")
        for table in (self._parameters, self._modules):
            if name in table and not isinstance(value, (Parameter, Module)):
                if value is not None:
                    raise TypeError(f"cannot assign {type(value).__name__} as '{name}' of "
                                    f"{type(self).__name__}: it holds a {type(table[name]).__name__}")
                del table[name]
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif name in self._buffers:
            value = value.array if isinstance(value, Tensor) else value
            self._buffers[name] = value  # and the attribute below, so both name one array
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, value, persistent: bool = True) -> None:
        """A persistent array that is not learned (e.g. BatchNorm's running mean)."""
        value = value.array if isinstance(value, Tensor) else value
        self._buffers[name] = value
        object.__setattr__(self, name, value)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        setattr(self, name, param)

    def add_module(self, name: str, module: "Module | None") -> None:
        if module is None:
            object.__setattr__(self, name, None)
            return
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.add_module: '{name}' is a {type(module).__name__}, "
                            "not a Module")
        setattr(self, name, module)

    register_module = add_module

    def get_submodule(self, target: str) -> "Module":
        m = self
        for part in filter(None, target.split(".")):
            if part not in m._modules:
                raise AttributeError(f"{type(m).__name__} has no submodule '{part}'")
            m = m._modules[part]
        return m

    # --- computation --------------------------------------------------------------
    @property
    def ops(self):
        """The kernel set of this module's device."""
        return kernels.ops(self.device)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward(): define forward(self, x) in "
                                  "the subclass")

    def __call__(self, *args, **kwargs):
        args = tuple(Tensor(a) if isinstance(a, np.ndarray) else a for a in args)
        for hook in self._forward_pre_hooks.values():
            r = hook(self, args)
            if r is not None:
                args = r if isinstance(r, tuple) else (r,)
        depth = deferred.enter()
        failed = True
        try:
            out = self.forward(*args, **kwargs)
            if self._forward_hooks and isinstance(out, deferred.Deferred):
                out.resolve()
            failed = False
        except (ShapeError, DeviceMemoryError) as e:
            if getattr(e, "module", None) is None:
                e.module = self
            if depth:
                raise
            batch = args[0].shape[0] if args and isinstance(args[0], Tensor) and args[0].ndim else None
            raise _named_error(e, self, batch) from None
        finally:
            deferred.leave(depth, failed)
        for hook in self._forward_hooks.values():
            r = hook(self, args, out)
            if r is not None:
                out = r
        return out

    def register_forward_hook(self, hook) -> "RemovableHandle":
        """``hook(module, inputs, output)`` runs after every forward (its non-None return
        replaces the output). A hooked module's output is computed before the hook sees it,
        so nothing after it fuses into it."""
        return RemovableHandle(self._forward_hooks, hook)

    def register_forward_pre_hook(self, hook) -> "RemovableHandle":
        """``hook(module, inputs)`` runs before every forward (a non-None return replaces the inputs)."""
        return RemovableHandle(self._forward_pre_hooks, hook)

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

    def named_modules(self, prefix: str = "", memo: set | None = None):
        """(dotted name, module) for this module and every descendant, each once."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        """(dotted name, Parameter) for every parameter, each once (a shared one under its
        first name)."""
        seen = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_name, mod in mods:
            for name, p in mod._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def buffers(self):
        for _, b in self.named_buffers():
            yield b

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

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clears every parameter's ``.grad`` (None, or zeros with set_to_none=False)."""
        for p in self.parameters():
            clear_grad(p, set_to_none)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Freezes (False) or unfreezes every parameter."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def apply(self, fn) -> "Module":
        """Calls ``fn(m)`` on every submodule (children first) and on self, as torch."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # --- state --------------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Host copies of every parameter and buffer, keyed as torch does ("0.weight")."""
        ops = self.ops
        out = OrderedDict()
        for mod_name, mod in self.named_modules():
            for name, p in mod._parameters.items():
                out[f"{mod_name}.{name}" if mod_name else name] = np.array(ops.to_host(p.array))
            for name, b in mod._buffers.items():
                out[f"{mod_name}.{name}" if mod_name else name] = np.array(ops.to_host(b))
        return out

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Copies arrays in by name. With strict, missing or unexpected keys are an error;
        a shape mismatch always is. Nothing is changed unless every key fits."""
        state = {k: (v.numpy() if isinstance(v, Tensor) else v) for k, v in state.items()}
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
                    target = table[name].array if table is mod._parameters else table[name]
                    ops.copy_into(target, ops.asarray(np.asarray(state[key]), dtype=target.dtype))

    def save_safetensors(self, path) -> str:
        """Writes ``state_dict()`` to ``path`` as a safetensors file (torch's keys; the spec in
        its metadata), atomically: :func:`engine.interop.save_safetensors`. Returns the path."""
        from ..interop import save_safetensors   # here: engine.interop imports engine.nn
        return save_safetensors(self, path)

    def load_safetensors(self, path) -> "Module":
        """Loads the weights of safetensors file ``path`` (the same keys and shapes; nothing
        changes otherwise): :func:`engine.interop.load_safetensors`. Returns self."""
        from ..interop import load_safetensors
        return load_safetensors(self, path)

    # --- device and dtype -----------------------------------------------------------
    def to(self, *args, **kwargs) -> "Module":
        """Moves parameters, gradients and buffers to a device ("cpu", "cuda", "cuda:0",
        a device) and/or casts them to a floating dtype (float64 is for gradient checks);
        ``to(device, dtype)`` and ``non_blocking`` as torch. Returns self."""
        kwargs.pop("non_blocking", None)
        device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
        if kwargs:
            raise TypeError(f"to() got unexpected arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, str) or type(a).__name__ == "device":
                device = a
            else:
                dtype = a
        device = device_type(device) if device is not None else self.device
        src, dst = self.ops, kernels.ops(device)

        def move(a, dt):
            host = np.asarray(src.to_host(a))
            return dst.asarray(host.astype(dt or host.dtype), dtype=dt or host.dtype)

        for m in self.modules():
            for p in m._parameters.values():
                if p is None:
                    continue
                p.array = move(p.array, dtype)
                p.grad_array = None if p.grad_array is None else move(p.grad_array, dtype)
                p._spare = None
            for name, b in list(m._buffers.items()):
                host = np.asarray(src.to_host(b))
                if host.dtype.kind == "f":  # counters such as num_batches_tracked stay on the host
                    setattr(m, name, move(b, dtype))
            object.__setattr__(m, "device", device)
        return self

    def cuda(self, device=None) -> "Module":
        return self.to("cuda")

    def cpu(self) -> "Module":
        return self.to("cpu")

    def half(self) -> "Module":
        raise TypeError("float16 is not supported: numbacnn computes in float32")

    def double(self) -> "Module":
        return self.to(dtype=np.float64)

    def float(self) -> "Module":
        return self.to(dtype=np.float32)

    # --- description ----------------------------------------------------------------
    def config(self) -> dict:
        """The constructor arguments that rebuild this layer (JSON-able)."""
        return {}

    @property
    def spec_layer(self) -> bool:
        """Whether a spec describes this module: one of numbacnn's own layers and
        containers (Identity, ModuleList, ModuleDict and DataParallel say False)."""
        return type(self).__module__.startswith("engine.nn")

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config().items())

    def spec(self) -> dict:
        """A JSON-able description that ``engine.nn.from_spec`` rebuilds. A module class
        defined outside numbacnn (a user's ``nn.Module`` subclass) is described by its name
        and ``python_class`` only: files are never code, so no spec rebuilds it."""
        cls = type(self)
        if not self.spec_layer:
            return {"type": cls.__name__, "python_class": f"{cls.__module__}.{cls.__qualname__}"}
        return {"type": cls.__name__, **self.config()}

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


class RemovableHandle:
    """What ``register_forward_hook`` returns: ``handle.remove()`` takes the hook away."""

    _next = 0

    def __init__(self, table: OrderedDict, hook):
        RemovableHandle._next += 1
        self.table, self.key = table, RemovableHandle._next
        table[self.key] = hook

    def remove(self) -> None:
        self.table.pop(self.key, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
