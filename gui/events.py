"""The studio's own event, beside the trainer's (engine.train.events), in a run's event
stream: plain data that the engine thread hands the GUI thread."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CheckpointSaved:
    """A checkpoint file of the run was written."""

    path: str
