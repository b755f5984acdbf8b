"""Resuming on another number of ranks, in one process (no MPI): the per-step schedules the
command line builds compare equal once rescaled to another number of steps per epoch and
continue at the same epoch fraction; a run whose ranks are simulated by Trainers over
DistributedSampler shards (rank r of R given explicitly), stopped in the middle of an
epoch, continues on another number of them reading every remaining sample once, also from
a checkpoint that records only its batch and metadata.ranks (written before positions were
recorded in samples); what cannot continue is refused in one sentence; the recipe's ranks
read its one-process order, shuffled or not."""
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

import engine
from engine import nn, optim
from engine.data import DataLoader
from engine.distributed import DistributedSampler
from engine.distributed.epoch_position import Position, schedule_step
from engine.train import CheckpointError, Trainer, load_checkpoint
from engine.train.recipe import Settings
from engine.train.recipe.data import open_data
from engine.train.recipe.schedule import make_scheduler

from helpers.checkpoint_corruptions import read_parts, write_parts
from workers.resume_ranks import B, N, SEED, STOP_BATCH, Indexed, Record


def _optimizer(lr=0.1):
    return optim.SGD([nn.Parameter(np.zeros(3, np.float32))], lr=lr, momentum=0.9)


# (schedule, warm-up epochs), and another plan of the same kind: (schedule, epochs, warm-up)
PLANS = [(("cosine", 0), ("cosine", 4, 0)), (("cosine:0.001", 0.5), ("cosine:0.001", 3, 1)),
         (("step:1:0.5", 0), ("step:2:0.5", 3, 0)), (("multistep:1,2", 0.3), ("multistep:1,3", 3, 0.3)),
         (("exp:0.5", 0), ("exp:0.25", 3, 0)), (("onecycle", 0), ("onecycle", 4, 0)), (("none", 1.5), ("none", 3, 2))]


@pytest.mark.parametrize("plan,other", PLANS, ids=[p[0][0] for p in PLANS])
def test_a_recipe_schedule_rescaled_to_other_steps_per_epoch_is_the_same_schedule(plan, other):
    text, warmup = plan
    for old, new in ((13, 7), (12, 25), (7, 7), (5, 11)):
        saved = make_scheduler(text, _optimizer(), 3, old, warmup, 0.1)
        for _ in range(old + 3):
            saved.step()
        here = make_scheduler(text, _optimizer(), 3, new, warmup, 0.1)
        assert here.mismatch(saved.state_dict(), new / old) is None, (old, new)
        different = make_scheduler(other[0], _optimizer(), other[1], old, other[2], 0.1)
        assert here.mismatch(different.state_dict(), new / old) is not None, (old, new)


def test_a_rescaled_step_count_names_the_setting():
    saved = optim.StepLR(_optimizer(), step_size=26).state_dict()              # 2 epochs of 13 steps
    assert optim.StepLR(_optimizer(), step_size=14).mismatch(saved, 7 / 13) is None      # 2 epochs of 7
    assert optim.StepLR(_optimizer(), step_size=7).mismatch(saved, 7 / 13) == \
        "step_size 26 (this run's planned for 0.5385 times as many steps per epoch: 7)"
    assert optim.StepLR(_optimizer(), step_size=14).mismatch(saved) == "step_size 26 (this run's: 14)"


def test_seek_moves_a_one_cycle_schedule_and_its_momentum():
    opt, ref = _optimizer(), _optimizer()
    a, b = optim.OneCycleLR(opt, 0.1, total_steps=20), optim.OneCycleLR(ref, 0.1, total_steps=20)
    for _ in range(9):
        b.step()
    a.seek(9)
    assert a.last_epoch == 9 and a.get_last_lr() == b.get_last_lr()
    assert opt.param_groups[0]["momentum"] == ref.param_groups[0]["momentum"] != 0.95


def test_schedule_step_keeps_the_epoch_fraction_and_the_saved_offset():
    was = Position(epoch=1, batch=5, samples=20, ranks=2, steps_per_epoch=12)
    now = Position(epoch=1, batch=2, samples=20, ranks=4, steps_per_epoch=6)
    assert schedule_step(17, was, now) == 8                 # 1 epoch of 6, then 2 batches
    assert schedule_step(17 + 4, was, now) == 8 + 2         # a schedule 4 old steps ahead: 2 new ones
    assert schedule_step(17, was, was) == 17


def _rank(ranks, rank, stop=False, batch=B):
    """A trainer of rank ``rank`` of ``ranks`` (its shard; no MPI: weights are not averaged)
    with a OneCycle schedule over 2 epochs; records the ids it trains, by epoch."""
    engine.manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    data = Indexed()
    sampler = DistributedSampler(data, ranks, rank, seed=SEED) if ranks else None
    loader = DataLoader(data, batch_size=batch, sampler=sampler, shuffle=sampler is None, seed=SEED)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    t = Trainer(model, opt, nn.CrossEntropyLoss(), loader, callbacks=[Record(stop)],
                scheduler=optim.OneCycleLR(opt, max_lr=0.05, total_steps=2 * len(loader)))
    t.seen = Counter()
    model.register_forward_pre_hook(lambda m, inputs: t.seen.update(
        (t.epoch, int(i)) for i in np.rint(np.asarray(inputs[0].array)[:, 0, 0, 0] * 255)))
    return t


