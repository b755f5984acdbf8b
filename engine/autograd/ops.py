"""Differentiable tensor operations over numpy: arithmetic with broadcasting, matmul,
reductions, shapes, indexing, joins. Tensors' methods and operators run on these.

The network's heavy operations (convolution, pooling, batch norm, losses...) are Numba
kernels in :mod:`engine.kernels`, wrapped by :mod:`engine.nn.functional`. These are the
glue around them, written in numpy; on CUDA they run on host copies of the arrays and
hand the result back to the device (the ``@host`` decorator), which is correct and,
for the small tensors glue code touches (logits, labels, losses), cheap.
"""
from __future__ import annotations

import functools

import numpy as np

from .. import kernels
from ..errors import ShapeError
from .function import ArrayFunction


def _is_device(a) -> bool:
    return hasattr(a, "copy_to_host") and not isinstance(a, np.ndarray)


def _to_device(out):
    if isinstance(out, tuple):
        return tuple(_to_device(o) for o in out)
    if isinstance(out, (np.ndarray, np.generic)):   # numpy's arithmetic on 0-d arrays gives scalars
        out = np.asarray(out)
        return kernels.ops("cuda").asarray(out, dtype=out.dtype)
    return out


def host(fn):
    """Runs a forward/backward written for numpy on host copies of any device arrays among
    its arguments, and moves array results back to the device."""
    @functools.wraps(fn)
    def wrapped(ctx, *args, **kwargs):
        if not any(_is_device(a) for a in args):
            return fn(ctx, *args, **kwargs)
        return _to_device(fn(ctx, *[np.asarray(a.copy_to_host()) if _is_device(a) else a for a in args],
                             **kwargs))
    return wrapped


def unbroadcast(g, shape):
    """Sums ``g`` over the axes that broadcasting added or stretched, down to ``shape``."""
    if g.shape == tuple(shape):
        return g
    g = g.sum(axis=tuple(range(g.ndim - len(shape)))) if g.ndim > len(shape) else g
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def c_order(a) -> np.ndarray:
    """``a`` as a C-contiguous array, copied only when it is not one (numpy's
    ``ascontiguousarray`` would turn a 0-d array into shape (1,))."""
    return np.asarray(a, order="C")


def dim_index(dim, ndim: int, what: str = "dim", new: bool = False) -> int:
    """``dim`` (negative counts from the end) as an axis in [0, ndim), or in [0, ndim] for
    a ``new`` axis (unsqueeze, stack); an IndexError naming it when out of range (numpy
    would wrap or refuse in its own words). A 0-d tensor takes dim 0 or -1, as in torch."""
    n = max(ndim + new, 1)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not -n <= dim < n:
        where = f"a new axis of a tensor of {ndim} dimensions" if new else f"a tensor of {ndim} dimensions"
        raise IndexError(f"{what}={dim!r} is out of range for {where} (expected an int in [{-n}, {n - 1}])")
    return int(dim) % n


def broadcast_shape(name: str, a, b) -> tuple:
    """The shape ``a`` and ``b`` broadcast to; a ShapeError naming the operation if none."""
    try:
        return np.broadcast_shapes(np.shape(a), np.shape(b))
    except ValueError:
        raise ShapeError(f"{name}: shapes {np.shape(a)} and {np.shape(b)} cannot be broadcast together (from "
                         "the last axis on, each pair of sizes must be equal or one of them 1)") from None


def _promote(out, *inputs) -> np.ndarray:
    """numpy's result ``out`` of ``inputs`` in torch's dtype. A floating point result takes
    the widest floating dtype among the input tensors (tensors with dimensions rank above
    0-d ones, as in torch), or float32 (torch's default dtype) when none is floating:
    numpy would make ``int_tensor / 2``, ``int_tensor * float32_tensor``,
    ``float32_tensor * np.float64(2)`` and ``int_tensor.sqrt()`` float64."""
    out = np.asarray(out)
    if out.dtype.kind != "f":
        return out
    floats = [i for i in inputs if isinstance(i, np.ndarray) and i.dtype.kind == "f"]
    ranked = [i.dtype for i in floats if i.ndim] or [i.dtype for i in floats]
    want = np.result_type(*ranked) if ranked else np.dtype(np.float32)
    return out if out.dtype == want else out.astype(want)


