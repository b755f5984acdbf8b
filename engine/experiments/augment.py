"""augment: why data augmentation helps (the train/validation gap over the epochs)."""
from __future__ import annotations

from .. import models
from ..data import transforms as T
from . import data
from .arms import EPOCH_COLUMNS, STEP_COLUMNS, eval_loader, loader, pct, seeded, sgd

QUESTION = ("Why does augmentation help? The course's CIFAR-10 CNN is trained on the same images with and "
            "without random crop + horizontal flip + RGB intensity noise (Lighting, AlexNet's PCA colour "
            "noise); how far apart are training and validation accuracy over the epochs?")

BUDGETS = {"tiny": dict(n_train=256, n_val=128, epochs=2, batch=32, lr=0.02),
           "quick": dict(n_train=5000, n_val=2000, epochs=30, batch=64, lr=0.02),
           "full": dict(n_train=None, n_val=None, epochs=40, batch=64, lr=0.02)}


def augmentation():
    """Crop 32x32 from the image padded by 4, flip half of the images, AlexNet's colour noise."""
    return T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.Lighting(0.1)])


def run(ctx) -> None:
    p = ctx.p
    split = data.cifar10(ctx.root, p["n_train"], p["n_val"], ctx.seed)
    arms = {}
    for arm, transform in (("no augmentation", None), ("crop + flip + lighting", augmentation())):
        ctx.note(arm)
        model = seeded(models.get, ctx.seed, "cifar_cnn")
        arms[arm] = ctx.train(arm, model, loader(split.train, p["batch"], True, ctx.seed, transform),
                              eval_loader(split.val), p["epochs"], sgd(model, p["lr"]))

    def gap(res, e=-1):
        return res.epochs[e]["train_accuracy"] - res.epochs[e]["val_accuracy"]

    r = ctx.report
    r.setup += [split.describe(), f"model cifar_cnn, SGD lr {p['lr']} momentum 0.9, batch {p['batch']}, "
                f"{p['epochs']} epochs, seed {ctx.seed} (same initial weights and batch order in both arms)",
                "augmentation: RandomCrop(32, padding=4), RandomHorizontalFlip(), Lighting(0.1); training "
                "accuracy is measured on the batches as trained (augmented in the second arm)"]
    r.table(["arm", "train accuracy", "val accuracy", "gap (train - val)", "best val accuracy"],
            [[a, pct(res.last("train_accuracy")), pct(res.last("val_accuracy")), f"{100 * gap(res):.1f} points",
              pct(max(e["val_accuracy"] for e in res.epochs))] for a, res in arms.items()])
    r.csv("steps.csv", STEP_COLUMNS, [row for res in arms.values() for row in res.step_rows()])
    r.csv("epochs.csv", EPOCH_COLUMNS, [row for res in arms.values() for row in res.epoch_rows()],
          "per-epoch training and validation loss and accuracy")
    series = {}
    for a, res in arms.items():
        epochs = [e["epoch"] for e in res.epochs]
        series[f"{a}: train"] = (epochs, [e["train_accuracy"] for e in res.epochs])
        series[f"{a}: validation"] = (epochs, [e["val_accuracy"] for e in res.epochs])
    r.plot("accuracy.png", "Training and validation accuracy per epoch", "epoch", "accuracy", series)
    r.plot("gap.png", "Train - validation accuracy gap per epoch", "epoch", "gap",
           {a: ([e["epoch"] for e in res.epochs], [gap(res, i) for i in range(len(res.epochs))])
            for a, res in arms.items()})
    plain, aug = arms["no augmentation"], arms["crop + flip + lighting"]
    r.finding = (f"After {p['epochs']} epochs the gap between training and validation accuracy was "
                 f"{100 * gap(plain):.1f} points without augmentation and {100 * gap(aug):.1f} with it; "
                 f"validation accuracy {pct(plain.last('val_accuracy'))} without, {pct(aug.last('val_accuracy'))} "
                 "with augmentation.")
