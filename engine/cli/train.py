"""``numbacnn train``: a run built by the recipe (engine.train.recipe) from the options,
trained with a progress bar into a run folder (best.npz, last.npz, metrics.csv,
metrics.jsonl, summary.txt), resumable exactly (resume.py holds the rules)."""
from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import time

from .. import models
from ..distributed import MPIUnavailable, SyncBatchNorm, launch
from ..errors import first_line
from ..train import CheckpointError, ProgressBar, load_checkpoint
from ..train.checkpoint import atomic_write_bytes, remove_temporaries
from ..train.recipe import SCHEDULES, Settings, build, parse_schedule, shape_text, split_name
from ..train.recipe.settings import augment_names
from . import arguments as A
from . import resume as R
from .common import check_device, threads_note, use_threads
from .errors import PROG, UserError


def add_parser(sub) -> None:
    t = sub.add_parser("train", help="train a model on a dataset",
                       description="Train a zoo model (or a JSON model spec) on a dataset, with a progress bar, "
                                   "checkpoints (best.npz, last.npz), metrics.csv, metrics.jsonl and summary.txt.")
    d = argparse.SUPPRESS  # defaults are applied after --resume has had its say
    t.add_argument("--model", default=d, help="zoo model name (see `numbacnn models`) or a model spec .json "
                                              "(default mnist_cnn)")
    t.add_argument("--dataset", default=d, help="mnist, fashion-mnist, cifar10, an image folder / archive path, "
                                                "or a dataset definition .json (the studio's New dataset...; "
                                                "default mnist)")
    t.add_argument("--data-root", default=d, help="where datasets live (default: $NUMBACNN_DATA or ./data)")
    t.add_argument("--download", action="store_true", help="download mnist / fashion-mnist / cifar10 into "
                                                           "--data-root if it is not there")
    t.add_argument("--image-size", type=A.size, default=d, metavar="HxW",
                   help="resize a folder dataset's images to this size (e.g. 64 or 64x48)")
    t.add_argument("--epochs", type=A.positive_int, default=d, help="total epochs of the run (default 5)")
    t.add_argument("--batch-size", type=A.positive_int, default=d, help="default 64")
    t.add_argument("--optimizer", choices=("sgd", "adam", "adamw"), default=d, help="default adam")
    t.add_argument("--lr", type=A.nonneg_float, default=d, help="learning rate (default 0.01 for sgd, 0.001 else)")
    t.add_argument("--momentum", type=A.nonneg_float, default=d, help="SGD momentum (default 0.9)")
    t.add_argument("--nesterov", action="store_true", default=d, help="SGD with Nesterov momentum")
    t.add_argument("--weight-decay", type=A.nonneg_float, default=d, help="default 0 (0.01 for adamw)")
    t.add_argument("--schedule", default=d, help=f"learning-rate schedule: {SCHEDULES} (default none); every "
                                                 "schedule but plateau steps once per batch")
    t.add_argument("--warmup", type=A.nonneg_float, default=d, help="epochs of linear warm-up before the schedule "
                                                                    "(fractions allowed)")
    t.add_argument("--augment", default=d, help="comma list of crop, flip, jitter, lighting (default none)")
    t.add_argument("--label-smoothing", type=A.fraction, default=d)
    t.add_argument("--val-split", type=A.fraction, default=d,
                   help="hold out this fraction of the training images for validation; with 0 (the default) "
                        "each epoch is validated on the dataset's test (or held-out) split")
    t.add_argument("--train-size", type=A.positive_int, default=d, help="train on the first N training images only")
    t.add_argument("--val-size", type=A.positive_int, default=d, help="validate on the first N validation images only")
    t.add_argument("--subset-seed", type=A.nonneg_int, default=d,
                   help="with --train-size / --val-size: take N images drawn by this seed (kept in order) "
                        "instead of the first N")
    t.add_argument("--patience", type=A.positive_int, default=d, help="early stopping after N epochs without "
                                                                      "validation-loss improvement")
    t.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    t.add_argument("--threads", type=A.positive_int, default=None, help="CPU threads for kernels and BLAS")
    t.add_argument("--workers", type=A.nonneg_int, default=d, help="data loader threads (default 1)")
    t.add_argument("--seed", type=A.nonneg_int, default=d, help="seed for weights, shuffling and augmentation "
                                                                "(default 0)")
    t.add_argument("--log-every", type=A.nonneg_int, default=d, help="a batch record (loss, accuracy, lr) in "
                                                                     "metrics.jsonl every N steps (default 0: none)")
    t.add_argument("--out", default=None, help="run folder (default runs/MODEL-DATASET-TIME)")
    t.add_argument("--resume", default=None, metavar="CKPT",
                   help="continue the run in this checkpoint; unspecified options come from it")
    t.add_argument("--snapshot-every", type=A.nonneg_int, default=0, help=argparse.SUPPRESS)
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--distributed", action="store_true", help="data-parallel over the ranks of an MPI job: "
                   "mpirun -n N numbacnn train ... --distributed (--batch-size is per rank)")
    t.add_argument("--sync-bn", action="store_true", help="with --distributed: batch norm with the statistics "
                   "of the whole job's batch (SyncBatchNorm) instead of each rank's own")
    t.set_defaults(run=run)


