"""Training: the Trainer (fit/evaluate, pause/resume/stop, snapshots), its events,
callbacks (ModelCheckpoint, EarlyStopping, CSVLogger, JSONLogger, ProgressBar),
metrics, and pickle-free checkpoints (``.npz`` + JSON)."""
from . import metrics, recipe
from .callbacks import (Callback, CSVLogger, EarlyStopping, JSONLogger, LambdaCallback, ModelCheckpoint,
                        ProgressBar)
from .checkpoint import Checkpoint, CheckpointError, load_checkpoint, load_model, save_checkpoint
from .events import BatchEnd, Done, EpochEnd, Error, Snapshot, TrainStart
from .evaluation import evaluate_model, probabilities
from .metrics import Evaluation
from .snapshots import take_snapshot
from .trainer import Trainer

__all__ = ["Trainer", "Callback", "LambdaCallback", "ModelCheckpoint", "EarlyStopping", "CSVLogger", "JSONLogger",
           "ProgressBar", "Checkpoint", "CheckpointError", "load_checkpoint", "load_model", "save_checkpoint",
           "TrainStart", "BatchEnd", "EpochEnd", "Snapshot", "Done", "Error", "Evaluation", "metrics", "evaluate_model",
           "probabilities", "take_snapshot", "recipe"]
