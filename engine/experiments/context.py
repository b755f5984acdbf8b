"""What an experiment's ``run(ctx)`` gets: its budget's settings, the data root, the seed,
the report it fills in and the listener of its live points; and the recipe settings and
runs its arms train with."""
from __future__ import annotations

from dataclasses import dataclass

from ..train.recipe import RunData, Settings, build
from .arms import ArmResult, Point, train_arm
from .report import Report

BUDGETS = ("tiny", "quick", "full")
SEED = 0
MOMENTUM = 0.9          # every training experiment uses SGD with this momentum


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

    def settings(self, dataset: str, **changes) -> Settings:
        """The recipe settings the arms share: ``dataset`` ("mnist", "cifar10") under the data
        root, the budget's ``n_train`` training images and ``n_val`` validation images (the
        test split's, or CIFAR-10's hold-out) drawn with the seed, its ``epochs``, ``batch``
        and ``lr`` (SGD, momentum MOMENTUM, no schedule), the seed; ``changes`` on top (a
        budget without ``batch`` passes batch_size)."""
        p = self.p
        base = dict(dataset=dataset, data_root=None if self.root is None else str(self.root),
                    train_size=p["n_train"], val_size=p["n_val"], subset_seed=self.seed, epochs=p["epochs"],
                    optimizer="sgd", lr=p["lr"], momentum=MOMENTUM, seed=self.seed, workers=0)
        if "batch" in p:
            base["batch_size"] = p["batch"]
        return Settings(**{**base, **changes}).checked()

    def train(self, arm: str, settings: Settings, data: RunData, model=None, *, train=None, val=None,
              divergence_ok: bool = False) -> ArmResult:
        """One arm: the recipe's run of ``settings`` on fresh loaders of ``data``
        (:meth:`RunData.for_arm`; ``train``/``val`` in place of its datasets) with ``model``
        (None: the settings' zoo model), streamed to ``on_event`` (see train_arm)."""
        run = build(settings, model=model, data=data.for_arm(settings, train, val))
        return train_arm(self.name, arm, run, self.on_event, divergence_ok, self.stop)

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
