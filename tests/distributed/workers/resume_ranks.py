"""Worker, run under mpirun -n R by tests/distributed/test_resume_ranks.py: a run stopped
in the middle of an epoch and resumed on another number of ranks.

argv: FOLDER NAME MODE [FROM]. MODE "distributed": Trainer(..., distributed=True) over
the job's ranks, each reading its DistributedSampler shard; "plain": one process of a
shuffling DataLoader (no sampler), rank 0 of the job alone. Without FROM the run trains
until batch STOP_BATCH of its second epoch and stops (rank 0 writes FOLDER/NAME/last.npz);
with FROM it restores FOLDER/FROM/last.npz and trains to the end of the second epoch.
Every rank that trains writes FOLDER/NAME/rank{r}.json: per trained batch, its epoch and
the ids of its samples (each image's first pixel is its index); rank 0's also the learning
rate of each batch (only rank 0 emits events).
"""
import json
import os
import sys

import numpy as np

import engine
import engine.distributed as dist
from engine import nn, optim
from engine.data import DataLoader
from engine.train import Callback, ModelCheckpoint, Trainer

N, B, EPOCHS, SEED, LR, STOP_BATCH = 48, 2, 2, 5, 0.05, 5


class Indexed:
    """N uint8 8x8 images whose first pixel is the sample's index (the loader's fast path)."""

    def __init__(self):
        rng = np.random.default_rng(1)
        self.data = rng.integers(0, 256, (N, 8, 8), dtype=np.uint8)
        self.data[:, 0, 0] = np.arange(N)
        self.targets = rng.integers(0, 10, N).astype(np.int64)
        self.transform = None

    def __len__(self):
        return N


class Record(Callback):
    """Keeps each batch's rate; stops at STOP_BATCH of epoch 2 unless resuming."""

    def __init__(self, stop):
        self.stop, self.lrs = stop, []

    def on_batch_end(self, trainer, event):
        self.lrs.append(event.lr)
        if self.stop and trainer.epoch == 1 and trainer.batch_in_epoch == STOP_BATCH:
            trainer.stop()


def main(folder, name, mode, source=None):
    engine.set_num_threads(1)
    comm = dist.init_process_group()
    distributed = mode == "distributed"
    if not distributed and comm.rank != 0:
        return
    out = os.path.join(folder, name)
    engine.manual_seed(11)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    data = Indexed()
    sampler = dist.DistributedSampler(data, seed=SEED) if distributed else None
    loader = DataLoader(data, batch_size=B, sampler=sampler, shuffle=not distributed, seed=SEED)
    opt = optim.SGD(model.parameters(), lr=LR, momentum=0.9)
    schedule = optim.OneCycleLR(opt, max_lr=LR, total_steps=EPOCHS * len(loader))
    batches = []
    model.register_forward_pre_hook(lambda m, inputs: batches.append(
        {"epoch": t.epoch, "ids": np.rint(np.asarray(inputs[0].array)[:, 0, 0, 0] * 255).astype(int).tolist()}))
    record = Record(stop=source is None)
    callbacks = [record] + ([ModelCheckpoint(out, monitor="train_loss")] if comm.rank == 0 else [])
    t = Trainer(model, opt, nn.CrossEntropyLoss(), loader, scheduler=schedule, callbacks=callbacks,
                distributed=distributed)
    if source is not None:
        t.restore(os.path.join(folder, source, "last.npz"))
    t.fit(EPOCHS)
    if source is None and t.batch_in_epoch != STOP_BATCH:
        raise AssertionError(f"rank {comm.rank} stopped at batch {t.batch_in_epoch}, not {STOP_BATCH}")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"rank{comm.rank}.json"), "w") as f:
        json.dump({"batches": batches, "lrs": record.lrs, "steps_per_epoch": len(loader)}, f)
    if distributed:
        comm.barrier()


if __name__ == "__main__":
    main(*sys.argv[1:])
