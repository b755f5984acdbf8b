"""The rules of ``numbacnn train --resume``: which options a run records and how each
may change when it continues, and which folder a resumed run writes (never over another
run, never over a later state of its own)."""
from __future__ import annotations

import argparse
import os

from ..distributed.epoch_position import epoch_positions
from ..errors import first_line
from ..train.checkpoint import CheckpointError, atomic_copy, damaged, load_checkpoint, read_progress
from ..train.recipe import RecipeError, Settings, dataset_key, is_named, parse_schedule
from ..train.run_state import continuation
from .errors import UserError

# the train options a run records (its checkpoints' metadata.args), with their defaults
TRAIN_DEFAULTS = dict(model="mnist_cnn", dataset="mnist", epochs=5, batch_size=64, optimizer="adam", lr=None,
                      momentum=0.9, weight_decay=None, schedule="none", warmup=0, augment="", val_split=0.0,
                      seed=0, workers=1, label_smoothing=0.0, train_size=None, val_size=None, subset_seed=None,
                      patience=None, nesterov=False, data_root=None, image_size=None, log_every=0)
# settings of the recipe a run records that the command line has no option for (a studio
# run's): they come from the checkpoint, as they were
RECORDED_ONLY = ("shuffle", "normalize", "crop_padding")

RUN_FILES = ("best.npz", "last.npz", "metrics.csv", "metrics.jsonl", "summary.txt")

# How each train option may change on --resume (the rest come from the checkpoint):
# refused: they change the images a run trains and validates on
SPLIT_OPTIONS = ("dataset", "val_split", "train_size", "val_size", "subset_seed", "seed", "image_size")
STATE_OPTIONS = ("model", "optimizer", "schedule", "warmup", "batch_size")     # refused: the saved optimizer,
#                                                     schedule and data-order state cannot follow them
RECIPE_OPTIONS = ("lr", "momentum", "weight_decay", "nesterov", "label_smoothing", "augment", "patience")
#                 honoured from the resumed step on, with a printed line; epochs, data_root, workers,
#                 log_every: honoured


def saved_args(ckpt, parse) -> tuple[dict, dict]:
    """(options, recorded-only settings) a checkpoint records in metadata.args: the
    options read back through the train command's own parser ``parse(argv)``, so each has
    the type and range a command line gives it; the others as the recipe checks them."""
    recorded = ckpt.metadata.get("args") or {}
    saved = {k: v for k, v in recorded.items() if k in TRAIN_DEFAULTS}
    argv = ["train"]
    for k, v in saved.items():
        flag = "--" + k.replace("_", "-")
        if v is None and TRAIN_DEFAULTS[k] is None:
            continue
        if k == "nesterov" and isinstance(v, bool):
            argv += [flag] if v else []
        elif k == "image_size" and isinstance(v, list):
            argv.append(f"{flag}={'x'.join(map(str, v))}")
        elif isinstance(v, (str, int, float)) and not isinstance(v, bool):
            argv.append(f"{flag}={v}")
        else:
            raise damaged(ckpt.path, f"metadata.args.{k} is {v!r}, not an option value")
    extra = {k: recorded[k] for k in RECORDED_ONLY if k in recorded}
    try:
        parsed = vars(parse(argv))
        parse_schedule(parsed.get("schedule", "none"))
        Settings(augment=parsed.get("augment", ""), **extra).checked()
    except (UserError, RecipeError) as e:
        raise damaged(ckpt.path, f"metadata.args: {first_line(e)}") from None
    return {k: parsed.get(k, v) for k, v in saved.items()}, extra


def _same(key, a, b) -> bool:
    if key == "dataset":
        def norm(v):
            return os.path.abspath(v) if not is_named(v) and os.path.exists(v) else dataset_key(v)
        return norm(str(a)) == norm(str(b))
    return a == b


def resume_changes(given: dict, saved: dict, path) -> list:
    """[(option, run's value, new value)] of the options given with --resume that differ
    from the run's and may (RECIPE_OPTIONS and the freely changing ones); one UserError
    for any that may not."""
    changes = []
    for k in TRAIN_DEFAULTS:
        if k not in given or k not in saved or _same(k, given[k], saved[k]):
            continue
        flag, old, new = "--" + k.replace("_", "-"), "none" if saved[k] is None else saved[k], given[k]
        if k in SPLIT_OPTIONS:
            raise UserError(f"{flag} {new} differs from the run's {old}: it changes the images the run trains and "
                            f"validates on (validation images could leak into training); resume {path} without "
                            f"{flag}, or start a new run")
        if k == "model":
            raise UserError(f"--model {new} is a different architecture than the run's {old}; resume {path} without "
                            "--model, or start a new run")
        if k in STATE_OPTIONS:
            raise UserError(f"{flag} {new} differs from the run's {old}: the saved optimizer, schedule and data order "
                            f"cannot follow it; resume {path} without {flag}, or start a new run")
        scheduled = saved.get("schedule", "none") != "none" or saved.get("warmup", 0)
        if k == "lr" and scheduled:
            raise UserError(f"--lr cannot change when resuming a run with --schedule {saved.get('schedule')}"
                            f"{' and --warmup' if saved.get('warmup') else ''}: its rates were planned from the run's "
                            f"lr {old}; resume {path} without --lr, or start a new run")
        if k == "momentum" and str(saved.get("schedule", "")).startswith("onecycle"):
            raise UserError(f"--momentum cannot change when resuming a run with --schedule onecycle, which cycles the "
                            f"momentum itself; resume {path} without --momentum")
        changes.append((k, old, new))
    return changes


