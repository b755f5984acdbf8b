"""Worker, run under mpirun -n 2 by tests/distributed: Trainer(..., distributed=True).

argv[1]: a folder every rank can write to. Checks, in order:

1. fit: 2 ranks of batch B train 2 epochs to the weights and the history (the whole job's
   losses and accuracies) of one process of batch 2B; only rank 0 emits events (its
   callbacks write metrics and checkpoints, rank 1's folder stays empty);
2. resume with another number of ranks: rank 0 alone resumes the 2-rank run's epoch-1
   checkpoint in one process of batch 2B and ends where the 2-rank run ended; then both
   ranks resume, distributed, a checkpoint one process of batch 2B wrote after epoch 1;
3. buffers: with batch norm, every rank's history (validation included) is the same, bit
   for bit: rank 0's running statistics are broadcast before evaluation;
4. stop: a callback of rank 0 stops the run at step 3; every rank stops there.
Rank 0 prints "ok NAME" for each.
"""
import os
import shutil
import sys

import numpy as np

import engine
import engine.distributed as dist
from engine import nn, optim
from engine.data import DataLoader
from engine.train import Callback, CSVLogger, ModelCheckpoint, Trainer, load_checkpoint

from ddp_checks import Images, build, same_on_every_rank, state

B, SEED = 4, 6


class Recorder(Callback):
    def __init__(self, stop_at=None):
        self.events, self.stop_at = [], stop_at

    def on_batch_end(self, trainer, event):
        self.events.append(event)
        if trainer.step == self.stop_at:
            trainer.stop()

    def on_epoch_end(self, trainer, event):
        self.events.append(event)


def trainer(kind, comm, batch, callbacks=(), distributed=True, val=False, seed=100):
    engine.manual_seed(seed + (comm.rank if distributed else 0))     # different seeds: rank 0's weights win
    model = build(kind)
    data = Images(64)
    if distributed:
        loader = DataLoader(data, batch_size=batch, sampler=dist.DistributedSampler(data, seed=SEED), seed=SEED)
    else:
        loader = DataLoader(data, batch_size=batch, shuffle=True, seed=SEED)
    val_loader = DataLoader(Images(24), batch_size=8) if val else None
    return Trainer(model, optim.SGD(model.parameters(), lr=0.05, momentum=0.9), nn.CrossEntropyLoss(), loader,
                   val_loader, callbacks=list(callbacks), distributed=distributed)


def close(a, b, what):
    for k in b:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-5, err_msg=f"{what}: {k}")


def history_close(h, ref, what):
    assert len(h) == len(ref), what
    for row, want in zip(h, ref):
        for k in ("train_loss", "train_accuracy", "step"):
            np.testing.assert_allclose(row[k], want[k], rtol=1e-4, err_msg=f"{what}: {k} of epoch {row['epoch']}")


def main(folder):
    engine.set_num_threads(1)
    comm = dist.init_process_group()
    mine = os.path.join(folder, f"rank{comm.rank}")
    # 1. fit
    rec = Recorder()
    files = [CSVLogger(os.path.join(mine, "metrics.csv")), ModelCheckpoint(mine, monitor="train_accuracy")]
    t = trainer("plain", comm, B, [rec, *files])
    done = t.fit(1)
    if comm.rank == 0:
        shutil.copy(os.path.join(mine, "last.npz"), os.path.join(folder, "two.npz"))
    t.fit(2)
    ref = trainer("plain", comm, 2 * B, distributed=False)
    ref.fit(2)
    same_on_every_rank(comm, t.model, "Trainer")
    close(state(t.model), state(ref.model), "2 ranks vs one process of twice the batch")
    history_close(t.history, ref.history, "history")
    if comm.rank == 0:
        assert len(rec.events) == 2 * len(t.train_loader) + 2 and os.path.isfile(f"{mine}/last.npz")
        assert len(open(f"{mine}/metrics.csv").read().splitlines()) == 3
        print("ok fit", flush=True)
    else:
        assert rec.events == [] and not os.path.exists(mine) and done.reason == "completed"
    comm.barrier()
    # 2. resume with another number of ranks
    ckpt = os.path.join(folder, "two.npz")                     # the 2-rank run after epoch 1
    if comm.rank == 0:
        assert load_checkpoint(ckpt).meta["trainer"]["epoch"] == 1
        one = trainer("plain", comm, 2 * B, distributed=False, seed=7)
        one.restore(ckpt)
        one.fit(2)
        close(state(one.model), state(t.model), "a 2-rank checkpoint resumed in one process")
        ref1 = trainer("plain", comm, 2 * B, distributed=False)
        ref1.fit(1)
        ref1.save_checkpoint(os.path.join(folder, "one.npz"))
    comm.barrier()
    two = trainer("plain", comm, B, seed=9)
    two.restore(os.path.join(folder, "one.npz"))
    two.fit(2)
    same_on_every_rank(comm, two.model, "resumed on 2 ranks")
    close(state(two.model), state(ref.model), "a one-process checkpoint resumed on 2 ranks")
    history_close(two.history, ref.history, "resumed history")
    if comm.rank == 0:
        print("ok resume", flush=True)
    # 3. buffers
    bn = trainer("syncbn", comm, B, val=True)      # a plain BatchNorm2d: per-rank batch statistics
    bn.fit(2)
    rows = np.array([[row[k] for k in ("train_loss", "train_accuracy", "val_loss", "val_accuracy")]
                     for row in bn.history])
    root = comm.broadcast_(rows.copy())
    if comm.any(not np.array_equal(rows, root)):
        raise AssertionError("the ranks' histories differ")
    same_on_every_rank(comm, bn.model, "batch norm buffers")
    if comm.rank == 0:
        print("ok buffers", flush=True)
    # 4. stop
    stopper = trainer("plain", comm, B, [Recorder(stop_at=3)])
    done = stopper.fit(2)
    if (stopper.step, done.reason) != (3, "stopped"):
        raise AssertionError(f"rank {comm.rank} stopped at step {stopper.step} ({done.reason}), not at step 3")
    if comm.rank == 0:
        print("ok stop", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
