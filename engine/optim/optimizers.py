"""SGD (momentum, dampening, nesterov, weight decay), Adam and AdamW, as torch.optim.

Each optimizer keeps ``param_groups`` (list of dicts with "params" and hyperparameters,
which schedulers edit) and per-parameter ``state``; ``state_dict()`` holds host arrays.
"""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..nn.module import Parameter


class Optimizer:
    defaults: dict = {}

    def __init__(self, params, **hyper):
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups = []
        for g in groups:
            group = dict(hyper)
            group.update(g)
            group["params"] = list(group["params"])
            for p in group["params"]:
                if not isinstance(p, Parameter):
                    raise TypeError(f"{type(self).__name__} takes Parameters (model.parameters()), "
                                    f"got {type(p).__name__}")
            self._check(group)
            self.param_groups.append(group)
        self.state: dict[int, dict] = {}

    def _check(self, group):
        if group["lr"] is None or group["lr"] < 0:
            raise ValueError(f"{type(self).__name__}: lr must be a non-negative number, got {group['lr']!r}")
        if group.get("weight_decay", 0) < 0:
            raise ValueError(f"{type(self).__name__}: weight_decay must be >= 0, got {group['weight_decay']!r}")

    def _params(self):
        for group in self.param_groups:
            for p in group["params"]:
                yield group, p

    def zero_grad(self):
        for _, p in self._params():
            kernels.ops(kernels.device_of(p.grad)).fill(p.grad, 0)

    def step(self):
        for i, (group, p) in enumerate(self._params()):
            ops = kernels.ops(kernels.device_of(p.data))
            self._update(ops, p, group, self.state.setdefault(i, {}))

    def state_dict(self) -> dict:
        state = {}
        for i, s in self.state.items():
            state[i] = {k: (np.array(kernels.ops(kernels.device_of(v)).to_host(v))
                            if not isinstance(v, (int, float)) else v) for k, v in s.items()}
        groups, start = [], 0
        for g in self.param_groups:
            n = len(g["params"])
            groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": list(range(start, start + n))})
            start += n
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, sd: dict) -> None:
        groups = sd["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(a["params"]) != len(b["params"]) for a, b in zip(groups, self.param_groups)):
            raise ValueError("optimizer state_dict does not match this optimizer's parameter groups")
        params = [p for _, p in self._params()]
        for g, saved in zip(self.param_groups, groups):
            g.update({k: (tuple(v) if isinstance(v, list) else v) for k, v in saved.items() if k != "params"})
        self.state = {}
        for i, s in sd["state"].items():
            i = int(i)
            ops = kernels.ops(kernels.device_of(params[i].data))
            self.state[i] = {k: (ops.asarray(np.asarray(v), dtype=params[i].data.dtype)
                                 if isinstance(v, np.ndarray) else v) for k, v in s.items()}


class SGD(Optimizer):
    """p -= lr * d with d the gradient plus weight decay, through (nesterov) momentum."""

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, nesterov=False, weight_decay=0):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                         weight_decay=weight_decay)

    def step(self):
        """One update. On the CPU each parameter group is updated by one kernel call over
        flat buffers: the first step moves the group's parameters, gradients and momentum
        buffers into three contiguous arrays and leaves views of them in ``p.data``,
        ``p.grad`` and ``state[i]["momentum_buffer"]`` (shapes, values and the state_dict
        format unchanged). If anything later replaces one of those arrays (``model.to``,
        ``load_state_dict``), the group is flattened again from the new arrays."""
        start = 0
        for gi, group in enumerate(self.param_groups):
            n = len(group["params"])
            if not self._flat_step(gi, group, start):
                for i, p in enumerate(group["params"], start):
                    ops = kernels.ops(kernels.device_of(p.data))
                    self._update(ops, p, group, self.state.setdefault(i, {}))
            start += n

    def zero_grad(self):
        flat = getattr(self, "_flat", {})
        for gi, group in enumerate(self.param_groups):
            f = flat.get(gi)
            if f is not None and self._flat_valid(f, group, None):
                f[1].fill(0)
            else:
                for p in group["params"]:
                    kernels.ops(kernels.device_of(p.grad)).fill(p.grad, 0)

    def _flat_valid(self, f, group, start):
        _, _, _, views = f
        params = group["params"]
        if len(views) != len(params):
            return False
        for k, (p, (vp, vg, vb)) in enumerate(zip(params, views)):
            if p.data is not vp or p.grad is not vg:
                return False
            if start is not None and self.state.get(start + k, {}).get("momentum_buffer") is not vb:
                return False
        return True

    def _flat_step(self, gi, group, start) -> bool:
        params = group["params"]
        if not params or not all(isinstance(p.data, np.ndarray) and isinstance(p.grad, np.ndarray)
                                 for p in params):
            return False
        dtype = params[0].data.dtype
        if any(p.data.dtype != dtype or p.grad.dtype != dtype for p in params):
            return False
        flat = self.__dict__.setdefault("_flat", {})
        f = flat.get(gi)
        first = False
        if f is None or not self._flat_valid(f, group, start):
            have = ["momentum_buffer" in self.state.get(i, {}) for i in range(start, start + len(params))]
            if any(have) and not all(have):
                return False  # some buffers exist and some not: the per-parameter path
            first = not any(have)
            total = sum(p.data.size for p in params)
            P, G, B = (np.empty(total, dtype) for _ in range(3))
            views, o = [], 0
            for i, p in enumerate(params, start):
                n, shape = p.data.size, p.data.shape
                P[o:o + n] = p.data.reshape(-1)
                G[o:o + n] = p.grad.reshape(-1)
                st = self.state.setdefault(i, {})
                B[o:o + n] = 0 if first else np.asarray(st["momentum_buffer"], dtype).reshape(-1)
                vp, vg, vb = P[o:o + n].reshape(shape), G[o:o + n].reshape(shape), B[o:o + n].reshape(shape)
                p.data, p.grad, st["momentum_buffer"] = vp, vg, vb
                views.append((vp, vg, vb))
                o += n
            f = flat[gi] = (P, G, B, views)
        P, G, B, _ = f
        kernels.ops("cpu").sgd_step(P, G, B, group["lr"], group["momentum"], group["dampening"],
                                    group["nesterov"], group["weight_decay"], first)
        return True

    def _update(self, ops, p, group, state):
        first = "momentum_buffer" not in state
        if first:
            state["momentum_buffer"] = ops.zeros_like(p.data)
        ops.sgd_step(p.data, p.grad, state["momentum_buffer"], group["lr"], group["momentum"],
                     group["dampening"], group["nesterov"], group["weight_decay"], first)


class Adam(Optimizer):
    """Adam with bias-corrected moments; weight decay is added to the gradient (L2)."""

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)

    def _update(self, ops, p, group, state):
        if "step" not in state:
            state["step"] = 0
            state["exp_avg"] = ops.zeros_like(p.data)
            state["exp_avg_sq"] = ops.zeros_like(p.data)
        state["step"] += 1
        ops.adam_step(p.data, p.grad, state["exp_avg"], state["exp_avg_sq"], group["lr"],
                      group["betas"], group["eps"], group["weight_decay"], self.decoupled, state["step"])


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr*weight_decay before the Adam step."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
