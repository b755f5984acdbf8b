"""Central-difference gradient checks (Caffe style) for any module on any device.

``gradcheck(module, x)`` compares the gradients autograd computes (``loss.backward()``
through the recorded kernels) with numerical derivatives of a scalar loss, for the input
and every parameter; ``module`` may be a Module or any function of tensors:

- A layer or block is reduced to ``L = sum(R * module(x))`` with ``R`` a fixed random
  array of the output's shape (drawn once from ``seed``), so ``dL/dy = R``.
- A loss criterion (called with ``target``) is checked on ``L = module(x, target)``.

Numerically, ``dL/dt[i] = (L(t[i] + eps) - L(t[i] - eps)) / (2 eps)`` for each checked
element ``i`` of each tensor ``t``. An element passes when
``|analytic - numeric| <= atol + rtol * |numeric|`` (as ``numpy.allclose``).

Everything runs through the module's forward and autograd and moves arrays only with
its kernel set (``module.ops.asarray / to_host / copy_into``), so the same check runs
unchanged on ``device="cuda"``. Use float64 (``model.double()`` and a float64 ``x``):
in float32 a central difference has no significant digits left.

Before every evaluation the checker restores each module's buffers (BatchNorm's running
statistics, which a training forward updates) and random state (Dropout's ``calls``,
so the mask stays fixed), and it leaves them as it found them. The gradient in training
mode does not depend on running statistics, so this only keeps the module unchanged;
parameter ``grad`` arrays hold the analytic gradients afterwards.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import kernels
from ..autograd import Tensor, no_grad
from .module import Module


@dataclass
class TensorCheck:
    """The comparison for one tensor ("input" or a parameter name)."""

    name: str
    shape: tuple[int, ...]
    checked: int            # elements compared
    max_abs_err: float      # max |analytic - numeric| over them
    max_rel_err: float      # max |analytic - numeric| / max(|numeric|, tiny)
    worst: tuple[int, ...]  # index of the element furthest outside the tolerance
    analytic: float         # its analytic gradient
    numeric: float          # its numerical gradient
    failures: int           # elements outside atol + rtol*|numeric|

    @property
    def ok(self) -> bool:
        return self.failures == 0

    def __str__(self) -> str:
        return (f"{'ok  ' if self.ok else 'FAIL'} {self.name} {self.shape}: {self.checked} checked, "
                f"{self.failures} failed, max abs err {self.max_abs_err:.2e}, max rel err "
                f"{self.max_rel_err:.2e}; worst at {self.worst}: analytic {self.analytic:.8g}, "
                f"numeric {self.numeric:.8g}")


@dataclass
class GradcheckReport:
    """Result of ``gradcheck``: one TensorCheck per tensor; truthy when all pass."""

    module: str
    loss: float
    eps: float
    atol: float
    rtol: float
    tensors: list[TensorCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tensors)

    def __bool__(self) -> bool:
        return self.ok

    def __getitem__(self, name: str) -> TensorCheck:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(name)

    def __str__(self) -> str:
        head = (f"gradcheck {self.module}: {'passed' if self.ok else 'FAILED'} "
                f"(loss {self.loss:.6g}, eps {self.eps:g}, atol {self.atol:g}, rtol {self.rtol:g})")
        return "\n".join([head] + ["  " + str(t) for t in self.tensors])


def gradcheck(module, x, target=None, eps: float = 1e-6, atol: float = 1e-6,
              rtol: float = 1e-4, seed: int = 0, max_elements: int | None = None,
              wrt=None) -> GradcheckReport:
    """Checks ``module``'s input and parameter gradients at input ``x`` (an array or tensor).

    module: a Module, or any function of tensors (``lambda t: F.max_pool2d(t, 2)``).
    target: None for a layer/block/function (loss: sum of a random projection of the
        output), or the target a loss criterion takes as its second argument.
    max_elements: check at most this many elements per tensor (drawn at random from
        ``seed``); None checks them all.
    wrt: names of the tensors to check ("input" and/or parameter names); None means all.
    Returns a GradcheckReport; ``assert report, str(report)`` in a test.
    """
    rng = np.random.default_rng(seed)
    x_arr = x.array if isinstance(x, Tensor) else x
    if not isinstance(module, Module):
        ops = kernels.ops(kernels.device_of(x_arr))
    else:
        ops = module.ops
    x_arr = ops.asarray(x_arr) if isinstance(x_arr, np.ndarray) else x_arr
    params = list(module.named_parameters()) if isinstance(module, Module) else []
    for name, a in [("input", x_arr)] + [(n, p.array) for n, p in params]:
        if np.dtype(a.dtype) != np.float64:
            raise TypeError(f"gradcheck needs float64 tensors; '{name}' is {np.dtype(a.dtype)} "
                            "(use module.double() and a float64 input)")
    mods = list(module.modules()) if isinstance(module, Module) else []

    # State a forward may change: buffers (BatchNorm running stats) and Dropout's rng.
    def host_copy(b):
        return np.array(kernels.ops(kernels.device_of(b)).to_host(b))

    buffers = [(m, n, host_copy(b)) for m in mods for n, b in m._buffers.items()]
    rng_states = [(m, m.get_rng_state()) for m in mods if hasattr(m, "get_rng_state")]

    def restore():
        for m, n, host in buffers:  # a counter may live on the host while the rest is on device
            b_ops = kernels.ops(kernels.device_of(m._buffers[n]))
            b_ops.copy_into(m._buffers[n], b_ops.asarray(host, dtype=host.dtype))
        for m, state in rng_states:
            m.set_rng_state(state)

    proj = {}

    def output(inp: Tensor) -> Tensor:
        """The scalar loss as a tensor (graph recorded when grad mode is on)."""
        restore()
        if target is not None:
            return module(inp, target)
        y = module(inp)
        if "R" not in proj:
            proj["R"] = rng.standard_normal(y.shape)
        r = Tensor(ops.asarray(proj["R"].astype(y.dtype), dtype=y.dtype))
        return (y * r).sum()

    def loss_of(inp_array) -> float:
        with no_grad():
            return float(output(Tensor(inp_array)))

    # Analytic gradients through autograd.
    for _, p in params:
        p.grad = None
    xt = Tensor(ops.asarray(np.array(ops.to_host(x_arr))), requires_grad=True)
    out = output(xt)
    loss = float(out)
    out.backward()
    analytic = {"input": np.array(ops.to_host(xt.grad_array), dtype=np.float64)}
    for n, p in params:
        g = p.grad_array
        analytic[n] = np.zeros(p.shape) if g is None else np.array(ops.to_host(g), dtype=np.float64)

    name_of = module.__class__.__name__ if isinstance(module, Module) else getattr(module, "__name__", "function")
    report = GradcheckReport(name_of, loss, eps, atol, rtol)
    x_host = np.array(ops.to_host(x_arr))
    tensors = [("input", x_host, None)] + [(n, np.array(ops.to_host(p.array)), p) for n, p in params]
    for name, host, p in tensors:
        if wrt is not None and name not in wrt:
            continue
        if analytic[name].shape != host.shape:
            raise ValueError(f"gradcheck: the gradient of '{name}' has shape {analytic[name].shape}, "
                             f"the tensor {host.shape}")
        flat = host.reshape(-1)
        idx = np.arange(flat.size)
        if max_elements is not None and flat.size > max_elements:
            idx = np.sort(rng.choice(flat.size, max_elements, replace=False))
        numeric = np.empty(len(idx))

        def evaluate():
            if p is None:
                return loss_of(ops.asarray(host))
            ops.copy_into(p.array, ops.asarray(host))
            return loss_of(ops.asarray(x_host))

        for k, i in enumerate(idx):
            old = flat[i]
            flat[i] = old + eps
            up = evaluate()
            flat[i] = old - eps
            down = evaluate()
            flat[i] = old
            numeric[k] = (up - down) / (2 * eps)
        if p is not None:
            ops.copy_into(p.array, ops.asarray(host))
        ana = analytic[name].reshape(-1)[idx]
        err = np.abs(ana - numeric)
        excess = err - (atol + rtol * np.abs(numeric))
        w = int(np.argmax(excess)) if len(idx) else 0
        report.tensors.append(TensorCheck(
            name, tuple(host.shape), len(idx), float(err.max(initial=0)),
            float((err / np.maximum(np.abs(numeric), 1e-300)).max(initial=0)),
            tuple(int(v) for v in np.unravel_index(idx[w], host.shape)) if len(idx) else (),
            float(ana[w]) if len(idx) else 0.0, float(numeric[w]) if len(idx) else 0.0,
            int(np.sum(excess > 0))))
    restore()
    return report
