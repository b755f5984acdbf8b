"""dropout: how dropout reduces overfitting on a small training set."""
from __future__ import annotations

from ..nn import Dropout, Flatten, Linear, ReLU, Sequential
from ..train.recipe import open_data
from . import overfit
from .arms import record, seeded
from .data import describe

QUESTION = ("What does dropout do against overfitting? A wide fully connected net is trained on a small "
            "subset of MNIST with and without dropout (p = 0.5 after each hidden layer) for many "
            "epochs: how far apart do training and validation accuracy drift?")

BUDGETS = {"tiny": dict(n_train=128, n_val=128, epochs=2, hidden=64, batch=32, lr=0.02),
           "quick": dict(n_train=1000, n_val=2000, epochs=30, hidden=512, batch=32, lr=0.02),
           "full": dict(n_train=2000, n_val=None, epochs=100, hidden=1024, batch=32, lr=0.02)}


def mlp(hidden: int, p: float) -> Sequential:
    """784 -> hidden -> hidden -> 10 with ReLU; Dropout(p) after each hidden layer when p > 0."""
    drop = [Dropout(p)] if p > 0 else []
    return Sequential(Flatten(), Linear(784, hidden), ReLU(), *drop, Linear(hidden, hidden), ReLU(), *drop,
                      Linear(hidden, 10))


def run(ctx) -> None:
    p = ctx.p
    s = ctx.settings("mnist")
    data = open_data(s)
    arms = {}
    for arm, rate in (("no dropout", 0.0), ("dropout 0.5", 0.5)):
        ctx.note(arm)
        arms[arm] = ctx.train(arm, s, data, seeded(mlp, ctx.seed, p["hidden"], rate))

    r = ctx.report
    r.setup += [describe(data), f"fully connected 784-{p['hidden']}-{p['hidden']}-10 with ReLU, SGD lr {p['lr']} "
                f"momentum 0.9, batch {p['batch']}, {p['epochs']} epochs, seed {ctx.seed} (same initial weights)",
                "training accuracy is that of the batches as trained (with dropout active in the second arm); "
                "validation runs in eval mode (no dropout)"]
    r.table(["arm", "train accuracy", "val accuracy", "gap (train - val)", "val loss"],
            [row + [f"{res.last('val_loss'):.3f}"] for row, res in zip(overfit.gap_rows(arms), arms.values())])
    record(r, arms)
    r.plot("accuracy.png", "Training and validation accuracy per epoch", "epoch", "accuracy",
           overfit.accuracy_curves(arms))
    r.plot("val_loss.png", "Validation loss per epoch", "epoch", "loss",
           {a: ([e["epoch"] for e in res.epochs], [e["val_loss"] for e in res.epochs]) for a, res in arms.items()})
    r.finding = overfit.finding(p["epochs"], f" on {len(data.train):,} images", "dropout", arms["no dropout"],
                                arms["dropout 0.5"])