def _parse_train(argv):
    """The train options of ``argv`` (["train", ...]) as the command line reads them."""
    p = A.Parser(prog=PROG)
    add_parser(p.add_subparsers(dest="command", parser_class=A.Parser))
    return p.parse_args(argv)


def _settings(a, extra: dict, args) -> Settings:
    """The recipe settings of the train options ``a`` (and recorded-only ``extra``)."""
    s = Settings(**{k: getattr(a, k) for k in R.TRAIN_DEFAULTS}, **extra, device=args.device,
                 download=args.download)
    s.nesterov = bool(s.nesterov)
    s.warmup = float(s.warmup)
    if s.image_size is not None:
        s.image_size = tuple(s.image_size)
    return s.checked()


def _default_out(s: Settings) -> str:
    model = os.path.basename(str(s.model)).replace(".json", "")
    data = os.path.basename(os.path.normpath(str(s.dataset))).split(".")[0]
    return os.path.join("runs", f"{model}-{data}-{time.strftime('%Y%m%d-%H%M%S')}")


def run(args) -> int:
    comm = None
    if args.distributed:          # first: a CUDA rank takes its own GPU before any CUDA work
        try:
            comm = launch.start(args.device)
        except MPIUnavailable as e:
            raise UserError(str(e)) from None
    given = dict(vars(args))
    ckpt, changes, saved, extra = None, [], {}, {}
    if args.resume and os.path.isfile(os.path.join(args.resume, "last.npz")):
        args.resume = os.path.join(args.resume, "last.npz")          # a run folder: continue its latest state
    if args.resume:
        try:
            ckpt = load_checkpoint(args.resume)
            saved, extra = R.saved_args(ckpt, _parse_train)
        except CheckpointError as e:
            raise UserError(f"--resume: {e}") from None
        changes = R.resume_changes(given, saved, args.resume)
        for k, v in saved.items():
            if v is not None:
                given.setdefault(k, v)
    for k, v in R.TRAIN_DEFAULTS.items():
        given.setdefault(k, v)
    a = argparse.Namespace(**given)
    if ckpt is not None:
        R.planned_epochs_check(args.resume, saved, a)
    elif not str(a.model).endswith(".json") and a.model not in models.names():
        raise UserError(f"unknown model {a.model!r}; the zoo has: {', '.join(models.names())}")
    s = _settings(a, extra, args)              # every setting checked before any data is read
    parse_schedule(s.schedule)
    out = args.out
    if out is None and not args.resume:
        out = _default_out(s)
    if comm is not None and out is not None:
        out = comm.broadcast_text(out)             # rank 0's clock names the folder
    copies = []
    if args.resume:
        out, copies = R.resume_folder(ckpt, out)
    elif R.run_files(out):
        files = R.run_files(out)
        hint = f"continue it with --resume {os.path.join(out, 'last.npz')} or " if "last.npz" in files else ""
        raise UserError(f"{out} already holds a run ({', '.join(files)}); {hint}choose another --out")
    check_device(args.device)
    use_threads(args.threads)

    if ckpt is None:
        r = build(s, out, comm=comm)
    else:           # the run's own spec, whatever its --model names now
        try:
            r = build(s, out, model=ckpt.build_model(), comm=comm)
        except CheckpointError as e:
            raise UserError(f"--resume: {e}") from None
    if args.sync_bn:
        if comm is None:
            raise UserError("--sync-bn synchronises batch norm across the ranks of a --distributed run; add "
                            "--distributed (under mpirun) or leave it out")
        SyncBatchNorm.convert_sync_batchnorm(r.model)       # shares the parameters the optimizer holds

    # run folder (temporaries of writes a killed run left are removed; the callbacks remove theirs)
    if comm is not None:
        comm.barrier()                             # every rank has checked the folder before rank 0 writes
    writes = comm is None or comm.is_root
    if writes:
        try:
            os.makedirs(out, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot create the run folder {out!r}: {e.strerror}") from None
        remove_temporaries(os.path.join(out, "summary.txt"))
    r.metadata["command"] = " ".join([PROG] + [shlex.quote(x) for x in sys.argv[1:]])
    r.metadata["ranks"] = comm.size if comm is not None else 1
    try:
        trainer = r.trainer(callbacks=[] if args.quiet else [ProgressBar(sys.stdout)],
                            snapshot_every=args.snapshot_every, distributed=comm is not None)
    except RuntimeError as e:
        raise UserError(first_line(e)) from None
    if ckpt is not None:
        try:
            trainer.restore(ckpt)
        except CheckpointError as e:
            raise UserError(f"--resume: {e}") from None
        if trainer.epoch >= s.epochs and trainer.batch_in_epoch == 0:
            raise UserError(f"{args.resume} already holds {trainer.epoch} trained epochs; pass --epochs N with N "
                            f"> {trainer.epoch} to train more")
        R.apply_changes(r.optimizer, changes, s)
        note = R.layout_note(ckpt, trainer)
        if note:
            print(note)
        if copies and writes:
            R.copy_run(copies, out)

    header = _header(s, r)
    print(str(r.summary))
    print("\n".join(header), flush=True)
    if comm is not None:
        print(f"distributed: {comm.size} ranks of batch {s.batch_size} (global batch {comm.size * s.batch_size})",
              flush=True)
    t0 = time.time()
    done, interrupted = _fit(trainer, s.epochs)
    wall = time.time() - t0

    # final result: the test split if there is one, else the validation set
    final, final_name = None, ""
    if done.reason != "nan":
        if r.data.test_loader is not None:
            final, final_name = trainer.evaluate(r.data.test_loader), split_name(r.data.test)
        elif r.data.val_loader is not None:
            final, final_name = trainer.evaluate(r.data.val_loader), "validation"
    if writes:
        if final is not None:
            r.jsonl().log({"event": "final", "split": final_name, "loss": final.loss, "accuracy": final.accuracy,
                           "top5": final.top5, "num_samples": final.num_samples})
        _write_summary(out, r.summary, header, trainer, done, final, final_name, wall, r.metadata)
    print()
    if final is not None:
        print(f"{final_name} accuracy: {100 * final.accuracy:.2f}% ({final.num_samples:,} images, "
              f"loss {final.loss:.4f}, top-5 {100 * final.top5:.2f}%)")
    print(f"{done.reason}: {done.message}; {wall:.0f} s")
    print(f"saved to {out}: {', '.join(R.run_files(out))}")
    if done.reason == "nan":
        print(f"{PROG}: error: {done.message}", file=sys.stderr)
        return 1
    return 130 if interrupted else 0


def _fit(trainer, epochs):
    """(Done, whether Ctrl-C stopped it): the first Ctrl-C stops after the current batch
    (saving last.npz), a second aborts."""
    hits = []

    def on_sigint(signum, frame):
        hits.append(1)
        if len(hits) > 1:
            raise KeyboardInterrupt
        print("\nstopping after this batch (Ctrl-C again to abort) ...", file=sys.stderr, flush=True)
        trainer.stop()
    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:      # not the main thread
        previous = None
    try:
        return trainer.fit(epochs), bool(hits)
    except MemoryError:
        raise UserError("out of memory: try a smaller --batch-size") from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _header(s: Settings, r) -> list:
    d = r.data
    augment = ",".join(augment_names(s.augment)) or "none"
    return [f"model {s.model} on {s.dataset}: {len(d.train):,} training images of {shape_text(d.shape)}, "
            f"{len(d.classes)} classes", d.val_note or "no validation set",
            f"optimizer {s.optimizer} lr {s.lr:g}" + (f" momentum {s.momentum:g}" if s.optimizer == "sgd" else "")
            + (f" weight decay {s.weight_decay:g}" if s.weight_decay else "")
            + f", schedule {s.schedule}" + (f" after {s.warmup:g} warm-up epochs" if s.warmup else "")
            + f", batch {s.batch_size}, {s.epochs} epochs, augment {augment}, seed {s.seed}, "
            f"device {s.device}, {threads_note()}"]


def _write_summary(out, summ, header, trainer, done, final, final_name, wall, metadata):
    lines = [f"command: {metadata['command']}", f"finished: {time.strftime('%Y-%m-%d %H:%M:%S')}",
             f"wall time: {wall:.1f} s", "", *header, "", str(summ), "", "epochs:"]
    for h in trainer.history:
        row = (f"  {h['epoch'] + 1:3d}  step {h['step']:7d}  train loss {h['train_loss']:.4f} acc "
               f"{100 * h['train_accuracy']:6.2f}%")
        if h.get("val_loss") is not None:
            row += f"  val loss {h['val_loss']:.4f} acc {100 * h['val_accuracy']:6.2f}%"
        row += f"  lr {h['lr']:.3g}  {h['seconds']:.1f} s"
        lines.append(row)
    lines += ["", f"result: {done.reason}: {done.message}"]
    if final is not None:
        lines += ["", f"{final_name} set:", final.report()]
    atomic_write_bytes(os.path.join(out, "summary.txt"), ("\n".join(lines) + "\n").encode())
