"""Where a run stands in an epoch, counted in positions of the epoch's permutation rather
than in batches, so that a checkpoint continues on another number of ranks (or another
batch size per rank) without repeating or skipping a sample, and its per-step learning-rate
schedule continues as the same function of the epoch fraction.

A train :class:`~engine.data.DataLoader` reads an epoch's order (its DistributedSampler's
permutation, else its own shuffle order or sampler) in batches of B on each of R ranks
(R: the DistributedSampler's ``num_replicas``, 1 without one). A checkpoint records the
positions trained so far (``samples_in_epoch``), R (``ranks``) and the batches of an
epoch (``steps_per_epoch``); one without them (from before they were recorded) is read as
``batch_in_epoch`` batches of this loader's B on ``metadata.ranks`` ranks.
"""
from __future__ import annotations

from dataclasses import dataclass

from .sampler import DistributedSampler, shard_length


@dataclass(frozen=True)
class Position:
    """A run's place in epoch ``epoch`` of a train loader's layout: ``batch`` batches
    trained of ``steps_per_epoch`` (the epoch's end when equal), ``samples`` positions of
    the permutation trained, by ``ranks`` ranks."""

    epoch: int
    batch: int
    samples: int
    ranks: int
    steps_per_epoch: int


def ranks_of(loader) -> int:
    """The ranks that share the epochs of ``loader`` (its DistributedSampler's replicas, else 1)."""
    return loader.sampler.num_replicas if isinstance(loader.sampler, DistributedSampler) else 1


def epoch_positions(loader) -> int:
    """The positions of one epoch's order of ``loader`` (over all its ranks)."""
    if loader.sampler is None or isinstance(loader.sampler, DistributedSampler):
        return len(loader.dataset)
    return len(loader.sampler)


def current(loader, epoch: int, batch: int) -> Position:
    """The position of a run of DataLoader ``loader`` that has trained ``batch`` batches of
    ``epoch`` (the batches of a resumed epoch counted from its skipped head)."""
    n, size, ranks = epoch_positions(loader), loader.batch_size, ranks_of(loader)
    if batch == 0:
        samples = 0
    elif isinstance(loader.sampler, DistributedSampler):
        samples = loader.sampler.consumed(batch, size)
    else:
        samples = min(n, batch * size)
    return Position(epoch, batch, samples, ranks, len(loader))


def saved(trainer_state: dict, metadata: dict, loader) -> Position:
    """The position a checkpoint's ``trainer`` table records, for a run whose train loader
    is now ``loader``; ValueError naming the entry that cannot be right."""
    epoch, batch = int(trainer_state.get("epoch", 0)), int(trainer_state.get("batch_in_epoch", 0))
    ranks = trainer_state.get("ranks", (metadata or {}).get("ranks", 1))
    _whole("trainer.ranks", ranks, 1)
    n = epoch_positions(loader)
    if "steps_per_epoch" in trainer_state:
        spe = _whole("trainer.steps_per_epoch", trainer_state["steps_per_epoch"], 0)
    else:             # the run's batch size was this loader's (a resume that changes it is refused)
        per_rank = shard_length(n, ranks, getattr(loader.sampler, "drop_last", False))
        spe = per_rank // loader.batch_size if loader.drop_last else -(-per_rank // loader.batch_size)
    if "samples_in_epoch" in trainer_state:
        samples = _whole("trainer.samples_in_epoch", trainer_state["samples_in_epoch"], 0)
    else:
        samples = min(n, batch * loader.batch_size * ranks)
    if samples > n:
        raise ValueError(f"it is {samples} samples into an epoch of {n}")
    if spe and batch > spe:
        raise ValueError(f"it is {batch} batches into an epoch of {spe}")
    return Position(epoch, batch, samples, int(ranks), spe)


def continuing(loader, at: Position) -> Position:
    """The position of this run (train loader ``loader``) that continues ``at`` (a saved
    position of any number of ranks); changes nothing. ValueError if ``loader`` cannot
    start where ``at`` stopped (a plain order that does not reach it in whole batches)."""
    spe = len(loader)
    if at.steps_per_epoch and at.batch >= at.steps_per_epoch:     # its epoch's batches are done
        return Position(at.epoch, spe, epoch_positions(loader), ranks_of(loader), spe)
    if isinstance(loader.sampler, DistributedSampler):
        batch = loader.sampler.skipped_batches(at.samples, loader.batch_size)
    elif at.samples % loader.batch_size == 0:
        batch = at.samples // loader.batch_size
    else:
        raise ValueError(f"stopped {at.samples} samples into epoch {at.epoch + 1}, not a whole number of this "
                         f"run's batches of {loader.batch_size}: resume it with a DistributedSampler, or with its "
                         f"batch size")
    return Position(at.epoch, batch, at.samples, ranks_of(loader), spe)


def go_to(loader, at: Position) -> dict:
    """Makes DataLoader ``loader`` continue at position ``at`` (from :func:`continuing`);
    returns its state_dict there, which the trainer keeps for its next batch."""
    if at.batch >= at.steps_per_epoch:
        loader.set_epoch(at.epoch + 1)
    else:
        if isinstance(loader.sampler, DistributedSampler):
            loader.sampler.resume(at.epoch, at.samples, loader.batch_size)
        loader.load_state_dict({"seed": loader.seed, "epoch": at.epoch, "batch": at.batch})
    return loader.state_dict()


def schedule_step(counter: int, was: Position, now: Position) -> int:
    """The step of a per-step schedule, planned over ``now.steps_per_epoch`` batches an
    epoch, that continues a saved schedule at step ``counter`` of a run that was at
    ``was``: the same epoch fraction (whole epochs and the batches a run of this layout has
    at the same place), plus the saved offset between its counter and its own batches,
    rescaled."""
    offset = counter - (was.epoch * was.steps_per_epoch + was.batch)
    scale = now.steps_per_epoch / was.steps_per_epoch if was.steps_per_epoch else 1.0
    return max(0, now.epoch * now.steps_per_epoch + now.batch + round(offset * scale))


def _whole(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} is {value!r}, not a whole number >= {minimum}")
    return value
