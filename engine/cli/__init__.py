"""The command line: ``python -m engine`` (installed as ``numbacnn``).

    numbacnn train --model mnist_cnn --dataset mnist --epochs 5
    numbacnn evaluate runs/mnist_cnn-mnist/best.npz --dataset mnist
    numbacnn predict runs/mnist_cnn-mnist/best.npz digit.png
    numbacnn explain runs/mnist_cnn-mnist/best.npz digit.png -o why.png
    numbacnn summary --model resnet20 --input 3x32x32
    numbacnn models
    numbacnn import-weights resnet20.pth --model resnet20 -o run.npz
    numbacnn export run.npz -o resnet20.onnx
    numbacnn experiment activation --budget quick
    numbacnn bench ...

One module per command group, each adding its sub-commands (``add_parser``): train.py
(with resume.py, the rules of --resume), evaluate.py (evaluate, predict), zoo.py
(summary, models), weights.py (import-weights, export), explain.py, bench.py, and
engine/experiments/cli.py; arguments.py holds the argument types and errors.py how the
program ends. A mistake a user can make (unknown model, missing dataset, bad checkpoint,
a batch size of 0, ...) ends in one line on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import sys

from ..errors import first_line
from ..experiments import cli as experiment_cli
from . import bench, evaluate, explain, train, weights, zoo
from .arguments import Parser
from .errors import PROG, UserError, finish, user_message

__all__ = ["main", "build_parser", "UserError", "PROG"]


def build_parser() -> Parser:
    p = Parser(prog=PROG, description="numbacnn: train, evaluate and inspect CNNs whose every kernel is "
                                      "compiled by Numba.")
    p.add_argument("--traceback", action="store_true", help="show the full traceback of unexpected errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for group in (train, evaluate, zoo, weights, explain):
        group.add_parser(sub)
    experiment_cli.add_parser(sub)
    sub.choices["experiment"].set_defaults(run=lambda a: experiment_cli.main(a, PROG))
    bench.add_parser(sub)
    return p


def main(argv=None) -> int:
    """Runs the command in ``argv`` (default: the process's); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        if not args.command:
            build_parser().print_help()
            return 2
        return args.run(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return finish(130)
    except Exception as e:  # noqa: BLE001 - every user mistake ends in one line
        known = user_message(e)
        if known is not None:
            print(f"{PROG}: error: {known}", file=sys.stderr)
            return finish(2)
        if "--traceback" in argv:
            raise
        print(f"{PROG}: internal error: {type(e).__name__}: {first_line(e)} (run with --traceback for details)",
              file=sys.stderr)
        return finish(1)
