"""SGD (momentum, dampening, nesterov, weight decay), Adam and AdamW, as torch.optim.

Each optimizer keeps ``param_groups`` (list of dicts with "params" and hyperparameters,
which schedulers edit) and per-parameter ``state``; ``state_dict()`` holds host arrays.
"""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..autograd import Tensor, clear_grad
from ._checks import check_range

# group settings a learning-rate schedule adds (engine.optim.lr_scheduler)
SCHEDULE_KEYS = ("initial_lr", "max_lr", "min_lr")


class Optimizer:
    defaults: dict = {}
    # per-parameter state entries: "moment" (an array of the parameter's shape), "square"
    # (the same, >= 0) or "count" (a whole number >= 1)
    state_keys: dict = {}

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
                if not isinstance(p, Tensor) or not p.is_leaf:
                    raise TypeError(f"{type(self).__name__} takes Parameters (model.parameters()) or leaf "
                                    f"tensors, got {type(p).__name__}")
            self._check(group)
            self.param_groups.append(group)
        self.state: dict[int, dict] = {}

    def _check(self, group):
        """Raises ValueError for a hyperparameter out of its range (subclasses add theirs)."""
        who = type(self).__name__
        check_range(who, "lr", group["lr"])
        check_range(who, "weight_decay", group.get("weight_decay", 0))

    def _params(self):
        for group in self.param_groups:
            for p in group["params"]:
                yield group, p

    def zero_grad(self, set_to_none: bool = True):
        """Clears every parameter's ``.grad``: None (the default, as torch), or zeros."""
        for _, p in self._params():
            clear_grad(p, set_to_none)

    def step(self):
        """One update of every parameter that has a gradient (others are left alone)."""
        for i, (group, p) in enumerate(self._params()):
            if p.grad_array is not None:
                self._update(kernels.ops(kernels.device_of(p.array)), p, group, self.state.setdefault(i, {}))

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

    def load_state_dict(self, sd: dict, param_names=None) -> None:
        """Restores what ``state_dict()`` returned. All of it is checked first — the groups'
        layout and hyperparameters, and each parameter's state: exactly the entries this
        optimizer keeps, each moment a finite float array of the parameter's shape, each
        count a whole number >= 1 — and nothing changes unless everything fits. ValueError
        names the parameter (``param_names[i]`` when given, else its index)."""
        groups, state = self._checked_state(sd, param_names)
        params = [p for _, p in self._params()]
        for g, saved in zip(self.param_groups, groups):
            g.update(saved)
        self.state = {}
        for i, s in state.items():
            ops = kernels.ops(kernels.device_of(params[i].array))
            self.state[i] = {k: (ops.asarray(np.ascontiguousarray(v, dtype=params[i].dtype))
                                 if isinstance(v, np.ndarray) else v) for k, v in s.items()}

    def check_state_dict(self, sd: dict, param_names=None) -> None:
        """Raises the ValueError :meth:`load_state_dict` would raise; changes nothing."""
        self._checked_state(sd, param_names)

    def _checked_state(self, sd, param_names):
        """(group settings, {index: entries}) of a state_dict, checked against this optimizer."""
        who = type(self).__name__
        if not isinstance(sd, dict) or not isinstance(sd.get("param_groups"), list) or \
                not isinstance(sd.get("state"), dict):
            raise ValueError(f"{who} state_dict must be a dict with 'state' and 'param_groups', got {_show(sd)}")
        groups = sd["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                not isinstance(a, dict) or not isinstance(a.get("params"), list) or len(a["params"]) != len(b["params"])
                for a, b in zip(groups, self.param_groups)):
            raise ValueError("optimizer state_dict does not match this optimizer's parameter groups")
        settings, start = [], 0
        for gi, (saved, own) in enumerate(zip(groups, self.param_groups)):
            n = len(own["params"])
            if saved["params"] != list(range(start, start + n)):
                raise ValueError(f"{who} state_dict: param_groups[{gi}] lists parameters {_show(saved['params'])}, "
                                 f"not {start}..{start + n - 1}")
            start += n
            new = {k: (tuple(v) if isinstance(v, list) else v) for k, v in saved.items() if k != "params"}
            for k, v in new.items():
                if k in SCHEDULE_KEYS:
                    check_range(who, f"param_groups[{gi}].{k}", v)
                elif k not in own and not (v is None or isinstance(v, (str, bool, int, float))):
                    raise ValueError(f"{who} state_dict: param_groups[{gi}].{k} is {_show(v)}, not a plain setting")
            self._check({**own, **new})
            settings.append(new)
        params = [p for _, p in self._params()]
        state = {}
        for key, entries in sd["state"].items():
            i = int(key) if isinstance(key, (int, np.integer)) or (isinstance(key, str) and key.isdecimal()) else -1
            if not 0 <= i < len(params) or i in state:
                raise ValueError(f"{who} state_dict holds state for parameter {key!r}; this optimizer has "
                                 f"{len(params)} parameters")
            name = f"parameter {param_names[i]!r}" if param_names is not None else f"parameter {i}"
            state[i] = self._checked_entries(entries, params[i], f"{who} state of {name}")
        return settings, state

    def _checked_entries(self, entries, param, where):
        """One parameter's state, checked against the parameter; ValueError naming ``where``."""
        if not isinstance(entries, dict):
            raise ValueError(f"{where} is {_show(entries)}, not a dict")
        entries = {k: (v.numpy() if isinstance(v, Tensor) else v) for k, v in entries.items()}
        if entries and set(entries) != set(self.state_keys):
            raise ValueError(f"{where} holds {sorted(entries)}; it must hold {sorted(self.state_keys)}")
        shape = param.shape
        for k, v in entries.items():
            if self.state_keys[k] == "count":
                if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or not 1 <= v < 2**53:
                    raise ValueError(f"{where}: {k} is {_show(v)}, not a whole number >= 1")
                continue
            if not isinstance(v, np.ndarray) or v.dtype.kind != "f":
                raise ValueError(f"{where}: {k} is {_show(v)}, not a float array")
            if v.shape != shape:
                raise ValueError(f"{where}: {k} has shape {v.shape}; the parameter has shape {shape}")
            if not np.isfinite(v).all() or (self.state_keys[k] == "square" and (v < 0).any()):
                raise ValueError(f"{where}: {k} holds {'non-finite' if not np.isfinite(v).all() else 'negative'} "
                                 "values")
        return entries


