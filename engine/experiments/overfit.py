"""What the overfitting experiments (augment, dropout) share: two arms of one model trained
with and without a regulariser, compared by the gap between training and validation
accuracy over the epochs."""
from __future__ import annotations

from .arms import pct


def gap(res, epoch: int = -1) -> float:
    """Training minus validation accuracy of ArmResult ``res`` at ``epoch`` (a history index)."""
    return res.epochs[epoch]["train_accuracy"] - res.epochs[epoch]["val_accuracy"]


def gap_rows(arms: dict) -> list:
    """Per arm (label -> ArmResult): label, final training and validation accuracy, the gap."""
    return [[a, pct(res.last("train_accuracy")), pct(res.last("val_accuracy")), f"{100 * gap(res):.1f} points"]
            for a, res in arms.items()]


def accuracy_curves(arms: dict) -> dict:
    """"ARM: train" and "ARM: validation" -> (epochs, accuracies) of every arm."""
    series = {}
    for a, res in arms.items():
        epochs = [e["epoch"] for e in res.epochs]
        series[f"{a}: train"] = (epochs, [e["train_accuracy"] for e in res.epochs])
        series[f"{a}: validation"] = (epochs, [e["val_accuracy"] for e in res.epochs])
    return series


def finding(epochs: int, images: str, regulariser: str, plain, regularised) -> str:
    """The finding of a plain and a regularised ArmResult after ``epochs`` epochs
    (``images``: " on 1,000 images" or ""; ``regulariser``: "augmentation", "dropout")."""
    return (f"After {epochs} epochs{images} the gap between training and validation accuracy was "
            f"{100 * gap(plain):.1f} points without {regulariser} and {100 * gap(regularised):.1f} with it; "
            f"validation accuracy {pct(plain.last('val_accuracy'))} without, "
            f"{pct(regularised.last('val_accuracy'))} with {regulariser}.")
