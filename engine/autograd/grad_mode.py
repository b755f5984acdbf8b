"""Whether operations record a graph: ``no_grad``, ``enable_grad``, ``set_grad_enabled``
and ``inference_mode``, as in torch (thread-local, usable as context managers and
decorators).

Under ``inference_mode()`` nothing is recorded either, and layers may also fold and fuse
for speed (a Conv2d -> BatchNorm2d in eval mode runs as one convolution): a promise that
no tensor made inside will ever take part in a backward pass.
"""
from __future__ import annotations

import functools
import threading

_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_state, "grad", True)


def is_inference_mode() -> bool:
    return getattr(_state, "inference", False)


class _Mode:
    """Sets (grad, inference) on entry and restores them on exit; also a decorator."""

    grad: bool = True
    inference: bool = False

    def __enter__(self):
        self._saved = (is_grad_enabled(), is_inference_mode())
        _state.grad, _state.inference = self.grad, self.inference
        return self

    def __exit__(self, *exc):
        _state.grad, _state.inference = self._saved
        return False

    def __call__(self, fn):
        grad, inference = self.grad, self.inference

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            mode = _Mode()
            mode.grad, mode.inference = grad, inference
            with mode:
                return fn(*args, **kwargs)
        return wrapped


class no_grad(_Mode):
    """Operations inside record no graph (evaluation, parameter updates)."""

    grad = False


class enable_grad(_Mode):
    """Operations inside record a graph again (inside a ``no_grad`` block)."""

    grad = True


class inference_mode(_Mode):
    """Like ``no_grad``, and layers may fold and fuse for speed (see module docstring)."""

    grad = False
    inference = True

    def __init__(self, mode: bool = True):
        self.grad, self.inference = (False, True) if mode else (is_grad_enabled(), False)


class set_grad_enabled(_Mode):
    """``with set_grad_enabled(train):`` records a graph exactly when ``train`` is true.
    As in torch it takes effect when called, so ``set_grad_enabled(False)`` on its own
    line switches recording off until ``set_grad_enabled(True)``."""

    def __init__(self, mode: bool):
        self.grad = bool(mode)
        self._saved = (is_grad_enabled(), is_inference_mode())
        _state.grad = self.grad

    def __enter__(self):
        return self

    def __call__(self, fn):
        _state.grad = self._saved[0]   # as a decorator it acts only while fn runs
        return super().__call__(fn)
