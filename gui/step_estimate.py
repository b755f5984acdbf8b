"""Before Start: about how much memory one training step of a batch takes and how long,
from the model's summary (:func:`engine.nn.summary`: parameters, MACs and activation
memory per sample), so that a huge batch is questioned before it runs for minutes or
exhausts the machine's memory. Qt-free.

    memory  ~ batch x activation bytes per sample x ACTIVATION_FACTOR
              + parameters x 4 bytes x (weights, gradients and the optimizer's state arrays)
    seconds ~ 3 x forward FLOPs (2 per MAC) x batch / (TRAIN_GFLOPS_PER_THREAD x threads)

Both are estimates to an order of magnitude on the CPU, stated as "about".
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from engine.nn.summary import Summary

ACTIVATION_FACTOR = 1.2
"""Peak memory of a step over its forward activations: AlexNet on 32 x 32 images at batch
4096 (1.72 MiB of activations a sample, 7.4 GB a batch) peaked at 8.7 GB (issue 17)."""

TRAIN_GFLOPS_PER_THREAD = 25.0
"""A training step's rate per CPU thread: the zoo trains at 14 to 97 GFLOP/s a thread on
the 2-core development machine (benchmarks/results_cpu_vs_torch.md), small layers at the
low end; a rate from the low half, so a step is rather over- than underestimated."""

STATE_ARRAYS = {"SGD": 1, "Adam": 2, "AdamW": 2}
"""Arrays the optimizer keeps per parameter (SGD's momentum, Adam's two moments)."""

MEMORY_SHARE = 0.5          # a step that needs more than this share of the machine's memory is questioned
SLOW_STEP_SECONDS = 10.0    # and one that takes longer than this


@dataclass(frozen=True)
class StepEstimate:
    """batch_size: images a step; memory_bytes: the step's peak memory; seconds: its time."""

    batch_size: int
    memory_bytes: float
    seconds: float


def estimate_step(s: Summary, batch_size: int, optimizer: str = "SGD", threads: int = 1) -> StepEstimate:
    """The estimate for one training step of ``batch_size`` samples of the model that
    ``s`` summarises, with ``optimizer`` (one of STATE_ARRAYS) on ``threads`` CPU threads."""
    if int(batch_size) < 1 or int(threads) < 1:
        raise ValueError(f"batch_size and threads must be at least 1, got {batch_size} and {threads}")
    params = s.total_params * 4 * (2 + STATE_ARRAYS.get(optimizer, 2))
    memory = batch_size * s.activation_bytes * ACTIVATION_FACTOR + params
    seconds = 6.0 * s.total_macs * batch_size / (TRAIN_GFLOPS_PER_THREAD * 1e9 * threads)
    return StepEstimate(int(batch_size), float(memory), float(seconds))


def machine_memory() -> int | None:
    """This machine's physical memory in bytes (None where the system does not say)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def warning(est: StepEstimate, model_name: str, memory: int | None) -> str:
    """A question for the user when the step needs over MEMORY_SHARE of ``memory`` (the
    machine's, in bytes; None: unknown) or over SLOW_STEP_SECONDS; "" when it does not."""
    too_big = memory is not None and est.memory_bytes > MEMORY_SHARE * memory
    if not too_big and est.seconds <= SLOW_STEP_SECONDS:
        return ""
    of = f" of the machine's {_bytes(memory)}" if memory else ""
    return (f"batch {est.batch_size:,} on {model_name} needs about {_bytes(est.memory_bytes)}{of} and about "
            f"{_seconds(est.seconds)} a step; continue?")


def _bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n / 1e3:.0f} kB"


def _seconds(t: float) -> str:
    return f"{t:.0f} s" if t < 120 else f"{t / 60:.0f} min"
