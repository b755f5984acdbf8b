"""Making tensors and joining them, as torch's top-level functions: ``tensor``,
``zeros``, ``ones``, ``full``, ``empty``, ``randn``, ``rand``, ``randint``, ``arange``,
``randperm``, ``from_numpy``, ``*_like``, ``cat``, ``stack``, and the functional forms of
a few methods (``max``, ``argmax``, ``flatten``...).

Python floats become float32 (torch's default dtype) unless a dtype is given; numpy arrays
and tensors keep their dtype, as in torch; ``from_numpy`` also shares the array's memory.
"""
from __future__ import annotations

import numpy as np

from . import ops, random
from .tensor import Tensor

def _shape(size):
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)


def _default(a: np.ndarray, dtype) -> np.ndarray:
    if dtype is not None:
        return a.astype(dtype, copy=False)
    return a.astype(np.float32) if a.dtype == np.float64 else a


def _numeric(a: np.ndarray) -> np.ndarray:
    if a.dtype.kind not in "biuf":
        raise TypeError(f"tensor data must be numbers or booleans; got data of numpy dtype {a.dtype}")
    return a


def _make(a, dtype, device, requires_grad):
    return Tensor(_numeric(_default(np.asarray(a), dtype)), requires_grad=requires_grad, device=device)


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (numbers, nested lists, arrays, tensors);
    an array's or tensor's dtype is kept, Python floats give float32."""
    if isinstance(data, (Tensor, np.ndarray, np.generic)) and dtype is None:
        dtype = data.dtype
    try:
        a = np.array(data.numpy() if isinstance(data, Tensor) else data)
    except ValueError:
        raise ValueError("tensor data must be a number or a rectangular nested list of numbers (every row of "
                         "one length)") from None
    return _make(a, dtype, device, requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """``data`` as a tensor without a copy where it can (a tensor or an array of the
    dtype and device asked for, whose dtype is kept, as in torch)."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype) if (device or dtype) else data
    if isinstance(data, np.ndarray) and dtype is None:
        dtype = data.dtype
    return _make(np.asarray(data), dtype, device, False)