# --- elementwise ------------------------------------------------------------------------
class Add(ArrayFunction):
    @staticmethod
    @host
    def forward(ctx, a, b):
        broadcast_shape("add", a, b)
        ctx.shapes = (np.shape(a), np.shape(b))
        return _promote(np.add(a, b), a, b)

    @staticmethod
    @host
    def backward(ctx, g):
        sa, sb = ctx.shapes
        return unbroadcast(g, sa), unbroadcast(g, sb)


class AddSameShape(ArrayFunction):
    """a + b of two arrays of one shape and dtype, by the device's kernel (parallel on the
    CPU, on the device under CUDA; the residual join); ``relu`` gives max(a + b, 0)."""

    @staticmethod
    def forward(ctx, a, b, relu=False):
        y = kernels.ops(kernels.device_of(a)).add(a, b, relu=relu)
        ctx.save_for_backward(y if relu else None)
        return y

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        if y is not None:
            g = kernels.ops(kernels.device_of(g)).relu_backward(y, g)
        return g, g


class Sub(ArrayFunction):
    @staticmethod
    @host
    def forward(ctx, a, b):
        broadcast_shape("sub", a, b)
        ctx.shapes = (np.shape(a), np.shape(b))
        return _promote(np.subtract(a, b), a, b)

    @staticmethod
    @host
    def backward(ctx, g):
        sa, sb = ctx.shapes
        return unbroadcast(g, sa), unbroadcast(-g, sb)


class Mul(ArrayFunction):
    @staticmethod
    @host
    def forward(ctx, a, b):
        broadcast_shape("mul", a, b)
        ctx.save_for_backward(a, b)
        return _promote(np.multiply(a, b), a, b)

    @staticmethod
    @host
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = unbroadcast(g * b, np.shape(a)) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(g * a, np.shape(b)) if ctx.needs_input_grad[1] else None
        return ga, gb


class Div(ArrayFunction):
    @staticmethod
    @host
    def forward(ctx, a, b):
        broadcast_shape("div", a, b)
        ctx.save_for_backward(a, b)
        return _promote(np.true_divide(a, b), a, b)

    @staticmethod
    @host
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = unbroadcast(g / b, np.shape(a)) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(-g * a / (b * b), np.shape(b)) if ctx.needs_input_grad[1] else None
        return ga, gb


class Pow(ArrayFunction):
    """a ** b for a tensor a and a tensor or number b."""

    @staticmethod
    @host
    def forward(ctx, a, b):
        broadcast_shape("pow", a, b)
        y = _promote(np.power(a, b), a, b)
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    @host
    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        ga = unbroadcast(g * b * np.power(a, b - 1), np.shape(a)) if ctx.needs_input_grad[0] else None
        gb = None
        if ctx.needs_input_grad[1]:
            gb = unbroadcast(g * y * np.log(np.where(np.asarray(a) > 0, a, 1)), np.shape(b))
        return ga, gb


class Neg(ArrayFunction):
    @staticmethod
    @host
    def forward(ctx, a):
        return np.negative(a)

    @staticmethod
    @host
    def backward(ctx, g):
        return -g


