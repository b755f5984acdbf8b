"""``numbacnn bench``: the kernel and model benchmark (engine.bench) from the command
line: a table on stdout, progress on stderr, the result as JSON with ``--json``."""
from __future__ import annotations

import json
import os
import sys
import tempfile

from .. import bench
from ..train.checkpoint import atomic_write_bytes
from . import arguments as A
from .errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="benchmark kernels and models (CPU vs GPU)",
                       description="Benchmark the engine's kernels and models on the CPU and the GPU.")
    p.add_argument("--device", default=None,
                   help="comma-separated devices (cpu,cuda); default: cpu, plus cuda when a GPU is usable")
    p.add_argument("--ops", default=None, help=f"comma-separated kernel ops or 'all' or 'none' ({','.join(bench.OPS)})")
    p.add_argument("--model", default=None, help="comma-separated zoo models to time whole training steps")
    p.add_argument("--batch-size", type=A.positive_int, default=64)
    p.add_argument("--repeats", type=A.positive_int, default=None, help="timed runs per kernel (median); default 5")
    p.add_argument("--warmup", type=A.nonneg_int, default=None,
                   help="untimed runs first (the first compiles); default 2")
    p.add_argument("--steps", type=A.positive_int, default=None, help="timed training steps per model on the GPU; "
                                                                      "default 10")
    p.add_argument("--cpu-steps", type=A.positive_int, default=None, help="timed training steps per model on the "
                                                                          "CPU; default 2")
    p.add_argument("--size", choices=("tiny", "default"), default=None,
                   help="problem sizes; tiny is automatic under the CUDA simulator")
    p.add_argument("--torch", action="store_true", help="also time PyTorch's twin of each model on its CUDA device")
    p.add_argument("--json", default=None, metavar="PATH", help="write the results as JSON (schema: engine/bench.py)")
    p.set_defaults(run=run)


def _check_json_path(path) -> None:
    """Refuses, before any benchmark runs, a --json path where the results cannot be
    written: a folder, or a folder where no file can be created (its folders are created
    and a probe file is made there and removed)."""
    target = os.path.abspath(path)
    if os.path.isdir(target):
        raise UserError(f"--json {path} is a folder; give a file name")
    folder = os.path.dirname(target)
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        raise UserError(f"--json {path} cannot be written: {folder} is a file, not a folder")
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".bench-probe-", dir=os.path.dirname(target))
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UserError(f"--json {path} cannot be written: {e.strerror or e}") from None


def run(args) -> int:
    if args.json:
        _check_json_path(args.json)
    result = bench.run(args.device, args.ops, args.model or (), args.batch_size, args.repeats, args.warmup,
                       args.steps, args.cpu_steps, args.size, args.torch, log=lambda line: print(line, file=sys.stderr))
    print(bench.format_table(result))
    if args.json:
        atomic_write_bytes(args.json, json.dumps(result, indent=2).encode())
        print(f"wrote {args.json}")
    return 0
