"""A run from its settings: the model, loss, optimizer, schedule and callbacks over the
run's data, and the Trainer that fits them."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

from ... import models, nn, optim
from ...autograd.random import manual_seed
from ...errors import ShapeError, first_line
from ...nn import summary
from ..callbacks import CSVLogger, EarlyStopping, JSONLogger, ModelCheckpoint
from ..trainer import Trainer
from .data import RunData, open_data
from .schedule import make_scheduler
from .settings import RecipeError, Settings

SAVED_ELSEWHERE = ("spec",)      # settings a checkpoint keeps outside metadata.args (the spec is its model)


def shape_text(shape) -> str:
    """(3, 32, 32) -> "3x32x32"."""
    return "x".join(str(int(s)) for s in shape)


def model_name(s: Settings) -> str:
    """How messages name the model of ``s``."""
    return "the model spec" if s.spec is not None else repr(s.model)


def build_model(s: Settings, shape, num_classes: int):
    """The model of settings ``s`` (its spec, a spec .json file, or a zoo name) for
    ``shape`` (C, H, W) images of ``num_classes`` classes; RecipeError if it cannot be built."""
    if s.spec is not None:
        return _from_spec(s.spec, "the model spec")
    if s.model.endswith(".json"):
        try:
            with open(s.model) as f:
                spec = json.load(f)
        except OSError as e:
            raise RecipeError(f"cannot read model spec {s.model!r}: {e.strerror}") from None
        except json.JSONDecodeError as e:
            raise RecipeError(f"model spec {s.model!r} is not valid JSON: {e}") from None
        return _from_spec(spec, f"model spec {s.model!r}")
    if s.model not in models.names():
        raise RecipeError(f"unknown model {s.model!r}; the zoo has: {', '.join(models.names())}")
    try:
        return models.get(s.model, in_channels=shape[0], num_classes=num_classes, input_size=tuple(shape[1:]))
    except (ValueError, TypeError) as e:
        raise RecipeError(f"model {s.model!r} cannot be built for {shape_text(shape)} inputs: "
                          f"{first_line(e)}") from None


def _from_spec(spec, what):
    try:
        return nn.from_spec(spec)
    except ValueError as e:
        raise RecipeError(f"{what}: {first_line(e)}") from None


def make_optimizer(s: Settings, params):
    """The optimizer of checked settings ``s`` over ``params`` (Nesterov only with momentum)."""
    params = list(params)
    if s.optimizer == "sgd":
        return optim.SGD(params, lr=s.lr, momentum=s.momentum, nesterov=s.nesterov and s.momentum > 0,
                         weight_decay=s.weight_decay)
    if s.optimizer == "adam":
        return optim.Adam(params, lr=s.lr, weight_decay=s.weight_decay)
    return optim.AdamW(params, lr=s.lr, weight_decay=s.weight_decay)


def make_callbacks(s: Settings, out, validated: bool) -> list:
    """The run folder's callbacks: best.npz and last.npz (best by validation accuracy, or
    training accuracy without validation), metrics.csv, metrics.jsonl, and early
    stopping on the validation (else training) loss when ``s.patience`` is set."""
    out = os.fspath(out)
    callbacks = [CSVLogger(os.path.join(out, "metrics.csv")),
                 JSONLogger(os.path.join(out, "metrics.jsonl"), batch_every=s.log_every),
                 ModelCheckpoint(out, monitor="val_accuracy" if validated else "train_accuracy")]
    if s.patience:
        callbacks.insert(0, EarlyStopping(monitor="val_loss" if validated else "train_loss", patience=s.patience))
    return callbacks


@dataclass
class Run:
    """Everything :func:`build` made. settings: the checked settings; summary: the
    model's layer table for the data's images; metadata: what its checkpoints record
    (dataset, data_root, class_names, input_shape, normalize, args: the settings)."""

    settings: Settings
    data: RunData
    model: nn.Module
    summary: object
    loss: nn.Module
    optimizer: object
    scheduler: object
    callbacks: list
    metadata: dict

    def jsonl(self) -> JSONLogger | None:
        """The callback that writes metrics.jsonl (None without a run folder)."""
        return next((cb for cb in self.callbacks if isinstance(cb, JSONLogger)), None)

    def trainer(self, callbacks=(), **options) -> Trainer:
        """A Trainer over this run (``callbacks`` before the run folder's); ``options`` go
        to Trainer (snapshot_every, probe, distributed, ...)."""
        return Trainer(self.model, self.optimizer, self.loss, self.data.train_loader, self.data.val_loader,
                       scheduler=self.scheduler, callbacks=[*callbacks, *self.callbacks], device=self.settings.device,
                       input_shape=self.data.shape, metadata=self.metadata, class_names=self.data.classes, **options)


def build(settings: Settings, out=None, *, model=None, comm=None, data: RunData | None = None) -> Run:
    """The run ``settings`` describe: data (:func:`open_data`; ``data`` instead, opened
    for these settings, e.g. an experiment arm's :meth:`RunData.for_arm`), then, seeded by
    ``settings.seed``, the model (``model`` instead, e.g. a checkpoint's), the loss, the
    optimizer and the schedule, and the callbacks that write the run folder ``out``
    (none without one). ``comm``: an MPI communicator whose ranks each train a shard.
    RecipeError (or datasets.DatasetError) for settings that cannot make a run."""
    s = settings.checked()
    if data is None:
        data = open_data(s, comm)
    manual_seed(s.seed)
    if model is None:
        model = build_model(s, data.shape, len(data.classes))
    try:
        table = summary(model, data.shape)
    except ShapeError as e:
        raise RecipeError(f"model {model_name(s)} does not fit {shape_text(data.shape)} images: {e}") from None
    optimizer = make_optimizer(s, model.parameters())
    scheduler = make_scheduler(s.schedule, optimizer, s.epochs, len(data.train_loader), s.warmup, s.lr)
    args = {k: v for k, v in s.to_dict().items() if k not in SAVED_ELSEWHERE}
    metadata = {"dataset": data.key, "data_root": s.data_root, "class_names": list(data.classes),
                "input_shape": list(data.shape), "normalize": {"mean": list(data.mean), "std": list(data.std)},
                "args": args}
    callbacks = [] if out is None else make_callbacks(s, out, data.val_loader is not None)
    return Run(settings=s, data=data, model=model, summary=table, loss=nn.CrossEntropyLoss(
        label_smoothing=s.label_smoothing), optimizer=optimizer, scheduler=scheduler, callbacks=callbacks,
        metadata=metadata)
