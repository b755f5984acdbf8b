"""A Trainer's run in a checkpoint, beside the weights: what ``Trainer.state()`` records
(optimizer, schedule, RNG and loader positions, counters, history, callbacks, metadata,
probe) and what ``Trainer.restore()`` checks and loads. Every part of a checkpoint is
checked against the trainer first, and nothing changes unless all of it fits."""
from __future__ import annotations

import collections
import json
import warnings
from datetime import datetime, timezone

import numpy as np

from .._version import __version__
from ..autograd import random
from ..data import DataLoader
from ..distributed import epoch_position
from ..errors import first_line
from ..nn import Dropout, Dropout2d
from ..optim import LRScheduler, OneCycleLR
from . import checkpoint as ckpt

__all__ = ["state_of", "check_restore", "apply_restore"]


def _dropouts(model):
    """(name, module) of the model's dropout layers, whose mask counters a run continues."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, (Dropout, Dropout2d))]


def callback_keys(callbacks):
    """(key, callback): the class name, numbered from the second of a class on."""
    seen = collections.Counter()
    for cb in callbacks:
        base = type(cb).__name__
        seen[base] += 1
        yield (base if seen[base] == 1 else f"{base}_{seen[base]}"), cb


def state_of(t) -> dict:
    """Everything but the weights a checkpoint of trainer ``t`` holds (JSON-able plus numpy arrays)."""
    sched = None
    if t.scheduler is not None:
        sched = {"type": type(t.scheduler).__name__, "state": t.scheduler.state_dict()}
    cbs = {}
    for key, cb in callback_keys(t.callbacks):
        s = cb.state_dict()
        if s:
            cbs[key] = s
    rng = {"init": random.generator().bit_generator.state, "numpy_global": list(np.random.get_state()),
           "dropout": {name: list(m.get_rng_state()) for name, m in _dropouts(t.model)}}
    position = {}
    if isinstance(t.train_loader, DataLoader):
        rng["train_loader"] = t._loader_state if t.batch_in_epoch > 0 and t._loader_state is not None \
            else t.train_loader.state_dict()
        at = epoch_position.current(t.train_loader, t.epoch, t.batch_in_epoch)
        position = {"samples_in_epoch": at.samples, "ranks": at.ranks, "steps_per_epoch": at.steps_per_epoch}
    return {
        "input_shape": list(t.input_shape) if t.input_shape else None,
        "optimizer": {"type": type(t.optimizer).__name__, "state_dict": t.optimizer.state_dict()},
        "scheduler": sched,
        "scheduler_interval": t._interval(),
        "rng": rng,
        "trainer": {"epoch": t.epoch, "step": t.step, "batch_in_epoch": t.batch_in_epoch, **position,
                    "running": dict(t._running), "loss_reference": t._loss_reference},
        "history": [dict(h) for h in t.history],
        "callbacks": cbs,
        "metadata": t.metadata,
        "probe": t.probe,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "engine_version": __version__,
    }


def check_restore(t, c) -> None:
    """Raises CheckpointError unless checkpoint ``c`` fits trainer ``t``; changes nothing."""
    meta = c.meta
    if _canon(t.model.spec()) != _canon(c.spec):
        raise ckpt.CheckpointError(f"checkpoint {c.path} was saved from a different architecture than this "
                                   f"model ({_describe(c.spec)} vs {_describe(t.model.spec())})")
    o, s = meta.get("optimizer"), meta.get("scheduler")
    if o is not None and o["type"] != type(t.optimizer).__name__:
        raise ckpt.CheckpointError(f"checkpoint {c.path} holds {o['type']} optimizer state; this run uses "
                                   f"{type(t.optimizer).__name__}")
    if s is not None and t.scheduler is not None and s["type"] != type(t.scheduler).__name__:
        raise ckpt.CheckpointError(f"checkpoint {c.path} holds a {s['type']} schedule; this run uses "
                                   f"{type(t.scheduler).__name__}")
    rng, tr = meta.get("rng") or {}, meta.get("trainer") or {}
    names = {id(p): n for n, p in t.model.named_parameters()}
    checks = []
    if o is not None:
        param_names = [names.get(id(p), f"#{i}") for i, p in
                       enumerate(p for g in t.optimizer.param_groups for p in g["params"])]
        checks.append(("optimizer state", lambda: t.optimizer.check_state_dict(o["state_dict"], param_names)))
    if s is not None and t.scheduler is not None:
        checks.append(("scheduler state", lambda: t.scheduler.check_state_dict(s["state"])))
    if rng.get("init") is not None:
        bits = type(random.generator().bit_generator)
        checks.append(("rng.init", lambda: setattr(bits(), "state", rng["init"])))
    if rng.get("numpy_global") is not None:
        checks.append(("rng.numpy_global", lambda: np.random.RandomState().set_state(tuple(rng["numpy_global"]))))
    cbs = meta.get("callbacks") or {}
    for key, cb in callback_keys(t.callbacks):
        if key in cbs:
            checks.append((f"callbacks.{key}", lambda cb=cb, st=cbs[key]: cb.check_state_dict(st)))
    for part, check in checks:
        try:
            check()
        except (ValueError, TypeError, KeyError, OverflowError) as e:
            raise ckpt.damaged(c.path, f"{part}: {first_line(e)}") from None
    was, now, counter = continuation(t, c)
    if s is not None and t.scheduler is not None:
        if counter is None:
            diff = t.scheduler.mismatch(s["state"])
        else:            # a plan over this run's steps per epoch: compared with the saved one rescaled
            diff = t.scheduler.mismatch(s["state"], now.steps_per_epoch / max(was.steps_per_epoch, 1))
        if diff:         # a run continues only under the schedule it was planned with
            raise ckpt.CheckpointError(f"checkpoint {c.path} holds a {type(t.scheduler).__name__} schedule with "
                                       f"{diff}; build this run's scheduler with the run's settings")
        if counter is not None and isinstance(t.scheduler, OneCycleLR) and counter > t.scheduler.total_steps:
            raise ckpt.CheckpointError(f"checkpoint {c.path} continues at step {counter} of this run's OneCycleLR "
                                       f"schedule of {t.scheduler.total_steps} steps; plan it for the run's epochs")
    spe = t._steps_per_epoch()
    history, epoch, batch = meta.get("history") or [], tr.get("epoch", 0), tr.get("batch_in_epoch", 0)
    probe = meta.get("probe")
    if "trainer" in meta and len(history) != epoch:
        raise ckpt.damaged(c.path, f"its history has {len(history)} epoch rows for {epoch} trained epochs")
    if was is None and spe and batch > spe:
        raise ckpt.damaged(c.path, f"it is {batch} batches into an epoch of {spe}")
    if probe is not None and t.input_shape is not None and tuple(probe.shape) != t.input_shape:
        raise ckpt.damaged(c.path, f"its probe image has shape {probe.shape}, not {t.input_shape}")


def apply_restore(t, c) -> None:
    """Loads checkpoint ``c``, which :func:`check_restore` accepted, into trainer ``t``."""
    meta = c.meta
    try:
        t.model.load_state_dict(c.model_state)
    except (KeyError, ValueError) as e:
        raise ckpt.damaged(c.path, f"its weights do not fit its model spec: {first_line(e)}") from None
    o, s = meta.get("optimizer"), meta.get("scheduler")
    was, now, counter = continuation(t, c)
    if o is not None:
        t.optimizer.load_state_dict(o["state_dict"])
    if s is not None and t.scheduler is not None and counter is not None:
        t.scheduler.seek(counter)          # this run's plan, at the saved run's epoch fraction
    elif s is not None and t.scheduler is not None:
        t.scheduler.load_state_dict(s["state"])
    elif s is not None and t.scheduler is None:
        warnings.warn(f"{c.path} holds a {s['type']} schedule but this trainer has no scheduler; "
                      "continuing at the saved learning rate", stacklevel=3)
    rng = meta.get("rng") or {}
    if rng.get("init") is not None:
        random.generator().bit_generator.state = rng["init"]
    if rng.get("numpy_global") is not None:
        np.random.set_state(tuple(rng["numpy_global"]))
    saved_dropout = rng.get("dropout") or {}
    for name, m in _dropouts(t.model):
        if name in saved_dropout:
            m.set_rng_state(saved_dropout[name])
    tr = meta.get("trainer") or {}
    t.epoch = int(tr.get("epoch", 0))
    t.step = int(tr.get("step", 0))
    t.batch_in_epoch = int(tr.get("batch_in_epoch", 0))
    t._running = dict(tr.get("running") or {"loss_sum": 0.0, "correct": 0, "seen": 0, "seconds": 0.0})
    t._loss_reference = tr.get("loss_reference")
    t.history = [dict(h) for h in meta.get("history") or []]
    if rng.get("train_loader") is not None and isinstance(t.train_loader, DataLoader):
        t._loader_state = rng["train_loader"]
        t.train_loader.load_state_dict(rng["train_loader"])
    if now is not None and "trainer" in meta:       # the saved position, on this run's ranks and batches
        t._loader_state = epoch_position.go_to(t.train_loader, now)
        t.batch_in_epoch = now.batch
    cbs = meta.get("callbacks") or {}
    for key, cb in callback_keys(t.callbacks):
        if key in cbs:
            cb.load_state_dict(cbs[key])
    if meta.get("probe") is not None and not t._probe_given:
        t.probe = np.asarray(meta["probe"], dtype=np.float32)
    if meta.get("input_shape") and t.input_shape is None:
        t.input_shape = tuple(meta["input_shape"])
    for k, v in (meta.get("metadata") or {}).items():
        t.metadata.setdefault(k, v)


def continuation(t, c) -> tuple:
    """(saved position, this run's position continuing it, the step this run's per-step
    schedule continues at or None when it loads the saved state as it is) of checkpoint
    ``c`` for trainer ``t`` (:mod:`engine.distributed.epoch_position`); (None, None, None)
    for a train loader that is not a DataLoader (it continues batch for batch).
    CheckpointError if ``t``'s loader cannot start where the checkpoint stopped."""
    meta = c.meta
    if not isinstance(t.train_loader, DataLoader):
        return None, None, None
    try:
        was = epoch_position.saved(meta.get("trainer") or {}, meta.get("metadata"), t.train_loader)
    except ValueError as e:
        raise ckpt.damaged(c.path, first_line(e)) from None
    try:
        now = epoch_position.continuing(t.train_loader, was)
    except ValueError as e:
        raise ckpt.CheckpointError(f"checkpoint {c.path} {first_line(e)}") from None
    s, counter = meta.get("scheduler"), None
    if s is not None and isinstance(t.scheduler, LRScheduler) and t.scheduler.interval == "step":
        saved_counter = s["state"].get("last_epoch", 0)
        counter = epoch_position.schedule_step(saved_counter, was, now)
        if counter == saved_counter and now.steps_per_epoch == was.steps_per_epoch:
            counter = None
    return was, now, counter


def _canon(spec) -> str:
    return json.dumps(spec, sort_keys=True)


def _describe(spec) -> str:
    """"12 layers starting Conv2d(in_channels=1, ...)": a spec in a few words."""
    n = [0]

    def walk(s):
        if isinstance(s, dict):
            if s.get("type") not in ("Sequential", "Residual", "Concat"):
                n[0] += 1
            for v in s.values():
                walk(v)
        elif isinstance(s, list):
            for v in s:
                walk(v)
    walk(spec)
    first = spec.get("layers", [{}])[0] if isinstance(spec, dict) else {}
    return f"{n[0]} layers starting {first.get('type', '?')}{_short_args(first)}"


def _short_args(layer):
    args = [f"{k}={v}" for k, v in layer.items() if k != "type" and not isinstance(v, (dict, list))][:3]
    return f"({', '.join(args)})" if args else ""