class Exp(ArrayFunction):
    @staticmethod
    @host
    def forward(ctx, a):
        y = _promote(np.exp(a), a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    @host
    def backward(ctx, g):
        return g * ctx.saved_tensors[0]


class Log(ArrayFunction):
    @staticmethod
    @host
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _promote(np.log(a), a)

    @staticmethod
    @host
    def backward(ctx, g):
        return g / ctx.saved_tensors[0]


class Sqrt(ArrayFunction):
    @staticmethod
    @host
    def forward(ctx, a):
        y = _promote(np.sqrt(a), a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    @host
    def backward(ctx, g):
        return g / (2 * ctx.saved_tensors[0])


class Abs(ArrayFunction):
    @staticmethod
    @host
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    @host
    def backward(ctx, g):
        return g * np.sign(ctx.saved_tensors[0])


class Where(ArrayFunction):
    """``a`` where ``cond`` is true, else ``b`` (all three broadcast together)."""

    @staticmethod
    @host
    def forward(ctx, cond, a, b):
        cond = np.asarray(cond, dtype=bool)
        ctx.save_for_backward(cond)
        ctx.shapes = (np.shape(a), np.shape(b))
        return _promote(np.where(cond, a, b), a, b)

    @staticmethod
    @host
    def backward(ctx, g):
        cond, = ctx.saved_tensors
        sa, sb = ctx.shapes
        return None, unbroadcast(np.where(cond, g, 0), sa), unbroadcast(np.where(cond, 0, g), sb)


class Clamp(ArrayFunction):
    @staticmethod
    @host
    def forward(ctx, a, min=None, max=None):
        y = np.clip(a, min, max)
        ctx.save_for_backward((y == a) if (min is not None or max is not None) else None)
        return y

    @staticmethod
    @host
    def backward(ctx, g):
        keep, = ctx.saved_tensors
        return g if keep is None else g * keep


# --- matmul -------------------------------------------------------------------------------
class MatMul(ArrayFunction):
    @staticmethod
    @host
    def forward(ctx, a, b):
        if np.ndim(a) == 0 or np.ndim(b) == 0:
            raise ValueError("matmul needs tensors of at least one dimension; use * for scalars")
        ctx.save_for_backward(a, b)
        try:
            return np.asarray(np.matmul(a, b))
        except ValueError:
            raise ShapeError(f"matmul got shapes {np.shape(a)} and {np.shape(b)}; it needs (..., n, k) @ (..., k, m) "
                             "with one k and leading axes that broadcast") from None

    @staticmethod
    @host
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        a2 = a[None, :] if a.ndim == 1 else a     # vectors as (1, n) and (n, 1) matrices:
        b2 = b[:, None] if b.ndim == 1 else b     # g gets back the axes matmul dropped
        g2 = np.reshape(g, np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]) + (a2.shape[-2], b2.shape[-1]))
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = unbroadcast(np.matmul(g2, np.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            gb = unbroadcast(np.matmul(np.swapaxes(a2, -1, -2), g2), b2.shape).reshape(b.shape)
        return ga, gb


# --- reductions ---------------------------------------------------------------------------
def _axes(dim, ndim):
    if dim is None:
        return None
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    axes = tuple(dim_index(d, ndim) for d in dims)
    return axes if ndim else ()


def _expand(g, shape, axes, keepdim):
    """A reduction's gradient broadcast back to the input's shape."""
    if axes is not None and not keepdim:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape)


class Sum(ArrayFunction):
    @staticmethod
    @host
    def forward(ctx, a, dim=None, keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, _axes(dim, a.ndim), keepdim
        out = np.sum(a, axis=ctx.axes, keepdims=keepdim)
        return np.asarray(out, dtype=np.int64 if a.dtype.kind in "biu" else a.dtype)

    @staticmethod
    @host
    def backward(ctx, g):
        return c_order(_expand(g, ctx.shape, ctx.axes, ctx.keepdim))


class Mean(ArrayFunction):
    @staticmethod
    @host
    def forward(ctx, a, dim=None, keepdim=False):
        if a.dtype.kind != "f":
            raise TypeError(f"mean() needs a floating point tensor, got {a.dtype}; use .float() first")
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, _axes(dim, a.ndim), keepdim
        out = np.asarray(np.mean(a, axis=ctx.axes, keepdims=keepdim), dtype=a.dtype)
        ctx.count = a.size // max(out.size, 1)
        return out

    @staticmethod
    @host
    def backward(ctx, g):
        return c_order(_expand(g / ctx.count, ctx.shape, ctx.axes, ctx.keepdim))


class MaxMin(ArrayFunction):
    """Values (and, along a dim, indices) of the max (``largest``) or min; the gradient
    goes to the first extreme element, as torch's."""

    differentiable_outputs = (0,)

    @staticmethod
    @host
    def forward(ctx, a, dim=None, keepdim=False, largest=True):
        arg = np.argmax if largest else np.argmin
        ctx.shape, ctx.dim, ctx.keepdim = a.shape, dim, keepdim
        if dim is None:
            i = int(arg(a))
            ctx.index = i
            return np.asarray(a.reshape(-1)[i])
        d = dim_index(dim, a.ndim)
        ctx.dim = d
        idx = np.asarray(arg(a, axis=d), dtype=np.int64)
        vals = np.take_along_axis(a, np.expand_dims(idx, d), d)
        ctx.idx = idx
        if not keepdim:
            vals = vals.squeeze(d)
            return c_order(vals), idx
        return c_order(vals), np.expand_dims(idx, d)

    @staticmethod
    @host
    def backward(ctx, g, *_):
        out = np.zeros(ctx.shape, g.dtype)
        if ctx.dim is None:
            out.reshape(-1)[ctx.index] = g
            return out
        gk = g if ctx.keepdim else np.expand_dims(g, ctx.dim)
        np.put_along_axis(out, np.expand_dims(ctx.idx, ctx.dim), gk, ctx.dim)
        return out


class Var(ArrayFunction):
    @staticmethod
    @host
    def forward(ctx, a, dim=None, keepdim=False, correction=1):
        axes = _axes(dim, a.ndim)
        n = a.size if axes is None else int(np.prod([a.shape[i] for i in axes]))
        mean = np.mean(a, axis=axes, keepdims=True)
        ctx.save_for_backward(a - mean)
        ctx.axes, ctx.keepdim, ctx.denom, ctx.shape = axes, keepdim, max(n - correction, 1), a.shape
        return np.asarray(np.sum((a - mean) ** 2, axis=axes, keepdims=keepdim) / ctx.denom, dtype=a.dtype)

    @staticmethod
    @host
    def backward(ctx, g):
        centred, = ctx.saved_tensors
        return _expand(g, ctx.shape, ctx.axes, ctx.keepdim) * centred * (2.0 / ctx.denom)


# --- shapes -------------------------------------------------------------------------------
class Reshape(ArrayFunction):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        shape = _resolve(shape, a.size, a.shape)
        if isinstance(a, np.ndarray):
            return c_order(a).reshape(shape)
        return a.reshape(shape)  # device arrays are C-contiguous

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape)


def _resolve(shape, size, old_shape):
    """``shape`` with its one -1 replaced by what makes ``size`` elements; a ShapeError
    when no such shape holds ``size`` elements (those of a tensor of ``old_shape``)."""
    shape = tuple(int(s) for s in shape)
    free = shape.count(-1)
    known = int(np.prod([s for s in shape if s != -1]))
    if free > 1 or min(shape, default=0) < -1 or (known != size if not free else (known == 0 or size % known)):
        raise ShapeError(f"cannot view or reshape a tensor of shape {tuple(old_shape)} ({size} elements) as "
                         f"{shape}")
    return tuple(size // known if s == -1 else s for s in shape)


class Permute(ArrayFunction):
    @staticmethod
    @host
    def forward(ctx, a, dims):
        ctx.dims = dims
        return np.transpose(a, dims)

    @staticmethod
    @host
    def backward(ctx, g):
        return np.transpose(g, np.argsort(ctx.dims))


class Index(ArrayFunction):
    """a[key] for basic and advanced (integer / boolean array) indexing."""

    @staticmethod
    @host
    def forward(ctx, a, key):
        ctx.shape, ctx.dtype, ctx.key = a.shape, a.dtype, key
        out = np.asarray(a[key])
        # advanced indexing copies: in C order, as torch's (so .view works); a basic-indexing view stays a view
        return out if out.flags.c_contiguous or np.may_share_memory(out, a) else out.copy(order="C")

    @staticmethod
    @host
    def backward(ctx, g):
        out = np.zeros(ctx.shape, g.dtype)
        np.add.at(out, ctx.key, g)
        return out


class Expand(ArrayFunction):
    @staticmethod
    @host
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        try:
            return np.broadcast_to(a, shape)
        except ValueError:
            raise ShapeError(f"expand of a tensor of shape {a.shape} to {tuple(shape)}: each size must equal the "
                             "tensor's or stretch a size of 1 (new axes go in front)") from None

    @staticmethod
    @host
    def backward(ctx, g):
        return unbroadcast(g, ctx.shape)


class Cat(ArrayFunction):
    @staticmethod
    @host
    def forward(ctx, *arrays, dim=0):
        d = dim_index(dim, arrays[0].ndim)
        shapes = [a.shape for a in arrays]
        if any(len(s) != len(shapes[0]) or s[:d] + s[d + 1:] != shapes[0][:d] + shapes[0][d + 1:] for s in shapes):
            raise ShapeError(f"cat along dim {dim} got tensors of shapes {shapes}; they must match except along "
                             "that dim")
        ctx.dim, ctx.sizes = d, [s[d] for s in shapes]
        return np.concatenate(arrays, axis=d)

    @staticmethod
    @host
    def backward(ctx, g):
        cuts = np.cumsum(ctx.sizes)[:-1]
        return tuple(c_order(p) for p in np.split(g, cuts, axis=ctx.dim))


class Stack(ArrayFunction):
    @staticmethod
    @host
    def forward(ctx, *arrays, dim=0):
        ctx.dim = dim_index(dim, arrays[0].ndim, new=True)
        if len({a.shape for a in arrays}) != 1:
            raise ShapeError(f"stack needs tensors of one shape, got {[a.shape for a in arrays]}")
        return np.stack(arrays, axis=ctx.dim)

    @staticmethod
    @host
    def backward(ctx, g):
        return tuple(c_order(np.take(g, i, axis=ctx.dim)) for i in range(g.shape[ctx.dim]))


class Pad(ArrayFunction):
    """Constant padding, torch's (left, right, top, bottom, ...) order from the last axis."""

    @staticmethod
    @host
    def forward(ctx, a, pad, value=0.0):
        widths = [(0, 0)] * a.ndim
        for i in range(len(pad) // 2):
            widths[a.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
        ctx.slices = tuple(slice(lo, lo + s) for (lo, _), s in zip(widths, a.shape))
        return np.pad(a, widths, constant_values=value)

    @staticmethod
    @host
    def backward(ctx, g):
        return c_order(g[ctx.slices])


class Cast(ArrayFunction):
    """A copy in another dtype; gradients flow between floating point dtypes."""

    @staticmethod
    @host
    def forward(ctx, a, dtype):
        ctx.dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    @host
    def backward(ctx, g):
        return g.astype(ctx.dtype)


class Clone(ArrayFunction):
    @staticmethod
    def forward(ctx, a):
        ops = kernels.ops(kernels.device_of(a))
        out = ops.zeros_like(a)
        ops.copy_into(out, a)
        return out

    @staticmethod
    def backward(ctx, g):
        return g


class ToDevice(ArrayFunction):
    """A copy on another device ("cpu" or "cuda"); the gradient goes back."""

    @staticmethod
    def forward(ctx, a, device):
        ctx.device = kernels.device_of(a)
        host_a = np.asarray(kernels.ops(ctx.device).to_host(a))
        return kernels.ops(device).asarray(host_a, dtype=host_a.dtype)

    @staticmethod
    def backward(ctx, g):
        host_g = np.asarray(kernels.ops(kernels.device_of(g)).to_host(g))
        return kernels.ops(ctx.device).asarray(host_g, dtype=host_g.dtype)