def _stopped(tmp_path, ranks):
    """A run of ``ranks`` simulated ranks stopped at STOP_BATCH of epoch 2; rank 0's checkpoint."""
    trainers = [_rank(ranks, r, stop=True) for r in range(max(ranks, 1))]
    for t in trainers:
        t.fit(2)
        assert (t.epoch, t.batch_in_epoch) == (1, STOP_BATCH)
    path = trainers[0].save_checkpoint(tmp_path / f"stopped{ranks}.npz")
    return path, sum((t.seen for t in trainers), Counter())


def _resumed(path, ranks):
    trainers = [_rank(ranks, r) for r in range(max(ranks, 1))]
    for t in trainers:
        t.restore(path)
        t.fit(2)
    return trainers, sum((t.seen for t in trainers), Counter())


def _epoch(seen, epoch):
    return Counter({i: c for (e, i), c in seen.items() if e == epoch})


@pytest.mark.parametrize("before,after", [(2, 4), (2, 0), (0, 2), (2, 2)], ids=["2-4", "2-1", "1-2", "2-2"])
def test_a_run_stopped_mid_epoch_continues_on_another_number_of_ranks(tmp_path, before, after):
    """0: one process of a shuffling loader (no sampler)."""
    path, first = _stopped(tmp_path, before)
    c = load_checkpoint(path)
    samples = STOP_BATCH * B * max(before, 1)
    assert c.meta["trainer"]["samples_in_epoch"] == samples and c.meta["trainer"]["ranks"] == max(before, 1)
    trainers, rest = _resumed(path, after)
    assert _epoch(first, 1) + _epoch(rest, 1) == Counter(range(N))          # every sample of epoch 2 once
    spe = len(trainers[0].train_loader)
    lrs = trainers[0].callbacks[0].lrs
    skipped = spe - len(lrs)
    assert abs(skipped / spe - samples / N) < 1 / spe                          # the same epoch fraction
    plan = optim.OneCycleLR(_optimizer(0.05), max_lr=0.05, total_steps=2 * spe)
    np.testing.assert_allclose(lrs, [plan.lr_at(spe + skipped + i)[0] for i in range(len(lrs))], rtol=1e-12)
    assert trainers[0].scheduler.last_epoch == 2 * spe                        # it ends where the plan ends


def test_a_checkpoint_that_records_only_its_batch_and_ranks_continues_alike(tmp_path):
    path, first = _stopped(tmp_path, 2)
    packed, arrays = read_parts(path)
    for key in ("samples_in_epoch", "ranks", "steps_per_epoch"):
        del packed["trainer"][key]
    packed["metadata"]["ranks"] = 2                 # what the command line recorded
    write_parts(path, packed, arrays)
    _, rest = _resumed(path, 4)
    assert _epoch(first, 1) + _epoch(rest, 1) == Counter(range(N))


def test_what_cannot_continue_is_refused_in_one_sentence(tmp_path):
    path, _ = _stopped(tmp_path, 2)                       # 20 samples into epoch 2
    t = _rank(0, 0, batch=3)                              # one process of batches of 3: 20 is not a whole number
    with pytest.raises(CheckpointError) as e:
        t.restore(path)
    assert str(e.value) == (f"checkpoint {path} stopped 20 samples into epoch 2, not a whole number of this run's "
                            "batches of 3: resume it with a DistributedSampler, or with its batch size")
    assert t.epoch == 0 and t.scheduler.last_epoch == 0
    packed, arrays = read_parts(path)
    packed["trainer"]["samples_in_epoch"] = N + 1
    write_parts(path, packed, arrays)
    with pytest.raises(CheckpointError, match=f"is damaged: it is {N + 1} samples into an epoch of {N}$"):
        _rank(4, 0).restore(path)


@pytest.mark.parametrize("shuffle", [True, False])
def test_the_recipes_ranks_read_the_order_of_its_one_process_loader(tmp_path, shuffle):
    """So a run of the recipe continues on any number of ranks (or none) in its order."""
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(5):
            Image.fromarray(np.full((4, 4, 3), 40 * i, np.uint8)).save(tmp_path / c / f"{i}.png")
    s = Settings(dataset=str(tmp_path), batch_size=2, workers=0, shuffle=shuffle, seed=4)
    one = open_data(s).train_loader
    ranks = [open_data(s, SimpleNamespace(size=2, rank=r)).train_loader.sampler for r in (0, 1)]
    together = np.stack([r.indices() for r in ranks], axis=1).ravel()
    assert together.tolist() == one._order(0).tolist()


def test_a_run_stopped_after_the_last_batch_of_an_epoch_continues_at_its_end(tmp_path):
    """(as a run stopped during validation is saved)"""
    path, _ = _stopped(tmp_path, 2)
    packed, arrays = read_parts(path)
    packed["trainer"].update(batch_in_epoch=12, samples_in_epoch=N)          # all 12 batches of 2 ranks
    packed["rng"]["train_loader"].update(epoch=2, batch=0)
    packed["scheduler"]["state"]["last_epoch"] = 24
    write_parts(path, packed, arrays)
    t = _rank(4, 1)
    t.restore(path)
    assert (t.epoch, t.batch_in_epoch, t.scheduler.last_epoch) == (1, 6, 12)     # 6 batches an epoch on 4 ranks
    t.fit(2)
    assert t.epoch == 2 and not _epoch(t.seen, 1)                             # no batch trained again
