"""Training: the Trainer (fit, pause/resume/stop; trainer.py; a stop ends a step in
progress and undoes it: interrupt.py) and its events (events.py),
callbacks (ModelCheckpoint, EarlyStopping, CSVLogger, JSONLogger, ProgressBar;
callbacks.py), evaluation (evaluation.py, metrics.py), feature-map snapshots
(snapshots.py), pickle-free checkpoints (``.npz`` + JSON; checkpoint.py) and what a
run's state holds in them (run_state.py), and the recipe that builds a whole run from
its settings (recipe/)."""
from . import metrics, recipe
from .callbacks import (Callback, CSVLogger, EarlyStopping, JSONLogger, LambdaCallback, ModelCheckpoint,
                        ProgressBar)
from .checkpoint import Checkpoint, CheckpointError, load_checkpoint, load_model, save_checkpoint
from .events import METRICS, BatchEnd, Done, EpochEnd, Error, Paused, Snapshot, TrainStart
from .evaluation import evaluate_model, probabilities
from .metrics import Evaluation
from .snapshots import take_snapshot
from .trainer import Trainer

__all__ = ["Trainer", "Callback", "LambdaCallback", "ModelCheckpoint", "EarlyStopping", "CSVLogger", "JSONLogger",
           "ProgressBar", "Checkpoint", "CheckpointError", "load_checkpoint", "load_model", "save_checkpoint",
           "TrainStart", "BatchEnd", "EpochEnd", "Snapshot", "Paused", "Done", "Error", "METRICS", "Evaluation",
           "metrics", "evaluate_model", "probabilities", "take_snapshot", "recipe"]
