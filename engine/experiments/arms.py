"""Training one arm of an experiment with the engine's Trainer, recording every step.

An arm is a run of the shared recipe (:func:`engine.train.recipe.build`); ``train_arm``
returns an ArmResult with one row per optimizer step (loss, batch accuracy, images/s) and
one per epoch (the Trainer's history: train and validation loss and accuracy), and passes
each step to ``on_event`` as a Point so a front end can draw live curves. ``record`` and
``loss_curves`` lay the arms' rows out in a report.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .. import manual_seed
from ..train import evaluate_model
from ..train.events import BatchEnd
from ..train.recipe import Run
from .report import ExperimentError, Report

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


def train_arm(experiment: str, arm: str, run: Run, on_event=None, divergence_ok: bool = False,
              stop=None) -> ArmResult:
    """Trains the model of ``run`` (its loss, optimizer, schedule and loaders) for its
    settings' epochs through its Trainer; ``on_event`` gets a Point per step.
    Raises RuntimeError with the Trainer's sentence if the run does not complete, unless it
    diverged and ``divergence_ok``: then ``reason`` is "nan", and ``epochs`` ends with the
    unfinished epoch (its steps' mean training loss and accuracy, and the validation metrics of
    the weights the guard kept, those before the diverging update). ``stop`` (a threading.Event):
    once set, training stops between batches and ExperimentError says so."""
    result = ArmResult(arm, run.model)

    def listen(event):
        if stop is not None and stop.is_set():
            trainer.stop("stopped", "stopped by the user")
        if isinstance(event, BatchEnd):
            result.steps.append((event.epoch, event.step, event.loss, event.accuracy, event.images_per_sec))
            if on_event is not None:
                on_event(Point(experiment, arm, event.step, event.loss, event.accuracy))

    trainer = run.trainer()
    trainer.subscribe(listen)
    start = time.perf_counter()
    done = trainer.fit(run.settings.epochs)
    result.reason = done.reason
    if done.reason == "stopped":
        raise ExperimentError(f"experiment {experiment}: stopped by the user during arm {arm!r}")
    if done.reason != "completed" and not (divergence_ok and done.reason == "nan"):
        raise RuntimeError(f"experiment {experiment}, arm {arm}: training ended early ({done.reason}): "
                           f"{done.message}")
    result.epochs = list(done.history)
    if done.reason == "nan":
        result.epochs.append(_unfinished_epoch(result, run.model, run.data.val_loader, done.step))
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


def record(report: Report, arms: dict) -> None:
    """steps.csv and epochs.csv of the ArmResults ``arms`` (any keys), arm after arm."""
    report.csv("steps.csv", STEP_COLUMNS, [row for res in arms.values() for row in res.step_rows()])
    report.csv("epochs.csv", EPOCH_COLUMNS, [row for res in arms.values() for row in res.epoch_rows()],
               "per-epoch training and validation loss and accuracy")


def loss_curves(arms: dict) -> dict:
    """label -> (steps, training losses) of the ArmResults ``arms`` (labels: their keys)."""
    return {a: (res.column("step"), res.column("loss")) for a, res in arms.items()}
