"""``Tensor``: an array (numpy on the CPU, a numba.cuda device array on CUDA, never
copied on the way in or out) that records the operation that made it, as torch.Tensor.

``loss.backward()`` runs the recorded operations' backward kernels in reverse
(:mod:`.engine`) and accumulates gradients into the ``.grad`` of every leaf tensor that
requires grad (parameters, or inputs after ``requires_grad_()``). ``np.asarray(t)``
is the array itself on the CPU. Methods follow torch's names and return conventions
(``max(dim)`` gives ``(values, indices)``, ``size(0)`` an int, ``item()`` a number).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from .. import kernels
from . import engine, grad_mode, ops, random
from .function import Node

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


class device:
    """Where a tensor lives: ``device("cpu")``, ``device("cuda")``, ``device("cuda:0")``;
    compares equal to its string forms."""

    __slots__ = ("type", "index")

    def __init__(self, spec="cpu", index=None):
        if isinstance(spec, device):
            spec, index = spec.type, spec.index if index is None else index
        text = str(spec)
        kind, _, num = text.partition(":")
        if kind not in kernels.DEVICES or (num and not num.isdigit()):
            raise ValueError(f"unknown device {spec!r}: use 'cpu', 'cuda' or 'cuda:N'")
        self.type = kind
        self.index = int(num) if num else index

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        return f"device(type='{self.type}'" + (f", index={self.index})" if self.index is not None else ")")

    def __eq__(self, other):
        if isinstance(other, (str, device)):
            try:
                other = device(other)
            except ValueError:
                return False
            return self.type == other.type and (self.index is None or other.index is None
                                                or self.index == other.index)
        return NotImplemented

    def __hash__(self):
        return hash(self.type)


def device_type(d) -> str:
    """"cpu" or "cuda" for a device, a string like "cuda:0", or None (-> "cpu")."""
    return "cpu" if d is None else device(d).type


def _host(a) -> np.ndarray:
    return a if isinstance(a, np.ndarray) else np.asarray(a.copy_to_host())


def _operand(x, like: "Tensor"):
    """The other side of a binary operation: a Tensor as is; a number or array as an
    array of ``like``'s device (numbers keep numpy's weak scalar typing)."""
    if isinstance(x, Tensor):
        if x.device.type != like.device.type:
            raise RuntimeError(f"expected all tensors to be on the same device, found {like.device} "
                               f"and {x.device}; move one with .to()")
        return x
    if isinstance(x, (int, float, bool, np.number)):
        return x
    return Tensor(np.asarray(x), device=like.device)


class Tensor:
    """An array with autograd. ``requires_grad`` leaves accumulate ``.grad``."""

    __slots__ = ("array", "requires_grad", "grad_fn", "output_nr", "grad_array", "_spare",
                 "_post_hooks", "_grad_hooks", "__weakref__")
    __hash__ = object.__hash__
    __array_priority__ = 1000  # numpy defers to our operators: ndarray * Tensor is a Tensor

    def __init__(self, data, requires_grad: bool = False, device=None):
        if not isinstance(requires_grad, (bool, np.bool_)):   # torch.Tensor(2, 3) means a shape there
            raise TypeError(f"Tensor(data, requires_grad=False, device=None) got requires_grad={requires_grad!r}; "
                            "to make a tensor of a shape use engine.zeros(2, 3) or engine.empty(2, 3)")
        a = data.array if isinstance(data, Tensor) else data
        if not (isinstance(a, np.ndarray) or hasattr(a, "copy_to_host")):
            a = np.asarray(a, dtype=np.float32)   # torch.Tensor([1, 2]) is a float tensor
        if device is not None and device_type(device) != kernels.device_of(a):
            host_a = _host(a)
            a = kernels.ops(device_type(device)).asarray(host_a, dtype=host_a.dtype)
        self.array = a
        self.grad_fn = None
        self.output_nr = 0
        self.grad_array = None
        self._spare = None
        self._post_hooks = None
        self._grad_hooks = None     # a leaf's register_hook hooks (an op output's are on its node)
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, a, node: Node | None = None, output_nr: int = 0) -> "Tensor":
        """A Tensor around kernel or numpy output ``a`` (made by ``node`` if given)."""
        t = object.__new__(Tensor)
        t.array = a if isinstance(a, np.ndarray) or hasattr(a, "copy_to_host") else np.asarray(a)
        t.requires_grad = node is not None
        t.grad_fn = node
        t.output_nr = output_nr
        t.grad_array = None
        t._spare = None
        t._post_hooks = None
        t._grad_hooks = None
        return t

    def __getattr__(self, name):
        """Only for names a Tensor lacks (normal attribute access never comes here): numpy's
        names say what torch calls them."""
        hint = _NUMPY_ONLY.get(name)
        if hint is None:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'", name=name, obj=self)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}': numbacnn tensors follow "
                             f"torch, not numpy; use {hint}", name=name, obj=self)

    # --- what it is -------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return tuple(self.array.shape)

    @property
    def ndim(self) -> int:
        return len(self.array.shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.array.dtype)

    @property
    def device(self) -> device:
        kind = kernels.device_of(self.array)
        return device(kind, 0 if kind == "cuda" else None)

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[ops.dim_index(dim, self.ndim)]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    nelement = numel

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # --- data and gradient --------------------------------------------------------------
    @property
    def data(self) -> "Tensor":
        """The same array as a tensor outside the graph (writes to it are not recorded)."""
        return Tensor._wrap(self.array)

    @data.setter
    def data(self, value) -> None:
        self.array = value.array if isinstance(value, Tensor) else np.asarray(value)

    @property
    def grad(self) -> "Tensor | None":
        return None if self.grad_array is None else Tensor._wrap(self.grad_array)

    @grad.setter
    def grad(self, value) -> None:
        if value is None:
            self._spare = self.grad_array if self.grad_array is not None else self._spare
            self.grad_array = None
            return
        g = value.array if isinstance(value, Tensor) else np.asarray(value)
        if tuple(g.shape) != self.shape:
            raise ValueError(f"assigned grad has shape {tuple(g.shape)}, the tensor {self.shape}")
        if np.dtype(g.dtype) != self.dtype or kernels.device_of(g) != self.device.type:
            raise ValueError(f"assigned grad is {np.dtype(g.dtype)} on {kernels.device_of(g)}, the tensor "
                             f"{self.dtype} on {self.device.type}")
        self.grad_array = g

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("requires_grad_(False) on a tensor made by an operation; use .detach()")
        if requires_grad and self.dtype.kind not in "fc":
            raise RuntimeError(f"only floating point tensors can require gradients, this one is {self.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self) -> "Tensor":
        return Tensor._wrap(self.array)

    def detach_(self) -> "Tensor":
        self.grad_fn, self.requires_grad = None, False
        return self

    def _accumulate(self, g) -> None:
        """``.grad += g`` after the hooks (``register_hook``) that may replace g (the first
        gradient is copied into a kept buffer when there is one, so set_to_none does not
        reallocate every step), then the post-accumulate hooks."""
        for hook in getattr(self, "_grad_hooks", None) or ():   # unset on a Deferred
            r = hook(g)
            g = g if r is None else r
        if tuple(g.shape) != self.shape:
            raise RuntimeError(f"gradient of shape {tuple(g.shape)} for a tensor of shape {self.shape}")
        if np.dtype(g.dtype) != self.dtype:
            g = np.asarray(g, dtype=self.dtype) if isinstance(g, np.ndarray) else g
        kops = kernels.ops(kernels.device_of(self.array))
        if self.grad_array is None:
            spare = self._spare
            if (spare is None or spare.shape != g.shape or spare.dtype != g.dtype
                    or kernels.device_of(spare) != kernels.device_of(g)):
                spare = kops.zeros_like(g)
                self._spare = spare
            kops.copy_into(spare, g)
            self.grad_array = spare
        else:
            kops.add_(self.grad_array, g)
        if self._post_hooks:
            for hook in self._post_hooks:
                hook(self)

    def backward(self, gradient=None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
        """d self / d leaves, times ``gradient`` (default 1 for a one-element tensor),
        accumulated into the leaves' ``.grad``."""
        if create_graph:
            raise NotImplementedError("backward(create_graph=True) (higher-order gradients) is not "
                                      "supported; numbacnn computes first derivatives only")
        if not self.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn: "
                               "nothing in its computation requires grad (was it made under no_grad() or "
                               "inference_mode(), or were the parameters frozen?)")
        if gradient is None:
            if self.numel() != 1:
                raise RuntimeError(f"grad can be implicitly created only for one-element outputs; this "
                                   f"tensor has shape {self.shape}: pass backward(gradient) of that shape")
            g = kernels.ops(self.device.type).asarray(np.ones(self.shape, self.dtype), dtype=self.dtype)
        else:
            g = gradient.array if isinstance(gradient, Tensor) else np.asarray(gradient, dtype=self.dtype)
            if tuple(g.shape) != self.shape:
                raise RuntimeError(f"Mismatch in shape: the gradient has shape {tuple(g.shape)} and the "
                                   f"tensor has shape {self.shape}")
            if np.dtype(g.dtype) != self.dtype:
                raise RuntimeError(f"the gradient is {np.dtype(g.dtype)}, the tensor {self.dtype}")
            if kernels.device_of(g) != self.device.type:
                raise RuntimeError(f"the gradient is on {kernels.device_of(g)}, the tensor on {self.device}")
        engine.backward([self], [g], retain_graph=bool(retain_graph))

    def register_hook(self, hook) -> "HookHandle":
        """``hook(grad) -> Tensor or None`` runs when this tensor's gradient is computed
        (a leaf's: the sum over its uses, before it is added to ``.grad``); what it
        returns replaces the gradient. ``handle.remove()`` takes it away."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")

        def on_array(g):
            r = hook(Tensor._wrap(g))
            return None if r is None else (r.array if isinstance(r, Tensor) else r)

        if self.grad_fn is None:
            if getattr(self, "_grad_hooks", None) is None:
                self._grad_hooks = []
            return HookHandle(self._grad_hooks, on_array)
        node = self.grad_fn
        if node.pre_hooks is None:
            node.pre_hooks = {}
        return HookHandle(node.pre_hooks.setdefault(self.output_nr, []), on_array)

    def register_post_accumulate_grad_hook(self, hook) -> "HookHandle":
        """``hook(tensor)`` runs after a gradient has been added to this leaf's ``.grad``."""
        if self.grad_fn is not None:
            raise RuntimeError("post-accumulate-grad hooks are for leaf tensors")
        if self._post_hooks is None:
            self._post_hooks = []
        return HookHandle(self._post_hooks, hook)

    def retain_grad(self) -> None:
        """Keeps ``.grad`` for a tensor made by an operation (leaves always keep it)."""
        if self.grad_fn is None:
            return

        def keep(g):
            kops = kernels.ops(kernels.device_of(g))
            if self.grad_array is None:
                self.grad_array = kops.zeros_like(g)
            kops.add_(self.grad_array, g)

        node = self.grad_fn
        if node.pre_hooks is None:
            node.pre_hooks = {}
        node.pre_hooks.setdefault(self.output_nr, []).append(keep)

    # --- conversion -----------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The array itself on the CPU (shared memory); a host copy of a CUDA tensor."""
        return _host(self.array)

    def __array__(self, dtype=None, copy=None):
        a = _host(self.array)
        return a if dtype is None else a.astype(dtype)

    def item(self):
        if self.numel() != 1:
            raise ValueError(f"a Tensor with {self.numel()} elements cannot be converted to a Python number")
        return _host(self.array).reshape(-1)[0].item()

    def tolist(self):
        return _host(self.array).tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu":
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError(f"the truth value of a tensor with {self.numel()} elements is ambiguous; "
                               "use .any() or .all()")
        return bool(self.item())

    def __format__(self, spec):
        return format(self.item(), spec) if self.numel() == 1 and spec else str(self)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __repr__(self):
        body = np.array2string(_host(self.array), separator=", ", prefix="tensor(", precision=4)
        extra = []
        if self.device.type != "cpu":
            extra.append(f"device='{self.device}'")
        if self.dtype not in (np.float32, np.int64, np.bool_):
            extra.append(f"dtype={self.dtype}")
        if self.grad_fn is not None:
            extra.append(f"grad_fn=<{self.grad_fn.name()}>")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extra) + ")"

    def to(self, *args, **kwargs) -> "Tensor":
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(other_tensor)``;
        ``non_blocking`` and ``copy`` are accepted. The same tensor when nothing changes."""
        kwargs.pop("non_blocking", None)
        kwargs.pop("copy", None)
        dev, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
        if kwargs:
            raise TypeError(f"to() got unexpected arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                dev, dtype = a.device, a.dtype
            elif isinstance(a, (str, device)):
                dev = a
            else:
                dtype = a
        out = self
        if dev is not None and device_type(dev) != self.device.type:
            out = ops.ToDevice.apply(out, device_type(dev))
        if dtype is not None and np.dtype(dtype) != out.dtype:
            out = ops.Cast.apply(out, np.dtype(dtype))
        return out

    def cuda(self, device=None, non_blocking=False) -> "Tensor":
        return self.to("cuda")

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def float(self) -> "Tensor":
        return self.to(np.float32)

    def double(self) -> "Tensor":
        return self.to(np.float64)

    def long(self) -> "Tensor":
        return self.to(np.int64)

    def int(self) -> "Tensor":
        return self.to(np.int32)

    def bool(self) -> "Tensor":
        return self.to(np.bool_)

    def half(self) -> "Tensor":
        raise TypeError("float16 tensors are not supported: numbacnn computes in float32 (use .float())")

    def type(self, dtype=None):
        return str(self.dtype) if dtype is None else self.to(dtype)

    def clone(self) -> "Tensor":
        return ops.Clone.apply(self)

    def contiguous(self) -> "Tensor":
        a = self.array
        if not isinstance(a, np.ndarray) or a.flags.c_contiguous:
            return self
        return ops.Clone.apply(self) if self.requires_grad else Tensor._wrap(np.ascontiguousarray(a))

    def is_contiguous(self) -> bool:
        return not isinstance(self.array, np.ndarray) or self.array.flags.c_contiguous

    # --- shapes ----------------------------------------------------------------------------
    def view(self, *shape) -> "Tensor":
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        if isinstance(self.array, np.ndarray) and not self.array.flags.c_contiguous:
            raise RuntimeError("view() needs a contiguous tensor (this one was permuted or transposed); "
                               "use .reshape(...) or .contiguous().view(...)")
        return ops.Reshape.apply(self, tuple(int(s) for s in shape))

    def reshape(self, *shape) -> "Tensor":
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return ops.Reshape.apply(self, tuple(int(s) for s in shape))

    def view_as(self, other) -> "Tensor":
        return self.view(other.shape)

    def reshape_as(self, other) -> "Tensor":
        return self.reshape(other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor":
        shape = self.shape
        if not shape:
            return self.reshape(1)
        s, e = ops.dim_index(start_dim, len(shape), "start_dim"), ops.dim_index(end_dim, len(shape), "end_dim")
        if s > e:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        return self.reshape(shape[:s] + (int(np.prod(shape[s:e + 1])),) + shape[e + 1:])

    def unflatten(self, dim: int, sizes) -> "Tensor":
        d = ops.dim_index(dim, self.ndim)
        return self.reshape(self.shape[:d] + tuple(sizes) + self.shape[d + 1:])

    def permute(self, *dims) -> "Tensor":
        dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        axes = tuple(ops.dim_index(d, self.ndim) for d in dims)
        if sorted(axes) != list(range(self.ndim)):
            raise ValueError(f"permute{tuple(dims)} is not an order of the {self.ndim} dimensions of a tensor of "
                             f"shape {self.shape}")
        return ops.Permute.apply(self, axes)

    def transpose(self, dim0: int, dim1: int) -> "Tensor":
        dims = list(range(self.ndim))
        dim0, dim1 = ops.dim_index(dim0, self.ndim, "dim0"), ops.dim_index(dim1, self.ndim, "dim1")
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
        return ops.Permute.apply(self, tuple(dims))

    def t(self) -> "Tensor":
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, got {self.ndim}; use transpose")
        return self if self.ndim < 2 else self.transpose(0, 1)

    @property
    def T(self) -> "Tensor":
        return self.permute(tuple(reversed(range(self.ndim))))

    def squeeze(self, dim: int | None = None) -> "Tensor":
        if dim is None:
            return self.reshape(tuple(s for s in self.shape if s != 1))
        d = ops.dim_index(dim, self.ndim)
        if not self.shape or self.shape[d] != 1:
            return self
        return self.reshape(self.shape[:d] + self.shape[d + 1:])

    def unsqueeze(self, dim: int) -> "Tensor":
        d = ops.dim_index(dim, self.ndim, new=True)
        return self.reshape(self.shape[:d] + (1,) + self.shape[d:])

    def expand(self, *sizes) -> "Tensor":
        sizes = sizes[0] if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
        lead = len(sizes) - self.ndim
        shape = tuple(self.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
        return ops.Expand.apply(self, shape)

    def expand_as(self, other) -> "Tensor":
        return self.expand(other.shape)

    def __getitem__(self, key) -> "Tensor":
        return ops.Index.apply(self, _key(key))

    def __setitem__(self, key, value) -> None:
        self._check_inplace("item assignment")
        v = value.array if isinstance(value, Tensor) else value
        a = self.array
        if isinstance(a, np.ndarray):
            a[_key(key)] = _host(v) if hasattr(v, "copy_to_host") else v
        else:
            host_a = _host(a)
            host_a[_key(key)] = _host(v) if hasattr(v, "copy_to_host") else v
            kernels.ops("cuda").copy_into(a, kernels.ops("cuda").asarray(host_a, dtype=host_a.dtype))

    # --- arithmetic ---------------------------------------------------------------------------
    def __add__(self, other):
        if (isinstance(other, Tensor) and other.shape == self.shape and other.dtype == self.dtype
                and self.dtype.kind == "f"):   # the kernel adds floats; numpy the rest
            _operand(other, self)
            return deferred.add(self, other)
        return ops.Add.apply(self, _operand(other, self))

    def __radd__(self, other):
        return ops.Add.apply(_operand(other, self), self)

    def __sub__(self, other):
        return ops.Sub.apply(self, _operand(other, self))

    def __rsub__(self, other):
        return ops.Sub.apply(_operand(other, self), self)

    def __mul__(self, other):
        return ops.Mul.apply(self, _operand(other, self))

    def __rmul__(self, other):
        return ops.Mul.apply(_operand(other, self), self)

    def __truediv__(self, other):
        return ops.Div.apply(self, _operand(other, self))

    def __rtruediv__(self, other):
        return ops.Div.apply(_operand(other, self), self)

    def __floordiv__(self, other):
        return Tensor._wrap(np.asarray(_host(self.array) // np.asarray(_operand(other, self))))

    def __mod__(self, other):
        return Tensor._wrap(np.asarray(_host(self.array) % np.asarray(_operand(other, self))))

    def __pow__(self, other):
        return ops.Pow.apply(self, _operand(other, self))

    def __rpow__(self, other):
        return ops.Pow.apply(_operand(other, self), self)

    def __neg__(self):
        return ops.Neg.apply(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return ops.Abs.apply(self)

    def __matmul__(self, other):
        return ops.MatMul.apply(self, _operand(other, self))

    def __rmatmul__(self, other):
        return ops.MatMul.apply(_operand(other, self), self)

    def _inplace(self, result: "Tensor") -> "Tensor":
        """``self op= x``: written into self's array when no graph is recorded through it;
        otherwise the new tensor (``out += shortcut`` in a forward then rebinds the name,
        and whatever saved the old value for backward still has it)."""
        if self.requires_grad and grad_mode.is_grad_enabled():
            if self.is_leaf:
                raise RuntimeError("a leaf tensor that requires grad is used in an in-place operation; "
                                   "wrap the update in `with no_grad():`")
            return result
        if result.requires_grad and grad_mode.is_grad_enabled():
            return result
        self._assign(result.array)
        return self

    def _assign(self, a) -> None:
        if tuple(a.shape) != self.shape:
            a = np.broadcast_to(_host(a), self.shape)
        if isinstance(self.array, np.ndarray):
            np.copyto(self.array, _host(a), casting="unsafe")
        else:
            kernels.ops("cuda").copy_into(self.array, kernels.ops("cuda").asarray(_host(a), dtype=self.dtype))

    def __iadd__(self, other):
        return self._inplace(self + other)

    def __isub__(self, other):
        return self._inplace(self - other)

    def __imul__(self, other):
        return self._inplace(self * other)

    def __itruediv__(self, other):
        return self._inplace(self / other)

    def add(self, other, alpha=1):
        return self + (other * alpha if alpha != 1 else other)

    def sub(self, other, alpha=1):
        return self - (other * alpha if alpha != 1 else other)

    def mul(self, other):
        return self * other

    def div(self, other):
        return self / other

    def pow(self, exponent):
        return self ** exponent

    def matmul(self, other):
        return self @ other

    mm = matmul

    def exp(self):
        return ops.Exp.apply(self)

    def log(self):
        return ops.Log.apply(self)

    def sqrt(self):
        return ops.Sqrt.apply(self)

    def abs(self):
        return ops.Abs.apply(self)

    def clamp(self, min=None, max=None):
        return ops.Clamp.apply(self, min=min, max=max)

    clip = clamp

    def sign(self):
        """-1, 0 or 1 per element (its gradient is zero: the result is outside the graph)."""
        return Tensor._wrap(np.sign(_host(self.array)))

    def norm(self, p=2, dim=None, keepdim=False):
        """The p-norm over all elements or along ``dim`` (p = 2 by default, "fro" is 2)."""
        p = 2 if p == "fro" else p
        if p == 2:
            return (self * self).sum(dim, keepdim).sqrt()
        return (self.abs() ** p).sum(dim, keepdim) ** (1.0 / p)

    def masked_fill(self, mask, value):
        """A copy with ``value`` where ``mask`` is true (``mask`` broadcasts to this shape)."""
        return ops.Where.apply(_operand(mask, self).detach(), _operand(value, self), self)

    def is_floating_point(self) -> bool:
        return self.dtype.kind == "f"

    def new_zeros(self, *size, dtype=None):
        size = size[0] if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
        return Tensor(np.zeros(tuple(size), dtype or self.dtype), device=self.device)

    def new_ones(self, *size, dtype=None):
        size = size[0] if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
        return Tensor(np.ones(tuple(size), dtype or self.dtype), device=self.device)

    def new_full(self, size, fill_value, dtype=None):
        return Tensor(np.full(tuple(size), fill_value, dtype or self.dtype), device=self.device)

    def new_tensor(self, data, dtype=None):
        return Tensor(np.array(data, dtype=dtype or self.dtype), device=self.device)

    # --- in place (outside the graph) -------------------------------------------------------------
    def _check_inplace(self, what: str) -> None:
        if self.requires_grad and grad_mode.is_grad_enabled():
            raise RuntimeError(f"{what} on a tensor that requires grad while recording a graph; "
                               "do it under `with no_grad():` or on .data")

    def add_(self, other, alpha=1):
        self._check_inplace("add_()")
        self._assign(_host(self.array) + alpha * np.asarray(other))
        return self

    def sub_(self, other, alpha=1):
        return self.add_(other, -alpha)

    def mul_(self, other):
        self._check_inplace("mul_()")
        self._assign(_host(self.array) * np.asarray(other))
        return self

    def div_(self, other):
        self._check_inplace("div_()")
        self._assign(_host(self.array) / np.asarray(other))
        return self

    def clamp_(self, min=None, max=None):
        self._check_inplace("clamp_()")
        self._assign(np.clip(_host(self.array), min, max))
        return self

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        self._check_inplace("fill_()")
        kernels.ops(self.device.type).fill(self.array, value)
        return self

    def copy_(self, src):
        self._check_inplace("copy_()")
        self._assign(src.array if isinstance(src, Tensor) else np.asarray(src))
        return self

    def normal_(self, mean=0.0, std=1.0):
        self._check_inplace("normal_()")
        self._assign(random.generator().normal(mean, std, self.shape))
        return self

    def uniform_(self, a=0.0, b=1.0):
        self._check_inplace("uniform_()")
        self._assign(random.generator().uniform(a, b, self.shape))
        return self

    # --- reductions -------------------------------------------------------------------------------
    def sum(self, dim=None, keepdim=False, dtype=None):
        """With ``dtype``, the elements are cast first and summed in it (as torch)."""
        return ops.Sum.apply(self if dtype is None else self.to(dtype), dim=dim, keepdim=keepdim)

    def mean(self, dim=None, keepdim=False):
        return ops.Mean.apply(self, dim=dim, keepdim=keepdim)

    def var(self, dim=None, unbiased=True, keepdim=False, correction=None):
        corr = correction if correction is not None else (1 if unbiased else 0)
        return ops.Var.apply(self, dim=dim, keepdim=keepdim, correction=corr)

    def std(self, dim=None, unbiased=True, keepdim=False, correction=None):
        return self.var(dim, unbiased, keepdim, correction).sqrt()

    def _extreme(self, dim, keepdim, largest):
        if isinstance(dim, Tensor):  # torch.max(a, b): the elementwise maximum
            other = _host(dim.array)
            pick = np.maximum if largest else np.minimum
            return Tensor._wrap(pick(_host(self.array), other))
        out = ops.MaxMin.apply(self, dim=dim, keepdim=keepdim, largest=largest)
        return out if dim is None else ValuesIndices(*out)

    def max(self, dim=None, keepdim=False):
        """The largest value; along ``dim``, (values, indices)."""
        return self._extreme(dim, keepdim, True)

    def min(self, dim=None, keepdim=False):
        return self._extreme(dim, keepdim, False)

    def argmax(self, dim=None, keepdim=False):
        a = _host(self.array)
        if dim is None:
            return Tensor._wrap(np.asarray(np.argmax(a), dtype=np.int64))
        return Tensor._wrap(np.asarray(np.argmax(a, axis=dim, keepdims=keepdim), dtype=np.int64))

    def argmin(self, dim=None, keepdim=False):
        a = _host(self.array)
        if dim is None:
            return Tensor._wrap(np.asarray(np.argmin(a), dtype=np.int64))
        return Tensor._wrap(np.asarray(np.argmin(a, axis=dim, keepdims=keepdim), dtype=np.int64))

    def topk(self, k, dim=-1, largest=True, sorted=True):
        a = _host(self.array)
        order = np.argsort(-a if largest else a, axis=dim, kind="stable")
        idx = np.take(order, np.arange(k), axis=dim)
        return ValuesIndices(Tensor._wrap(np.take_along_axis(a, idx, dim)), Tensor._wrap(idx.astype(np.int64)))

    def any(self):
        return Tensor._wrap(np.asarray(np.any(_host(self.array))))

    def all(self):
        return Tensor._wrap(np.asarray(np.all(_host(self.array))))

    # --- comparisons (no gradient) -----------------------------------------------------------------
    def _compare(self, other, fn):
        o = other.array if isinstance(other, Tensor) else other
        return Tensor._wrap(np.asarray(fn(_host(self.array), _host(o) if hasattr(o, "copy_to_host") else o)))

    def __eq__(self, other):
        return self._compare(other, np.equal)

    def __ne__(self, other):
        return self._compare(other, np.not_equal)

    def __lt__(self, other):
        return self._compare(other, np.less)

    def __le__(self, other):
        return self._compare(other, np.less_equal)

    def __gt__(self, other):
        return self._compare(other, np.greater)

    def __ge__(self, other):
        return self._compare(other, np.greater_equal)

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    def equal(self, other) -> bool:
        return self.shape == tuple(other.shape) and bool(np.array_equal(_host(self.array), np.asarray(other)))


_NUMPY_ONLY = {
    "astype": ".to(dtype) (or .float(), .double(), .long(), .int(), .bool())",
    "copy": ".clone() (a tensor) or .numpy().copy() (an array)",
    "ravel": ".flatten() or .view(-1)",
    "swapaxes": ".transpose(dim0, dim1)",
    "fill": ".fill_(value)",
    "dot": "a @ b or .matmul(b)",
    "tobytes": ".numpy().tobytes()",
    "itemsize": ".numpy().itemsize",
    "nbytes": ".numpy().nbytes",
    "flat": ".flatten()",
}
"""numpy's names for what a Tensor does otherwise (the error for ``t.astype`` says so)."""


class HookHandle:
    """What ``register_hook`` returns: ``handle.remove()`` takes the hook away."""

    __slots__ = ("hooks", "hook")

    def __init__(self, hooks: list, hook):
        self.hooks, self.hook = hooks, hook
        hooks.append(hook)

    def remove(self) -> None:
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


def clear_grad(t: Tensor, set_to_none: bool = True) -> None:
    """``t.grad = None`` (its buffer kept for the next backward to fill), or zeroed in place."""
    if set_to_none or t.grad_array is None:
        t.grad = None
    else:
        kernels.ops(kernels.device_of(t.grad_array)).fill(t.grad_array, 0)


def _key(key):
    """An index with Tensors replaced by host arrays."""
    if isinstance(key, tuple):
        return tuple(_key(k) for k in key)
    if isinstance(key, Tensor):
        return _host(key.array)
    return key


from . import deferred  # noqa: E402  (deferred.py subclasses Tensor: it is imported once Tensor exists)
