"""activation: why ReLU trains faster than LeNet-5's sigmoid."""
from __future__ import annotations

import numpy as np

from .. import models
from ..nn import ReLU, Sequential, Sigmoid
from ..train.recipe import open_data
from .arms import loss_curves, pct, record, seeded
from .data import describe

QUESTION = ("Why does ReLU train faster than LeNet-5's sigmoid? LeNet-5 as published (sigmoid units) and "
            "the same network with every sigmoid replaced by a ReLU are trained on MNIST from the same "
            "seed; how many steps does each need to reach a given training accuracy?")

BUDGETS = {"tiny": dict(n_train=512, n_val=128, epochs=1, batch=32, lr=0.05, target=0.3, window=4),
           "quick": dict(n_train=20000, n_val=2000, epochs=2, batch=64, lr=0.05, target=0.9, window=20),
           "full": dict(n_train=None, n_val=None, epochs=10, batch=64, lr=0.05, target=0.97, window=50)}


def lenet5_relu(name: str = "lenet5"):
    """Zoo model ``name`` (LeNet-5) with ReLU in place of every sigmoid (same layers, same shapes)."""
    return Sequential(*[ReLU() if isinstance(m, Sigmoid) else m for m in models.get(name)])


def steps_to(accuracy: np.ndarray, target: float, window: int):
    """The first step (1-based) at which the mean batch accuracy of the last ``window``
    steps reaches ``target``, or None."""
    if len(accuracy) < window:
        return None
    means = np.convolve(accuracy, np.ones(window) / window, mode="valid")
    hit = np.flatnonzero(means >= target)
    return int(hit[0]) + window if len(hit) else None


def run(ctx) -> None:
    p = ctx.p
    s = ctx.settings("mnist")
    data = open_data(s)
    arms, reached = {}, {}
    for arm, build in (("sigmoid (LeNet-5)", models.get), ("ReLU", lenet5_relu)):
        ctx.note(arm)
        res = ctx.train(arm, s, data, seeded(build, ctx.seed, "lenet5"))
        arms[arm], reached[arm] = res, steps_to(res.column("accuracy"), p["target"], p["window"])
    total = len(next(iter(arms.values())).steps)

    def shown(n):
        return f"{n:,}" if n is not None else f"not within {total:,}"

    r = ctx.report
    r.setup += [describe(data), f"LeNet-5 (conv 5x5, average pooling, FC 120-84-10), SGD lr {p['lr']} momentum "
                f"0.9, batch {p['batch']}, {p['epochs']} epoch(s), seed {ctx.seed}: both arms start from the same "
                "weights", f"target: {pct(p['target'])} mean training-batch accuracy over {p['window']} steps"]
    r.table(["activation", f"steps to {pct(p['target'])}", "final train loss", "val accuracy"],
            [[a, shown(reached[a]), f"{res.last('train_loss'):.3f}", pct(res.last("val_accuracy"))]
             for a, res in arms.items()])
    record(r, arms)
    r.plot("loss.png", "Training loss per step", "step", "loss", loss_curves(arms))
    r.plot("accuracy.png", "Training batch accuracy per step", "step", "accuracy",
           {a: (res.column("step"), res.column("accuracy")) for a, res in arms.items()})
    s, q = reached["sigmoid (LeNet-5)"], reached["ReLU"]
    sv, qv = arms["sigmoid (LeNet-5)"].last("val_accuracy"), arms["ReLU"].last("val_accuracy")
    def reach(name, n):
        return f"{name} reached it in {n:,} steps" if n is not None else f"{name} not within {total:,} steps"

    r.finding = (f"Target {pct(p['target'])} training accuracy: {reach('ReLU', q)}, {reach('sigmoid', s)}; "
                 f"after {total:,} steps the validation accuracy was {pct(qv)} with ReLU and {pct(sv)} with sigmoid.")
