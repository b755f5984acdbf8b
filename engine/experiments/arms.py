"""Training one arm of an experiment with the engine's Trainer, recording every step.

An arm is a model trained on a loader; ``train_arm`` returns an ArmResult with one row
per optimizer step (loss, batch accuracy, images/s) and one per epoch (the Trainer's
history: train and validation loss and accuracy), and passes each step to ``on_event``
as a Point so a front end can draw live curves.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .. import manual_seed, nn, optim
from ..data import DataLoader
from ..train import Trainer, evaluate_model
from ..train.events import BatchEnd
from ..train.recipe.data import EVAL_BATCH
from .report import ExperimentError

STEP_COLUMNS = ("arm", "epoch", "step", "loss", "accuracy", "images_per_sec")
EPOCH_COLUMNS = ("arm", "epoch", "step", "train_loss", "train_accuracy", "val_loss", "val_accuracy")


@dataclass
class Point:
    """One optimizer step of one arm (what a live plot draws)."""
    experiment: str
    arm: str
    step: int
    loss: float
    accuracy: float


@dataclass
class ArmResult:
    """steps: (epoch, step, loss, accuracy, images_per_sec) per optimizer step;
    epochs: the Trainer's history (one dict per epoch); model: the trained model."""
    arm: str
    model: object = field(default=None, repr=False)
    steps: list = field(default_factory=list)
    epochs: list = field(default_factory=list)
    seconds: float = 0.0
    reason: str = "completed"      # or "nan": the Trainer's loss guard stopped a diverging run

    def column(self, name: str) -> np.ndarray:
        i = STEP_COLUMNS.index(name) - 1
        return np.array([s[i] for s in self.steps], float)

    def last(self, key: str) -> float:
        """``key`` of the last epoch (e.g. "val_accuracy")."""
        return float(self.epochs[-1][key])

    def step_rows(self) -> list:
        return [(self.arm,) + tuple(s) for s in self.steps]

    def epoch_rows(self) -> list:
        return [(self.arm, e["epoch"], e["step"], e["train_loss"], e["train_accuracy"], e.get("val_loss"),
                 e.get("val_accuracy")) for e in self.epochs]

    def parameters(self) -> int:
        return self.model.num_parameters()

    def images_per_sec(self) -> float:
        """Median throughput over the steps after the first (which pays for compilation)."""
        rates = self.column("images_per_sec")
        return float(np.median(rates[1:] if len(rates) > 1 else rates)) if len(rates) else math.nan


def loader(dataset, batch_size: int, shuffle: bool, seed: int, transform=None) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, seed=seed, transform=transform)


def eval_loader(dataset) -> DataLoader:
    return DataLoader(dataset, batch_size=EVAL_BATCH)


def sgd(model, lr: float, momentum: float = 0.9):
    return optim.SGD(model.parameters(), lr=lr, momentum=momentum)


def train_arm(experiment: str, arm: str, model, train_loader, val_loader, epochs: int, optimizer,
              on_event=None, divergence_ok: bool = False, stop=None) -> ArmResult:
    """Trains ``model`` for ``epochs`` epochs with cross-entropy; ``on_event`` gets a Point per step.
    Raises RuntimeError with the Trainer's sentence if the run does not complete, unless it
    diverged and ``divergence_ok``: then ``reason`` is "nan", and ``epochs`` ends with the
    unfinished epoch (its steps' mean training loss and accuracy, and the validation metrics of
    the weights the guard kept, those before the diverging update). ``stop`` (a threading.Event):
    once set, training stops between batches and ExperimentError says so."""
    result = ArmResult(arm, model)

    def listen(event):
        if stop is not None and stop.is_set():
            trainer.stop("stopped", "stopped by the user")
        if isinstance(event, BatchEnd):
            result.steps.append((event.epoch, event.step, event.loss, event.accuracy, event.images_per_sec))
            if on_event is not None:
                on_event(Point(experiment, arm, event.step, event.loss, event.accuracy))

    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), train_loader, val_loader)
    trainer.subscribe(listen)
    start = time.perf_counter()
    done = trainer.fit(epochs)
    result.reason = done.reason
    if done.reason == "stopped":
        raise ExperimentError(f"experiment {experiment}: stopped by the user during arm {arm!r}")
    if done.reason != "completed" and not (divergence_ok and done.reason == "nan"):
        raise RuntimeError(f"experiment {experiment}, arm {arm}: training ended early ({done.reason}): "
                           f"{done.message}")
    result.epochs = list(done.history)
    if done.reason == "nan":
        result.epochs.append(_unfinished_epoch(result, model, val_loader, done.step))
    result.seconds = time.perf_counter() - start
    return result


def _unfinished_epoch(result: ArmResult, model, val_loader, step: int) -> dict:
    """A history row for the epoch a diverging run stopped in."""
    epoch = len(result.epochs)
    mine = [s for s in result.steps if s[0] == epoch]
    ev = evaluate_model(model, val_loader)
    return {"epoch": epoch, "step": step, "train_loss": float(np.mean([s[2] for s in mine])) if mine else math.nan,
            "train_accuracy": float(np.mean([s[3] for s in mine])) if mine else math.nan,
            "val_loss": ev.loss, "val_accuracy": ev.accuracy}


def seeded(build, seed: int, *args, **kwargs):
    """``build(*args, **kwargs)`` after ``manual_seed(seed)``: every arm starts from the same
    generator state."""
    manual_seed(seed)
    return build(*args, **kwargs)


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"
