"""The course chapter's questions as runnable experiments.

    from engine import experiments
    experiments.names()                                   # ['shuffle', 'augment', ...]
    experiments.question("activation")                    # the question it answers
    path = experiments.run("activation", budget="quick", out_dir="runs/activation",
                           data_root="../shared/data", on_event=print)

Each experiment trains its arms with the same seed and data and writes ``out_dir/report.md``
(question, setup, results table, the finding written from the measured numbers), its
CSVs and PNG plots of the overlaid curves. Budgets: "tiny" (seconds, for tests), "quick"
(a few minutes on 2 CPU cores, still shows the effect), "full" (reproduces it properly).
``on_event`` receives :class:`Point` (one optimizer step of one arm) and :class:`Stage`
(a line of progress) objects on the calling thread. Every arm is a run of the shared
recipe (engine.train.recipe), as the command line and the studio train: data opened once
(``Context.settings``, ``open_data``), fresh loaders per arm (``RunData.for_arm``), the
model, SGD and loss from ``build``.
"""
from __future__ import annotations

from pathlib import Path

from . import (
    activation,
    augment,
    batch,
    classics,
    depth,
    dropout,
    one_by_one,
    permute,
    shuffle,
)
from .arms import Point
from .context import BUDGETS, Context, Stage
from .report import ExperimentError, Report, check_out

_EXPERIMENTS = {"shuffle": shuffle, "augment": augment, "activation": activation, "depth": depth,
                "one-by-one": one_by_one, "permute": permute, "batch": batch, "dropout": dropout,
                "classics": classics}

__all__ = ["BUDGETS", "ExperimentError", "Point", "Report", "Stage", "check_out", "default_out", "measure", "names",
           "question", "run"]


def names() -> list[str]:
    return list(_EXPERIMENTS)


def _module(name: str):
    if name not in _EXPERIMENTS:
        raise ExperimentError(f"unknown experiment {name!r}; there are: {', '.join(_EXPERIMENTS)}")
    return _EXPERIMENTS[name]


def question(name: str) -> str:
    return _module(name).QUESTION


def run(name: str, budget: str = "quick", out_dir=None, on_event=None, data_root=None, stop=None) -> Path:
    """Runs experiment ``name`` at ``budget`` and writes its report folder ``out_dir``
    (default: experiments/NAME); returns the path of report.md. data_root: where MNIST and
    CIFAR-10 are (see datasets.default_root); stop: see ``measure``."""
    out = default_out(name) if out_dir is None else Path(out_dir)
    check_out(out)
    return measure(name, budget, on_event, data_root, stop).write(out)


def measure(name: str, budget: str = "quick", on_event=None, data_root=None, stop=None) -> Report:
    """Runs experiment ``name`` at ``budget`` and returns its Report, not yet written (a
    front end writes it on the thread that may draw the plots). stop: a threading.Event;
    once set, the arm in training stops between batches and ExperimentError says so."""
    module = _module(name)
    if budget not in BUDGETS:
        raise ExperimentError(f"budget must be one of {', '.join(BUDGETS)}; got {budget!r}")
    if on_event is not None and not callable(on_event):
        raise ExperimentError(f"on_event must be a function of one event, got {type(on_event).__name__}")
    ctx = Context(name, budget, module.BUDGETS[budget], data_root, Report(name, module.QUESTION, budget),
                  on_event, stop)
    module.run(ctx)
    return ctx.report


def default_out(name: str) -> Path:
    """experiments/NAME under the current folder."""
    return Path("experiments") / name