def from_numpy(a: np.ndarray) -> Tensor:
    """A tensor sharing ``a``'s memory and dtype."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy array, got {type(a).__name__}")
    return Tensor(_numeric(a))


def zeros(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _make(np.zeros(_shape(size), dtype or np.float32), dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _make(np.ones(_shape(size), dtype or np.float32), dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _make(np.full(tuple(size), fill_value, dtype or np.result_type(fill_value)), dtype, device,
                 requires_grad)


def zeros_like(t, dtype=None, device=None) -> Tensor:
    return zeros(t.shape, dtype=dtype or t.dtype, device=device or t.device)


def ones_like(t, dtype=None, device=None) -> Tensor:
    return ones(t.shape, dtype=dtype or t.dtype, device=device or t.device)


def randn(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _make(random.generator().standard_normal(_shape(size)), dtype, device, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _make(random.generator().random(_shape(size)), dtype, device, requires_grad)


def randn_like(t) -> Tensor:
    return randn(t.shape, dtype=t.dtype, device=t.device)


def rand_like(t) -> Tensor:
    return rand(t.shape, dtype=t.dtype, device=t.device)


def randint(low, high=None, size=(), dtype=None, device=None) -> Tensor:
    if high is None:
        low, high = 0, low
    return _make(random.generator().integers(low, high, tuple(size)), dtype or np.int64, device, False)


def randperm(n: int, dtype=None, device=None) -> Tensor:
    return _make(random.generator().permutation(n), dtype or np.int64, device, False)


def arange(start, end=None, step=1, dtype=None, device=None) -> Tensor:
    if end is None:
        start, end = 0, start
    return _make(np.arange(start, end, step), dtype, device, False)


def linspace(start, end, steps, dtype=None, device=None) -> Tensor:
    return _make(np.linspace(start, end, steps), dtype, device, False)


def eye(n, m=None, dtype=None, device=None) -> Tensor:
    return _make(np.eye(n, m, dtype=dtype or np.float32), dtype, device, False)


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)


def numel(t: Tensor) -> int:
    return t.numel()


def cat(tensors, dim: int = 0) -> Tensor:
    """Joins tensors along an existing axis (``concatenate``)."""
    tensors = [t if isinstance(t, Tensor) else Tensor(np.asarray(t)) for t in tensors]
    if not tensors:
        raise ValueError("cat() needs at least one tensor")
    return ops.Cat.apply(*tensors, dim=dim)


concat = concatenate = cat


def stack(tensors, dim: int = 0) -> Tensor:
    """Joins tensors of one shape along a new axis."""
    tensors = [t if isinstance(t, Tensor) else Tensor(np.asarray(t)) for t in tensors]
    if not tensors:
        raise ValueError("stack() needs at least one tensor")
    return ops.Stack.apply(*tensors, dim=dim)


def flatten(t: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return t.flatten(start_dim, end_dim)


def max(t: Tensor, dim=None, keepdim=False):
    return t.max(dim, keepdim)


def min(t: Tensor, dim=None, keepdim=False):
    return t.min(dim, keepdim)


def argmax(t: Tensor, dim=None, keepdim=False) -> Tensor:
    return t.argmax(dim, keepdim)


def argmin(t: Tensor, dim=None, keepdim=False) -> Tensor:
    return t.argmin(dim, keepdim)


def sum(t: Tensor, dim=None, keepdim=False) -> Tensor:
    return t.sum(dim, keepdim)


def mean(t: Tensor, dim=None, keepdim=False) -> Tensor:
    return t.mean(dim, keepdim)


def exp(t: Tensor) -> Tensor:
    return t.exp()


def log(t: Tensor) -> Tensor:
    return t.log()


def sqrt(t: Tensor) -> Tensor:
    return t.sqrt()


def abs(t: Tensor) -> Tensor:
    return t.abs()


def clamp(t: Tensor, min=None, max=None) -> Tensor:
    return t.clamp(min, max)


def relu(t: Tensor) -> Tensor:
    """max(t, 0) (the method engine.nn.functional gives Tensor)."""
    return t.relu()


def sigmoid(t: Tensor) -> Tensor:
    return t.sigmoid()


def tanh(t: Tensor) -> Tensor:
    return t.tanh()


def softmax(t: Tensor, dim: int, dtype=None) -> Tensor:
    return t.softmax(dim, dtype)


def log_softmax(t: Tensor, dim: int, dtype=None) -> Tensor:
    return t.log_softmax(dim, dtype)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    return a @ b


mm = matmul


def reshape(t: Tensor, shape) -> Tensor:
    return t.reshape(shape)


def squeeze(t: Tensor, dim=None) -> Tensor:
    return t.squeeze(dim)


def unsqueeze(t: Tensor, dim: int) -> Tensor:
    return t.unsqueeze(dim)


def transpose(t: Tensor, dim0: int, dim1: int) -> Tensor:
    return t.transpose(dim0, dim1)


def permute(t: Tensor, dims) -> Tensor:
    return t.permute(dims)


def topk(t: Tensor, k, dim=-1, largest=True, sorted=True):
    return t.topk(k, dim, largest, sorted)


def eq(a: Tensor, b) -> Tensor:
    return a.eq(b)


def equal(a: Tensor, b: Tensor) -> bool:
    return a.equal(b)


def allclose(a, b, rtol=1e-5, atol=1e-8) -> bool:
    return bool(np.allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol))



def where(condition, input, other) -> Tensor:
    """``input`` where ``condition`` is true, else ``other`` (tensors or numbers, broadcast)."""
    cond = condition if isinstance(condition, Tensor) else Tensor(np.asarray(condition, dtype=np.bool_))
    like = input if isinstance(input, Tensor) else other if isinstance(other, Tensor) else cond
    a = input if isinstance(input, Tensor) else Tensor(np.asarray(input, dtype=like.dtype if
                                                                  like.dtype.kind == "f" else None))
    b = other if isinstance(other, Tensor) else Tensor(np.asarray(other, dtype=a.dtype))
    return ops.Where.apply(cond.detach(), a, b)


def pow(input, exponent) -> Tensor:
    return input ** exponent if isinstance(input, Tensor) else Tensor(np.asarray(input)) ** exponent


def sign(t: Tensor) -> Tensor:
    return t.sign()


def norm(t: Tensor, p=2, dim=None, keepdim=False) -> Tensor:
    return t.norm(p, dim, keepdim)
