"""shuffle: why shuffle the training set but not the test set."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..data import DataLoader, Subset
from ..train import evaluate_model
from ..train.recipe import open_data
from ..train.recipe.data import EVAL_BATCH
from .arms import loss_curves, pct, record
from .data import describe

QUESTION = ("Why shuffle the training set but not the test set? The same network is trained on MNIST "
            "in a shuffled order and in the order sorted by class; the trained model is then evaluated "
            "on the validation set in its own order and in a shuffled order.")

BUDGETS = {"tiny": dict(n_train=256, n_val=128, epochs=1, batch=32, lr=0.02),
           "quick": dict(n_train=30000, n_val=5000, epochs=2, batch=64, lr=0.02),
           "full": dict(n_train=None, n_val=None, epochs=5, batch=64, lr=0.02)}


def run(ctx) -> None:
    p = ctx.p
    s = ctx.settings("mnist", model="mnist_cnn")
    data = open_data(s)
    by_class = Subset(data.train, np.argsort(np.asarray(data.train.targets), kind="stable"))
    arms = {}
    for arm, ds, shuffle in (("shuffled", None, True), ("sorted by class", by_class, False)):
        ctx.note(arm)
        arms[arm] = ctx.train(arm, replace(s, shuffle=shuffle), data, train=ds, divergence_ok=True)
    model = arms["shuffled"].model
    ordered = evaluate_model(model, data.val_loader).accuracy
    mixed = evaluate_model(model, DataLoader(data.val, batch_size=EVAL_BATCH, shuffle=True, seed=ctx.seed,
                                             transform=data.eval_transform())).accuracy

    r = ctx.report
    r.setup += [describe(data), f"model mnist_cnn, SGD lr {p['lr']} momentum 0.9, batch {p['batch']}, "
                f"{p['epochs']} epoch(s), seed {ctx.seed} (same initial weights in both arms)",
                "sorted arm: the training images ordered 0, 0, ..., 1, 1, ..., 9 and never reshuffled"]
    r.table(["arm", "steps", "final train loss", "val accuracy", "stopped by the loss guard"],
            [[a, f"{len(res.steps):,}", f"{res.last('train_loss'):.3f}", pct(res.last("val_accuracy")),
              "yes (diverged)" if res.reason == "nan" else "no"] for a, res in arms.items()])
    r.table(["evaluation order (shuffled arm's model)", "val accuracy"],
            [["validation set in order", pct(ordered)], ["validation set shuffled", pct(mixed)]])
    record(r, arms)
    r.plot("loss.png", "Training loss per step", "step", "loss", loss_curves(arms))
    s, o = arms["shuffled"].last("val_accuracy"), arms["sorted by class"].last("val_accuracy")
    why = ": each stretch of one class pulls the weights toward that class" if o < s else ""
    diverged = [a for a, res in arms.items() if res.reason == "nan"]
    if diverged:
        why += "; " + ", ".join(f"the {a} run diverged at step {len(arms[a].steps) + 1:,} and was stopped"
                                for a in diverged)
    r.finding = (f"Trained in shuffled order the net reached {pct(s)} validation accuracy, trained in class order "
                 f"{pct(o)} ({'lower' if o < s else 'not lower'} by {100 * abs(s - o):.1f} points){why}. "
                 f"Evaluation order does not "
                 f"matter: {pct(ordered)} in order, {pct(mixed)} shuffled (no weights change while testing).")
