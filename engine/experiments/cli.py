"""``numbacnn experiment NAME [--budget tiny|quick|full] [--out DIR] [--data-root DIR]`` and
``numbacnn experiment --list``: the command line's side of the experiments.

``add_parser(subparsers)`` registers the command; ``main(args, prog)`` runs it and returns
the exit status (2 with one line on stderr for a bad name, budget or --out).
"""
from __future__ import annotations

import sys

from . import BUDGETS, ExperimentError, Point, Stage, names, question, run

PROGRESS_EVERY = 100


def add_parser(subparsers) -> None:
    e = subparsers.add_parser("experiment", help="run one of the course chapter's questions as an experiment",
                              description="Train the arms of an experiment with the same seed and data and write "
                                          "a report folder: report.md (question, setup, results, the finding from "
                                          "the measured numbers), per-step CSVs and PNG plots.")
    e.add_argument("name", nargs="?", metavar="NAME", help=f"one of: {', '.join(names())}")
    e.add_argument("--list", action="store_true", help="list the experiments and their questions")
    e.add_argument("--budget", default="quick", help=f"{' | '.join(BUDGETS)} (default quick: a few minutes on 2 "
                                                     "cores; tiny: seconds, full: the proper run)")
    e.add_argument("--out", default=None, help="report folder, new or empty (default experiments/NAME)")
    e.add_argument("--data-root", default=None, help="where MNIST and CIFAR-10 are (default $NUMBACNN_DATA or "
                                                     "./data)")


def main(args, prog: str) -> int:
    if args.list:
        for n in names():
            print(f"{n:12s} {question(n)}")
        return 0
    if not args.name:
        print(f"{prog}: error: experiment needs a NAME or --list (one of: {', '.join(names())})", file=sys.stderr)
        return 2
    try:
        path = run(args.name, args.budget, args.out, on_event=_progress, data_root=args.data_root)
    except ExperimentError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    print(f"report: {path}")
    return 0


def _progress(event) -> None:
    """A line per arm or check, and one every PROGRESS_EVERY optimizer steps."""
    if isinstance(event, Stage):
        print(f"[{event.experiment}] {event.text}", flush=True)
    elif isinstance(event, Point) and event.step % PROGRESS_EVERY == 0:
        print(f"[{event.experiment}] {event.arm}: step {event.step:,}, loss {event.loss:.4f}", flush=True)