def apply_changes(opt, changes, s: Settings) -> None:
    """Sets the optimizer settings of ``changes`` (after the restore loaded the run's) to
    those of the checked settings ``s`` and prints one line per change."""
    for k, old, new in changes:
        for g in opt.param_groups:
            if k == "lr":
                g["lr"] = s.lr
            elif k == "weight_decay":
                g["weight_decay"] = s.weight_decay
            elif k in ("momentum", "nesterov") and "momentum" in g:
                g["momentum"], g["nesterov"] = s.momentum, s.nesterov and s.momentum > 0
        print(f"resuming with --{k.replace('_', '-')} {new} (the run had {old})")


def run_files(folder) -> list:
    """The files of a run folder that are there."""
    return [f for f in RUN_FILES if os.path.exists(os.path.join(folder, f))]


def resume_folder(ckpt, out) -> tuple:
    """(folder, files to copy there) for a resumed run: the checkpoint's own folder, unless
    ``out`` names another, which must hold no run; then the run's checkpoints are to be
    copied there (:func:`copy_run`; the original folder is not touched). Refuses to resume,
    in place, beside a last.npz that a run would overwrite: a later state of this run (its
    metrics too), or another run (its history is not the start of this checkpoint's)."""
    src = os.path.dirname(os.path.abspath(ckpt.path))
    epoch, step = ckpt.progress
    here = out is None or os.path.realpath(out) == os.path.realpath(src)
    last = os.path.join(src, "last.npz")
    if here:
        if os.path.isfile(last) and os.path.realpath(last) != os.path.realpath(ckpt.path):
            elsewhere = f"pass --out NEW_FOLDER to branch from {os.path.basename(ckpt.path)}"
            try:
                beside = load_checkpoint(last)
            except CheckpointError as e:
                raise UserError(f"{first_line(e)}; resuming {ckpt.path} here would overwrite it: "
                                f"{elsewhere}") from None
            if beside.progress[1] > step:
                raise UserError(f"{ckpt.path} is at epoch {epoch} (step {step}) but {last} goes on to epoch "
                                f"{beside.progress[0]} (step {beside.progress[1]}); resuming here would overwrite it "
                                f"and its metrics: resume from {last}, or {elsewhere}")
            if beside.history != ckpt.history[:len(beside.history)]:
                raise UserError(f"{last} beside {ckpt.path} is another run's; resuming here would overwrite it: "
                                f"{elsewhere}")
        return src, []
    if os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f"--out {out} is a file, not a folder")
    if run_files(out):
        raise UserError(f"--out {out} already holds a run ({', '.join(run_files(out))}); give an empty or new "
                        f"folder, or leave out --out to continue in {src}")
    copies = [ckpt.path]
    best = os.path.join(src, "best.npz")
    if os.path.realpath(ckpt.path) == os.path.realpath(last) and os.path.isfile(best):
        try:
            if read_progress(best)[1] <= step:
                copies.append(best)
        except CheckpointError:
            pass                                   # a damaged best.npz stays behind
    return out, copies


def copy_run(copies, out) -> None:
    """Copies a resumed run's checkpoints into its new folder (each atomically)."""
    try:
        for f in copies:
            atomic_copy(f, os.path.join(out, os.path.basename(f)))
    except OSError as e:
        raise UserError(f"cannot copy the run into --out {out}: {e.strerror or e}") from None
    print(f"continuing {copies[0]} in {out} (copied {', '.join(os.path.basename(f) for f in copies)}; "
          f"{os.path.dirname(os.path.abspath(copies[0]))} is left as it is)")


def planned_epochs_check(ckpt_path, saved: dict, a: argparse.Namespace) -> None:
    """A cosine or one-cycle schedule was planned over the run's epochs: --epochs may not change."""
    planned = saved.get("epochs")
    kind = str(a.schedule).split(":")[0].lower()
    if planned and a.epochs != planned and kind in ("onecycle", "cosine"):
        raise UserError(f"--schedule {kind} of {ckpt_path} was planned for {planned} epochs; resume with "
                        f"--epochs {planned}, or start a new run to train longer")


def layout_note(ckpt, trainer) -> str | None:
    """The line that says how a run restored from ``ckpt`` into ``trainer`` continues on
    another number of ranks (or batches an epoch): where its epoch resumes and the step
    its per-step schedule continues at; None when the layout is the run's."""
    was, now, counter = continuation(trainer, ckpt)
    if was is None or (was.ranks, was.steps_per_epoch) == (now.ranks, now.steps_per_epoch):
        return None
    ranks = f"a run of {was.ranks} rank{'s' if was.ranks != 1 else ''} on {now.ranks}"
    if 0 < was.batch < was.steps_per_epoch:
        where = (f"epoch {was.epoch + 1} continues after {was.samples} of its "
                 f"{epoch_positions(trainer.train_loader)} samples (batch {now.batch} of {now.steps_per_epoch}; "
                 f"the run was at batch {was.batch} of {was.steps_per_epoch})")
    else:
        where = f"{was.steps_per_epoch} batches an epoch become {now.steps_per_epoch}"
    if counter is not None:
        saved = ckpt.meta["scheduler"]["state"].get("last_epoch", 0)
        where += (f"; the per-step learning-rate schedule continues at step {counter}, the same fraction of its "
                  f"epochs as the run's step {saved}")
    return f"resuming {ranks}: {where}"
