"""Test helper: float32 comparisons of an engine model against its PyTorch twin
(``to_torch``, from :mod:`engine.interop.torch_twin`: the same state_dict keys, weights
and buffers).

Tolerances (``assert_close``): float32 kernels sum in other orders than torch's, so
values agree to a relative error of a few float32 ulps per summation; we allow
``|ours - ref| <= rtol * |ref| + atol * max(1, max |ref|)``: rtol 1e-4 and atol 1e-5 for a
layer, looser (see the model tests) for a deep net, where rounding accumulates through
the layers and BatchNorm's division by a small batch standard deviation amplifies it.
The atol term is scaled to the tensor's magnitude so gradients of order 1e-3 and of
order 1e2 are held to the same number of significant digits.
"""
from __future__ import annotations

import numpy as np
import torch

from engine.autograd import Tensor
from engine.interop.torch_twin import from_spec, to_torch

__all__ = ["from_spec", "to_torch", "run_torch", "assert_close", "compare_layerwise", "compare_with_torch"]


def run_torch(twin: torch.nn.Module, x: np.ndarray, grad_y: np.ndarray | None = None):
    """Forward (and backward of sum(grad_y * y) when grad_y is given) in torch.
    Returns (y, dx, {param name: grad}) as numpy arrays."""
    xt = torch.from_numpy(np.array(x)).requires_grad_(grad_y is not None)
    twin.zero_grad(set_to_none=True)
    y = twin(xt)
    if grad_y is None:
        return y.detach().numpy(), None, {}
    y.backward(torch.from_numpy(np.array(grad_y)))
    grads = {n: p.grad.numpy() for n, p in twin.named_parameters() if p.grad is not None}
    return y.detach().numpy(), xt.grad.numpy(), grads


def assert_close(ours, ref, rtol=1e-4, atol=1e-5, what=""):
    """|ours - ref| <= rtol*|ref| + atol*max(1, max|ref|), with a message naming the worst element."""
    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != torch's {ref.shape}"
    scale = max(1.0, float(np.abs(ref).max(initial=0)))
    excess = np.abs(ours - ref) - (rtol * np.abs(ref) + atol * scale)
    if excess.size and excess.max() > 0:
        i = np.unravel_index(int(np.argmax(excess)), ref.shape)
        raise AssertionError(
            f"{what}: {int((excess > 0).sum())} of {ref.size} elements differ from torch; worst at {i}: "
            f"ours {ours[i]:.8g}, torch {ref[i]:.8g} (rtol {rtol}, atol {atol} x {scale:.3g}); "
            f"max abs diff {np.abs(ours - ref).max():.3g}")


def compare_layerwise(model, x, rng, rtol=1e-4, atol=1e-5):
    """Each top-level child of the Sequential ``model`` against its torch twin on the SAME
    input (our previous activation) and the SAME output gradient (our previous input
    gradient): forward, input gradient, parameter gradients and buffers per child. Each
    child runs on a fresh leaf tensor of its input, so ``backward`` of its output stops at
    that child's input gradient.

    Unlike an end-to-end float32 comparison this cannot be upset by a max-pooling window
    whose two largest values are closer than float32 rounding (an end-to-end run may then
    route the gradient to the other one and every gradient below differs), and it names
    the first layer that disagrees."""
    twin = to_torch(model)
    tchildren = dict(twin.named_children())
    model.zero_grad()
    h, trace = np.asarray(x), []
    for name, child in model.named_children():
        th = torch.from_numpy(np.array(h)).requires_grad_()
        ty = tchildren[name](th)
        hin = Tensor(np.array(h), requires_grad=True)
        out = child(hin)
        h = out.numpy()
        assert_close(h, ty.detach().numpy(), rtol, atol, f"forward of layer {name} ({type(child).__name__})")
        trace.append((name, child, th, ty, hin, out))
    g = rng.standard_normal(h.shape).astype(h.dtype)
    for name, child, th, ty, hin, out in reversed(trace):
        ty.backward(torch.from_numpy(np.array(g)))
        out.backward(g)
        g = hin.grad.numpy()
        what = f"layer {name} ({type(child).__name__})"
        assert_close(g, th.grad.numpy(), rtol, atol, f"input gradient of {what}")
        tparams = dict(tchildren[name].named_parameters())
        for pname, p in child.named_parameters():
            assert_close(p.grad.numpy(), tparams[pname].grad.numpy(), rtol, atol, f"gradient of {name}.{pname}")
    tstate = twin.state_dict()
    for bname, b in model.named_buffers():
        assert_close(b, tstate[bname].numpy(), rtol, atol, f"buffer {bname}")


def compare_with_torch(model, x, rng, rtol=1e-4, atol=1e-5, buffers=True):
    """Runs ``model`` and its torch twin (made before the run, so from the same weights
    and buffers) forward and backward on ``x`` (a leaf that requires grad) with a random
    grad_y (``y.backward(grad_y)``), and compares the output, the input gradient, every
    parameter gradient and (``buffers``) every buffer afterwards (BatchNorm's running
    statistics after a training forward). Returns (our output as an array, the twin)."""
    twin = to_torch(model)
    model.zero_grad()
    xt = Tensor(np.array(x), requires_grad=True)
    y = model(xt)
    gy = rng.standard_normal(y.shape).astype(y.dtype)
    y.backward(gy)
    ty, tdx, tgrads = run_torch(twin, x, gy)
    assert_close(y.numpy(), ty, rtol, atol, "forward")
    assert_close(xt.grad.numpy(), tdx, rtol, atol, "input gradient")
    ours = dict(model.named_parameters())
    assert set(ours) == set(tgrads), f"parameters {sorted(ours)} vs torch's {sorted(tgrads)}"
    for name, p in ours.items():
        assert p.grad is not None, f"no gradient reached {name}"
        assert_close(p.grad.numpy(), tgrads[name], rtol, atol, f"gradient of {name}")
    if buffers:
        tstate = twin.state_dict()
        for name, b in model.named_buffers():
            assert_close(b, tstate[name].numpy(), rtol, atol, f"buffer {name}")
    return y.numpy(), twin
