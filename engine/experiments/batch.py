"""batch: epoch vs batch vs iteration — what the batch size changes at a fixed number of epochs."""
from __future__ import annotations

import math
from dataclasses import replace

from ..train.recipe import open_data
from .arms import pct, record
from .data import describe

QUESTION = ("What separates an epoch from a batch and an iteration? The same network is trained on MNIST for "
            "the same number of epochs (passes over the training set) with several batch sizes: how many "
            "iterations (optimizer steps) does an epoch take, how fast are images processed, and how accurate "
            "is the net at the end?")

BUDGETS = {"tiny": dict(n_train=256, n_val=128, epochs=1, batches=(16, 64), lr=0.02),
           "quick": dict(n_train=20000, n_val=5000, epochs=2, batches=(16, 64, 256, 1024), lr=0.02),
           "full": dict(n_train=None, n_val=None, epochs=5, batches=(16, 64, 256, 1024), lr=0.02)}


def run(ctx) -> None:
    p = ctx.p
    s = ctx.settings("mnist", model="mnist_cnn", batch_size=min(p["batches"]))
    data = open_data(s)
    arms = {}
    for b in p["batches"]:
        arm = f"batch {b}"
        ctx.note(arm)
        arms[b] = ctx.train(arm, replace(s, batch_size=b), data)

    n = len(data.train)
    r = ctx.report
    r.setup += [describe(data), f"model mnist_cnn, SGD lr {p['lr']} momentum 0.9 for every batch size, "
                f"{p['epochs']} epoch(s), seed {ctx.seed} (same initial weights)",
                f"an epoch is one pass over the {n:,} training images = ceil({n:,} / batch size) iterations"]
    r.table(["batch size", "iterations per epoch", "iterations in all", "images/s", "seconds", "val accuracy"],
            [[b, f"{math.ceil(n / b):,}", f"{len(res.steps):,}", f"{res.images_per_sec():,.0f}", f"{res.seconds:.1f}",
              pct(res.last("val_accuracy"))] for b, res in arms.items()])
    record(r, arms)
    r.plot("loss_by_images.png", "Training loss against images seen", "images seen", "loss",
           {res.arm: (res.column("step") * b, res.column("loss")) for b, res in arms.items()})
    r.plot("loss_by_step.png", "Training loss against iterations", "iteration", "loss",
           {res.arm: (res.column("step"), res.column("loss")) for b, res in arms.items()})
    small, large = min(arms), max(arms)
    s, l_ = arms[small], arms[large]
    r.finding = (f"In {p['epochs']} epoch(s) batch {small} took {len(s.steps):,} iterations and batch {large} only "
                 f"{len(l_.steps):,}; batch {large} processed {l_.images_per_sec():,.0f} images/s against "
                 f"{s.images_per_sec():,.0f}, and ended at {pct(l_.last('val_accuracy'))} validation accuracy "
                 f"against {pct(s.last('val_accuracy'))} with the same learning rate.")
