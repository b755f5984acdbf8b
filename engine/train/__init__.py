"""Training: the Trainer (fit/evaluate, pause/resume/stop, snapshots), its events,
callbacks (ModelCheckpoint, EarlyStopping, CSVLogger, JSONLogger, ProgressBar),
metrics, and pickle-free checkpoints (``.npz`` + JSON)."""
from . import metrics
from .callbacks import (Callback, CSVLogger, EarlyStopping, JSONLogger, LambdaCallback, ModelCheckpoint,
                        ProgressBar)
from .checkpoint import Checkpoint, CheckpointError, load_checkpoint, load_model, save_checkpoint
from .events import BatchEnd, Done, EpochEnd, Error, Snapshot, TrainStart
from .metrics import Evaluation
from .trainer import Trainer, evaluate_model

__all__ = ["Trainer", "Callback", "LambdaCallback", "ModelCheckpoint", "EarlyStopping", "CSVLogger", "JSONLogger",
           "ProgressBar", "Checkpoint", "CheckpointError", "load_checkpoint", "load_model", "save_checkpoint",
           "TrainStart", "BatchEnd", "EpochEnd", "Snapshot", "Done", "Error", "Evaluation", "metrics", "evaluate_model"]
