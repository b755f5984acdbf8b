"""What an experiment's ``run(ctx)`` gets: its budget's settings, the data root, the seed,
the report it fills in and the listener of its live points."""
from __future__ import annotations

from dataclasses import dataclass

from .arms import ArmResult, Point, train_arm
from .report import Report

BUDGETS = ("tiny", "quick", "full")
SEED = 0


@dataclass
class Context:
    """p: the experiment's settings for this budget (its BUDGETS[budget] dict)."""
    name: str
    budget: str
    p: dict
    root: object
    report: Report
    on_event: object = None
    stop: object = None          # a threading.Event that stops the run between batches
    seed: int = SEED

    def train(self, arm: str, model, train_loader, val_loader, epochs: int, optimizer,
              divergence_ok: bool = False) -> ArmResult:
        """One arm through the Trainer, its steps streamed to ``on_event`` (see train_arm)."""
        return train_arm(self.name, arm, model, train_loader, val_loader, epochs, optimizer, self.on_event,
                         divergence_ok, self.stop)

    def note(self, text: str) -> None:
        """Tells the listener what runs now (a Point-free progress line)."""
        if self.on_event is not None:
            self.on_event(Stage(self.name, text))


@dataclass
class Stage:
    """A line of progress: which arm or check starts."""
    experiment: str
    text: str


__all__ = ["BUDGETS", "Context", "Point", "Stage"]
