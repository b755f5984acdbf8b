"""augment: why data augmentation helps (the train/validation gap over the epochs)."""
from __future__ import annotations

from dataclasses import replace

from ..train.recipe import open_data
from . import overfit
from .arms import pct, record
from .data import describe

QUESTION = ("Why does augmentation help? The course's CIFAR-10 CNN is trained on the same images with and "
            "without random crop + horizontal flip + RGB intensity noise (Lighting, AlexNet's PCA colour "
            "noise); how far apart are training and validation accuracy over the epochs?")

BUDGETS = {"tiny": dict(n_train=256, n_val=128, epochs=2, batch=32, lr=0.02),
           "quick": dict(n_train=5000, n_val=2000, epochs=30, batch=64, lr=0.02),
           "full": dict(n_train=None, n_val=None, epochs=40, batch=64, lr=0.02)}

AUGMENT = "crop,flip,lighting"      # the recipe's RandomCrop(32, padding=4), RandomHorizontalFlip(), Lighting(0.1)


def run(ctx) -> None:
    p = ctx.p
    s = ctx.settings("cifar10", model="cifar_cnn")
    data = open_data(s)
    arms = {}
    for arm, augment in (("no augmentation", ""), ("crop + flip + lighting", AUGMENT)):
        ctx.note(arm)
        arms[arm] = ctx.train(arm, replace(s, augment=augment), data)

    r = ctx.report
    r.setup += [describe(data), f"model cifar_cnn, SGD lr {p['lr']} momentum 0.9, batch {p['batch']}, "
                f"{p['epochs']} epochs, seed {ctx.seed} (same initial weights and batch order in both arms)",
                "augmentation: RandomCrop(32, padding=4), RandomHorizontalFlip(), Lighting(0.1) on the images "
                "scaled to [0, 1], before normalisation; training accuracy is measured on the batches as trained "
                "(augmented in the second arm)"]
    r.table(["arm", "train accuracy", "val accuracy", "gap (train - val)", "best val accuracy"],
            [row + [pct(max(e["val_accuracy"] for e in res.epochs))]
             for row, res in zip(overfit.gap_rows(arms), arms.values())])
    record(r, arms)
    r.plot("accuracy.png", "Training and validation accuracy per epoch", "epoch", "accuracy",
           overfit.accuracy_curves(arms))
    r.plot("gap.png", "Train - validation accuracy gap per epoch", "epoch", "gap",
           {a: ([e["epoch"] for e in res.epochs], [overfit.gap(res, i) for i in range(len(res.epochs))])
            for a, res in arms.items()})
    r.finding = overfit.finding(p["epochs"], "", "augmentation", arms["no augmentation"],
                                arms["crop + flip + lighting"])
