"""One recipe for a training run, used by the command line, the studio and scripts.

    from engine.train.recipe import Settings, build
    run = build(Settings(model="mnist_cnn", dataset="mnist", data_root="../shared/data", epochs=2),
                out="runs/a")                     # data, model, loss, optimizer, schedule, callbacks
    done = run.trainer().fit(run.settings.epochs)

- :mod:`.settings`: :class:`Settings` (the command line's train options by name) and their checks,
- :mod:`.data`: datasets, split, normalisation, augmentation and loaders (:class:`RunData`),
- :mod:`.schedule`: a learning-rate schedule from its text (``"cosine"``, ``"step:5:0.5"``, ...),
- :mod:`.builder`: the model, optimizer and callbacks, and :func:`build` of a whole :class:`Run`.

A setting that cannot make a run raises :class:`RecipeError`, one sentence naming the
setting by its command-line flag (a dataset's own problems: ``datasets.DatasetError``).
"""
from .builder import Run, build, build_model, make_callbacks, make_optimizer, shape_text
from .data import RunData, augmentation, image_shape, normalization, open_data, open_dataset, split_name
from .schedule import SCHEDULES, make_scheduler, parse_schedule
from .settings import (AUGMENTATIONS, DATASET_SHAPES, NORMALIZE, OPTIMIZERS, RecipeError, Settings, dataset_key,
                       flag, is_named)

__all__ = ["Settings", "RecipeError", "Run", "RunData", "build", "build_model", "make_optimizer", "make_callbacks",
           "make_scheduler", "parse_schedule", "open_data", "open_dataset", "image_shape", "normalization",
           "augmentation", "split_name", "dataset_key", "is_named", "flag", "shape_text", "SCHEDULES", "NORMALIZE",
           "DATASET_SHAPES", "OPTIMIZERS", "AUGMENTATIONS"]
