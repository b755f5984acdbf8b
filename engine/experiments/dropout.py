"""dropout: how dropout reduces overfitting on a small training set."""
from __future__ import annotations

from ..nn import Dropout, Flatten, Linear, ReLU, Sequential
from . import data
from .arms import EPOCH_COLUMNS, STEP_COLUMNS, eval_loader, loader, pct, seeded, sgd

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
    split = data.mnist(ctx.root, p["n_train"], p["n_val"], ctx.seed)
    arms = {}
    for arm, rate in (("no dropout", 0.0), ("dropout 0.5", 0.5)):
        ctx.note(arm)
        model = seeded(mlp, ctx.seed, p["hidden"], rate)
        arms[arm] = ctx.train(arm, model, loader(split.train, p["batch"], True, ctx.seed), eval_loader(split.val),
                              p["epochs"], sgd(model, p["lr"]))

    def gap(res, e=-1):
        return res.epochs[e]["train_accuracy"] - res.epochs[e]["val_accuracy"]

    r = ctx.report
    r.setup += [split.describe(), f"fully connected 784-{p['hidden']}-{p['hidden']}-10 with ReLU, SGD lr {p['lr']} "
                f"momentum 0.9, batch {p['batch']}, {p['epochs']} epochs, seed {ctx.seed} (same initial weights)",
                "training accuracy is that of the batches as trained (with dropout active in the second arm); "
                "validation runs in eval mode (no dropout)"]
    r.table(["arm", "train accuracy", "val accuracy", "gap (train - val)", "val loss"],
            [[a, pct(res.last("train_accuracy")), pct(res.last("val_accuracy")), f"{100 * gap(res):.1f} points",
              f"{res.last('val_loss'):.3f}"] for a, res in arms.items()])
    r.csv("steps.csv", STEP_COLUMNS, [row for res in arms.values() for row in res.step_rows()])
    r.csv("epochs.csv", EPOCH_COLUMNS, [row for res in arms.values() for row in res.epoch_rows()],
          "per-epoch training and validation loss and accuracy")
    series = {}
    for a, res in arms.items():
        epochs = [e["epoch"] for e in res.epochs]
        series[f"{a}: train"] = (epochs, [e["train_accuracy"] for e in res.epochs])
        series[f"{a}: validation"] = (epochs, [e["val_accuracy"] for e in res.epochs])
    r.plot("accuracy.png", "Training and validation accuracy per epoch", "epoch", "accuracy", series)
    r.plot("val_loss.png", "Validation loss per epoch", "epoch", "loss",
           {a: ([e["epoch"] for e in res.epochs], [e["val_loss"] for e in res.epochs]) for a, res in arms.items()})
    plain, drop = arms["no dropout"], arms["dropout 0.5"]
    r.finding = (f"After {p['epochs']} epochs on {len(split.train):,} images the train - validation gap was "
                 f"{100 * gap(plain):.1f} points without dropout and {100 * gap(drop):.1f} with it; validation "
                 f"accuracy {pct(plain.last('val_accuracy'))} without, {pct(drop.last('val_accuracy'))} with dropout.")
