"""What a running Trainer tells its listeners (the CLI's progress bar, loggers, the GUI).

Every event is a plain dataclass of Python numbers, strings and numpy arrays (never a
device array, never a Qt object), so a listener on another thread can keep it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_top5", "lr")
"""What each epoch's history row holds, by name: what callbacks may monitor."""


@dataclass
class TrainStart:
    epochs: int                 # epochs this fit() will run (up to)
    start_epoch: int            # 0, or the epoch a resumed run continues from
    steps_per_epoch: int
    batch_size: int
    model_summary: str          # str(engine.summary(model, input_shape))


@dataclass
class BatchEnd:
    epoch: int                  # 0-based
    step: int                   # global optimizer step, 1-based
    loss: float
    accuracy: float             # top-1 accuracy on this batch, in [0, 1]
    lr: float
    images_per_sec: float       # moving rate over the last batches
    progress: float             # fraction of the whole run done, in [0, 1]
    eta_seconds: float
    batch: int = 0              # batches of this epoch done, 1-based (added; default for old producers)
    steps_per_epoch: int = 0    # batches per epoch (added)


@dataclass
class EpochEnd:
    epoch: int
    step: int
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    lr: float
    seconds: float
    metrics: dict = field(default_factory=dict)   # anything else (e.g. val top-5)


@dataclass
class Snapshot:
    step: int
    probe: np.ndarray                    # the probe image, (C, H, W) float32
    feature_maps: dict                   # layer name -> (C, H, W) float32 activations
    filters: np.ndarray | None           # first conv's weight, (O, C, kh, kw)
    stats: dict                          # layer name -> {"mean", "std", "min", "max", "zero_fraction"}


@dataclass
class Paused:
    step: int                   # optimizer steps taken
    paused: bool                # True: the run is paused from here; False: it goes on


@dataclass
class Done:
    reason: str                 # "completed", "stopped", "early_stopping", "nan"
    step: int
    epoch: int
    message: str = ""
    history: list = field(default_factory=list)   # one dict per finished epoch


@dataclass
class Error:
    message: str                # one sentence for the user
    exception: BaseException | None = None