def _show(v) -> str:
    text = f"an array of shape {v.shape} and dtype {v.dtype}" if isinstance(v, np.ndarray) else repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


class SGD(Optimizer):
    """p -= lr * d with d the gradient plus weight decay, through (nesterov) momentum."""

    state_keys = {"momentum_buffer": "moment"}

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, nesterov=False, weight_decay=0):
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                         weight_decay=weight_decay)

    def _check(self, group):
        super()._check(group)
        check_range("SGD", "momentum", group["momentum"])
        check_range("SGD", "dampening", group["dampening"])
        if not isinstance(group["nesterov"], (bool, np.bool_)):
            raise ValueError(f"SGD: nesterov must be True or False, got {group['nesterov']!r}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: nesterov momentum needs momentum > 0 and dampening = 0")

    def step(self):
        """One update. On the CPU each parameter group is updated by one kernel call over
        flat buffers: the first step moves the group's parameters, gradients and momentum
        buffers into three contiguous arrays and leaves views of them as the parameters'
        arrays, their gradient buffers and ``state[i]["momentum_buffer"]`` (shapes, values
        and the state_dict format unchanged; ``zero_grad`` keeps the gradient view as the
        buffer the next backward fills). If anything later replaces one of those arrays
        (``model.to``, ``load_state_dict``), the group is flattened again from the new
        arrays; a group where some parameter has no gradient is updated parameter by
        parameter, skipping that one."""
        start = 0
        for gi, group in enumerate(self.param_groups):
            n = len(group["params"])
            if not self._flat_step(gi, group, start):
                for i, p in enumerate(group["params"], start):
                    if p.grad_array is not None:
                        ops = kernels.ops(kernels.device_of(p.array))
                        self._update(ops, p, group, self.state.setdefault(i, {}))
            start += n

    def _flat_valid(self, f, group, start):
        _, _, _, views = f
        params = group["params"]
        if len(views) != len(params):
            return False
        for k, (p, (vp, vg, vb)) in enumerate(zip(params, views)):
            if p.array is not vp or p.grad_array is not vg:
                return False
            if start is not None and self.state.get(start + k, {}).get("momentum_buffer") is not vb:
                return False
        return True

    def _flat_step(self, gi, group, start) -> bool:
        params = group["params"]
        if not params or not all(isinstance(p.array, np.ndarray) and isinstance(p.grad_array, np.ndarray)
                                 for p in params):
            return False
        dtype = params[0].array.dtype
        if any(p.array.dtype != dtype or p.grad_array.dtype != dtype for p in params):
            return False
        flat = self.__dict__.setdefault("_flat", {})
        f = flat.get(gi)
        first = False
        if f is None or not self._flat_valid(f, group, start):
            have = ["momentum_buffer" in self.state.get(i, {}) for i in range(start, start + len(params))]
            if any(have) and not all(have):
                return False  # some buffers exist and some not: the per-parameter path
            first = not any(have)
            total = sum(p.array.size for p in params)
            P, G, B = (np.empty(total, dtype) for _ in range(3))
            views, o = [], 0
            for i, p in enumerate(params, start):
                n, shape = p.array.size, p.array.shape
                P[o:o + n] = p.array.reshape(-1)
                G[o:o + n] = p.grad_array.reshape(-1)
                st = self.state.setdefault(i, {})
                B[o:o + n] = 0 if first else np.asarray(st["momentum_buffer"], dtype).reshape(-1)
                vp, vg, vb = P[o:o + n].reshape(shape), G[o:o + n].reshape(shape), B[o:o + n].reshape(shape)
                p.array, p.grad_array, p._spare, st["momentum_buffer"] = vp, vg, vg, vb
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
            state["momentum_buffer"] = ops.zeros_like(p.array)
        ops.sgd_step(p.array, p.grad_array, state["momentum_buffer"], group["lr"], group["momentum"],
                     group["dampening"], group["nesterov"], group["weight_decay"], first)


class Adam(Optimizer):
    """Adam with bias-corrected moments; weight decay is added to the gradient (L2)."""

    decoupled = False
    state_keys = {"step": "count", "exp_avg": "moment", "exp_avg_sq": "square"}

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)

    def _check(self, group):
        super()._check(group)
        who = type(self).__name__
        betas = group["betas"]
        if not isinstance(betas, tuple) or len(betas) != 2:
            raise ValueError(f"{who}: betas must be a pair of numbers in [0, 1), got {betas!r}")
        for i, b in enumerate(betas):
            check_range(who, f"betas[{i}]", b, 0.0, 1.0, high_open=True)
        check_range(who, "eps", group["eps"])

    def _update(self, ops, p, group, state):
        if "step" not in state:
            state["step"] = 0
            state["exp_avg"] = ops.zeros_like(p.array)
            state["exp_avg_sq"] = ops.zeros_like(p.array)
        state["step"] += 1
        ops.adam_step(p.array, p.grad_array, state["exp_avg"], state["exp_avg_sq"], group["lr"],
                      group["betas"], group["eps"], group["weight_decay"], self.decoupled, state["step"])


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr*weight_decay before the Adam step."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
