"""Test helper: one expression run by numbacnn and by PyTorch, compared value by value.

A case is a function ``fn(ns, *tensors)`` written once for both libraries: ``ns.torch``
is ``engine`` or ``torch``, ``ns.F`` their ``nn.functional``, ``ns.nn`` their ``nn``.
Code that runs unchanged on both with only the namespace swapped is exactly the claim
under test ("PyTorch code runs with its imports renamed").

``parity(fn, *arrays)`` runs the case forward on float32 copies of ``arrays`` in both
libraries, backpropagates the same random output gradient, and compares the output and
every input gradient. ``gradchecks(fn, *arrays)`` checks each input's gradient against
central differences in float64 with ``engine.nn.gradcheck``.

Tolerance: float32 elementwise results agree to a few ulps; reductions and products sum
in other orders (numpy's pairwise sums, our kernels' blocked loops, torch's vectorised
ones), which moves the last bits of each sum, so values are compared with
``rtol 1e-5`` plus an absolute ``1e-5`` scaled by the largest reference value (a sum
of n terms of size s carries about n * s * 6e-8 of rounding).
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

import engine
from engine.nn import functional as engine_F
from engine.nn.gradcheck import gradcheck

OURS = SimpleNamespace(torch=engine, F=engine_F, nn=engine.nn)


def torch_ns():
    """The same namespace for PyTorch (imported only by tests that have it)."""
    import torch
    return SimpleNamespace(torch=torch, F=torch.nn.functional, nn=torch.nn)


def distinct(rng, shape, spacing=0.05, positive=False):
    """float64 values of ``shape``, pairwise at least ``spacing`` apart and at least
    spacing/2 from 0 (no max ties, no kinks of relu/abs/clamp within a finite-difference
    step), shuffled; shifted above 0 when ``positive`` (log, sqrt, pow)."""
    n = int(np.prod(shape))
    v = (rng.permutation(n) - n / 2 + 0.5) * spacing
    if positive:
        v = v - v.min() + 0.5
    return v.reshape(shape)


def to_numpy(t) -> np.ndarray:
    """A host array of a numbacnn or torch tensor (or an array)."""
    if hasattr(t, "detach"):
        t = t.detach()
    return np.asarray(t.cpu().numpy() if hasattr(t, "cpu") else t)


def assert_close(ours, ref, rtol=1e-5, atol=1e-5, what=""):
    """``|ours - ref| <= rtol * |ref| + atol * max(1, max |ref|)``, shapes equal."""
    ours, ref = to_numpy(ours), to_numpy(ref)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape}, torch's {ref.shape}"
    scale = max(1.0, float(np.abs(ref).max(initial=0)))
    np.testing.assert_allclose(ours.astype(np.float64), ref.astype(np.float64), rtol=rtol, atol=atol * scale,
                               err_msg=what)


def copy_weights(module, twin):
    """Loads ``module``'s parameters and buffers into its torch ``twin`` by state_dict name
    (the same keys in both); returns the twin."""
    import torch
    twin.load_state_dict({k: torch.tensor(np.array(v)) for k, v in module.state_dict().items()})
    return twin


def module_parity(make, *arrays, rtol=1e-4, atol=1e-5, train=True, seed=0):
    """Builds ``make(ns)`` in numbacnn and in torch (the twin gets our weights and buffers),
    runs both on float32 copies of ``arrays`` (in train or eval mode) and backpropagates
    one random output gradient; compares the output, the input gradients, every
    parameter's gradient and every buffer afterwards (BatchNorm's running statistics).
    Returns (our module, the twin)."""
    import torch
    ours = make(OURS)
    twin = copy_weights(ours, make(torch_ns()))
    ours.train(train)
    twin.train(train)
    xs = [engine.tensor(np.asarray(a, np.float32), requires_grad=True) for a in arrays]
    txs = [torch.tensor(np.asarray(a, np.float32), requires_grad=True) for a in arrays]
    y, ty = _first(ours(*xs)), _first(twin(*txs))
    assert_close(y, ty, rtol, atol, "forward")
    g = np.random.default_rng(seed).standard_normal(y.shape).astype(np.float32)
    y.backward(engine.tensor(g))
    ty.backward(torch.tensor(g))
    for i, (x, tx) in enumerate(zip(xs, txs)):
        assert_close(x.grad, tx.grad, rtol, atol, f"gradient of input {i}")
    tparams = dict(twin.named_parameters())
    assert [n for n, _ in ours.named_parameters()] == list(tparams), "parameter names differ from torch's"
    for name, p in ours.named_parameters():
        assert (p.grad is None) == (tparams[name].grad is None), f"{name}: grad {p.grad}, torch's {tparams[name].grad}"
        if p.grad is not None:
            assert_close(p.grad, tparams[name].grad, rtol, atol, f"gradient of {name}")
    tstate = twin.state_dict()
    assert list(ours.state_dict()) == list(tstate), "state_dict keys differ from torch's"
    for name, b in ours.named_buffers():
        assert_close(np.asarray(b), tstate[name], rtol, atol, f"buffer {name}")
    return ours, twin


def _first(out):
    """The differentiable output of a case (values of a (values, indices) pair)."""
    return out[0] if isinstance(out, tuple) else out


def parity(fn, *arrays, rtol=1e-5, atol=1e-5, backward=True, seed=0):
    """Runs ``fn`` on float32 copies of ``arrays`` in numbacnn and torch; compares the
    output and (``backward``) each input's gradient for one random output gradient.
    Returns (our output, torch's output)."""
    import torch
    outs = []
    for ns, make in ((OURS, engine.tensor), (torch_ns(), torch.tensor)):
        xs = [make(np.asarray(a, np.float32), requires_grad=backward) for a in arrays]
        y = _first(fn(ns, *xs))
        outs.append((xs, y))
    (xs, y), (txs, ty) = outs
    assert_close(y, ty, rtol, atol, "forward")
    assert y.dtype.name == str(ty.dtype).replace("torch.", ""), f"dtype {y.dtype}, torch's {ty.dtype}"
    if backward:
        g = np.random.default_rng(seed).standard_normal(y.shape).astype(np.float32)
        y.backward(engine.tensor(g))
        ty.backward(torch.tensor(g))
        for i, (x, tx) in enumerate(zip(xs, txs)):
            assert (x.grad is None) == (tx.grad is None), f"input {i}: grad {x.grad}, torch's {tx.grad}"
            if tx.grad is not None:
                assert_close(x.grad, tx.grad, rtol, atol, f"gradient of input {i}")
    return y, ty


def gradchecks(fn, *arrays, atol=1e-6, rtol=1e-4, only=None):
    """Gradient check in float64 of ``fn(OURS, *tensors)`` with respect to each input in
    turn (all of them, or the indices in ``only``), the others held fixed."""
    for i in range(len(arrays)) if only is None else only:
        fixed = [engine.tensor(a, dtype=engine.float64) for a in arrays]

        def of_one(t, i=i, fixed=fixed):
            return _first(fn(OURS, *fixed[:i], t, *fixed[i + 1:]))

        report = gradcheck(of_one, np.asarray(arrays[i], np.float64), atol=atol, rtol=rtol)
        assert report, f"input {i}:\n{report}"
