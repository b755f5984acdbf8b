"""The Trainer: events, evaluation, exact resume, control from another thread, snapshots,
the NaN guard, EarlyStopping and the loggers."""
import csv
import json
import os
import socket
import threading

import numpy as np
import pytest

import engine
from engine import nn, optim
from engine.train import (BatchEnd, CSVLogger, Done, EarlyStopping, EpochEnd, Error, JSONLogger, LambdaCallback,
                          ModelCheckpoint, Paused, Snapshot, Trainer, TrainStart, load_checkpoint)
from engine.train.metrics import confusion_matrix

from helpers.train import make_loaders, make_trainer, tiny_model


class Recorder:
    def __init__(self):
        self.events = []

    def __call__(self, ev):
        self.events.append(ev)

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]

    def losses(self):
        return [(e.step, e.loss) for e in self.of(BatchEnd)]


def test_events_and_history():
    t = make_trainer()
    rec = Recorder()
    t.subscribe(rec)
    done = t.fit(2)
    kinds = [type(e) for e in rec.events]
    spe = len(t.train_loader)
    assert kinds[0] is TrainStart and kinds[-1] is Done
    assert kinds.count(BatchEnd) == 2 * spe and kinds.count(EpochEnd) == 2
    start = rec.of(TrainStart)[0]
    assert (start.epochs, start.start_epoch, start.steps_per_epoch, start.batch_size) == (2, 0, spe, 16)
    assert "Conv2d" in start.model_summary
    b = rec.of(BatchEnd)
    assert [e.step for e in b] == list(range(1, 2 * spe + 1))
    assert all(0 <= e.accuracy <= 1 and e.lr > 0 and e.images_per_sec >= 0 and e.eta_seconds >= 0 for e in b)
    assert b[-1].progress == pytest.approx(1.0)
    assert done.reason == "completed" and done.epoch == 2 and done.step == 2 * spe
    assert len(done.history) == 2 and t.history == done.history
    e = rec.of(EpochEnd)[-1]
    assert e.val_loss is not None and 0 <= e.val_accuracy <= 1 and "val_top5" in e.metrics
    # the model learns the quadrant task
    assert t.history[-1]["val_accuracy"] > 0.6
    assert t.history[-1]["train_loss"] < t.history[0]["train_loss"]


def test_evaluate_fields_match_a_direct_computation():
    t = make_trainer(scheduler=None)
    t.fit(1)
    ev = t.evaluate(t.val_loader)
    xs, ys = zip(*list(t.val_loader))
    t.model.eval()
    logits = np.concatenate([np.asarray(t.model(x)) for x in xs])
    t.model.train()
    y = np.concatenate(ys)
    pred = logits.argmax(1)
    assert ev.num_samples == len(y) == 64
    assert ev.accuracy == pytest.approx(np.mean(pred == y))
    np.testing.assert_array_equal(ev.confusion, confusion_matrix(pred, y, 4))
    assert ev.per_class.shape == (4,) and ev.top5 == 1.0          # 4 classes: top-5 is everything
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    assert ev.loss == pytest.approx(-logp[np.arange(len(y)), y].mean(), rel=1e-5)
    assert ev["accuracy"] == ev.accuracy and "confusion matrix" in ev.report()
    assert t.model.training       # train mode is back


def run_losses(trainer, epochs):
    rec = Recorder()
    trainer.subscribe(rec)
    trainer.fit(epochs)
    return rec.losses()


def without_time(history):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


def test_resume_at_epoch_end_repeats_losses_exactly(tmp_path):
    ref_trainer = make_trainer()
    ref = run_losses(ref_trainer, 3)
    a = make_trainer(callbacks=[ModelCheckpoint(tmp_path)])
    first = run_losses(a, 1)
    assert first == ref[:len(first)]
    # a fresh process would build a differently initialised model: restore must overwrite all of it
    b = make_trainer(model_seed=123, callbacks=[ModelCheckpoint(tmp_path)])
    b.restore(tmp_path / "last.npz")
    assert b.epoch == 1 and b.step == len(first)
    rest = run_losses(b, 3)
    assert first + rest == ref                       # bit-for-bit equal per-step losses
    assert without_time(b.history) == without_time(ref_trainer.history)
    for k, v in b.model.state_dict().items():
        np.testing.assert_array_equal(v, ref_trainer.model.state_dict()[k])


def test_resume_mid_epoch_after_stop_repeats_losses_exactly(tmp_path):
    ref_trainer = make_trainer()
    ref = run_losses(ref_trainer, 2)
    stop_at = 7
    a = make_trainer(callbacks=[ModelCheckpoint(tmp_path)])
    a.subscribe(lambda ev: isinstance(ev, BatchEnd) and ev.step == stop_at and a.stop())
    first = run_losses(a, 2)
    assert a.last_done.reason == "stopped" and a.step == stop_at and len(first) == stop_at
    b = make_trainer(model_seed=99)
    b.restore(load_checkpoint(tmp_path / "last.npz"))
    assert (b.epoch, b.batch_in_epoch) == (0, stop_at)
    rest = run_losses(b, 2)
    assert first + rest == ref
    assert without_time(b.history) == without_time(ref_trainer.history)


def test_fit_again_continues_after_stop():
    ref = run_losses(make_trainer(), 2)
    a = make_trainer()
    a.subscribe(lambda ev: isinstance(ev, BatchEnd) and ev.step == 5 and a.stop())
    first = run_losses(a, 2)
    rest = run_losses(a, 2)
    assert first + rest == ref


def test_stop_from_another_thread_takes_effect_within_one_batch():
    t = make_trainer(n=1600, scheduler=None)
    seen = []
    asked = {}

    def on_event(ev):
        if isinstance(ev, BatchEnd):
            seen.append(ev.step)
            if ev.step == 3 and "at" not in asked:
                done = threading.Event()

                def stopper():
                    t.stop()
                    asked["at"] = len(seen)
                    done.set()
                threading.Thread(target=stopper).start()
                done.wait()
    t.subscribe(on_event)
    d = t.fit(5)
    assert d.reason == "stopped"
    assert len(seen) - asked["at"] <= 1


def _when(rec, kind, **fields):
    """A threading.Event set when ``rec`` records an event of ``kind`` with ``fields``."""
    seen = threading.Event()

    def listen(ev):
        if isinstance(ev, kind) and all(getattr(ev, k) == v for k, v in fields.items()):
            seen.set()
    return seen, listen


def test_pause_blocks_between_batches_serves_snapshots_and_resume_continues():
    t = make_trainer(n=320, scheduler=None, probe=np.zeros((1, 8, 8), np.float32))
    rec, idle = Recorder(), []
    t.subscribe(rec)
    paused, listen = _when(rec, Paused, paused=True)
    t.subscribe(listen)
    served, listen = _when(rec, Snapshot)
    t.subscribe(listen)
    t._between = lambda: idle.append(t.is_paused)     # the between_batches hook
    t.pause()                                          # paused before the first batch
    th = threading.Thread(target=t.fit, args=(1,))
    th.start()
    assert paused.wait(120)
    t.request_snapshot()                               # served while paused
    assert served.wait(60)
    t.resume()
    th.join(120)
    assert not th.is_alive() and t.last_done.reason == "completed"
    kinds = [type(e) for e in rec.events]
    assert kinds[:4] == [TrainStart, Paused, Snapshot, Paused]
    assert [e.paused for e in rec.of(Paused)] == [True, False] and rec.of(Snapshot)[0].step == 0
    spe = len(t.train_loader)
    assert [e.step for e in rec.of(BatchEnd)] == list(range(1, spe + 1))
    assert True in idle and idle.count(False) >= spe - 1    # while paused, and before every batch


def test_stop_wakes_a_paused_run():
    t = make_trainer(scheduler=None)
    rec = Recorder()
    t.subscribe(rec)
    t.subscribe(lambda ev: isinstance(ev, BatchEnd) and ev.step == 2 and t.pause())
    paused, listen = _when(rec, Paused, paused=True)
    t.subscribe(listen)
    th = threading.Thread(target=t.fit, args=(3,))
    th.start()
    assert paused.wait(120)
    t.stop()
    th.join(60)
    assert t.last_done.reason == "stopped" and t.step == 2
    kinds = [type(e) for e in rec.events]
    assert kinds[kinds.index(Paused):] == [Paused, Paused, Done]     # no batch after the pause: stop ends it
    assert [e.paused for e in rec.of(Paused)] == [True, False]


def test_snapshot_on_request_and_every_n_does_not_disturb_training():
    ref = run_losses(make_trainer(), 1)
    t = make_trainer(snapshot_every=4)
    rec = Recorder()
    t.subscribe(rec)
    t.subscribe(lambda ev: isinstance(ev, BatchEnd) and ev.step == 2 and t.request_snapshot())
    t.fit(1)
    snaps = rec.of(Snapshot)
    spe = len(t.train_loader)
    assert [s.step for s in snaps] == [2] + list(range(4, spe + 1, 4))
    assert rec.losses() == ref          # BN statistics, dropout RNG and weights untouched
    s = snaps[0]
    leaves = [n for n, m in t.model.named_modules() if not m._modules]
    assert list(s.feature_maps) == leaves
    assert s.feature_maps["0"].shape == (4, 8, 8) and s.feature_maps["6"].shape == (4,)
    assert s.probe.shape == (1, 8, 8) and s.filters.shape == (4, 1, 3, 3)
    assert set(s.stats["2"]) == {"mean", "std", "min", "max", "zero_fraction"}
    assert s.stats["2"]["min"] >= 0 and 0 <= s.stats["2"]["zero_fraction"] <= 1
    assert all(isinstance(a, np.ndarray) for a in s.feature_maps.values())


def test_snapshot_is_eval_mode_and_restores_train_mode():
    t = make_trainer()
    t.fit(1)
    bn = t.model[1]
    mean = bn.running_mean.copy()
    calls = t.model[5].calls
    s = t.snapshot()
    np.testing.assert_array_equal(bn.running_mean, mean)
    assert t.model[5].calls == calls and t.model.training
    t.model.eval()
    expect = t.model(t.probe[None])[0]
    t.model.train()
    np.testing.assert_allclose(s.feature_maps["6"], expect, rtol=1e-6)


class NaNAtCall(nn.CrossEntropyLoss):
    """Cross-entropy whose ``bad``-th training call (1-based) gives a NaN loss."""

    def __init__(self, bad, model):
        super().__init__()
        self.bad, self.calls, self.model = bad, 0, model

    def forward(self, logits, targets):
        loss = super().forward(logits, targets)
        if self.model.training:
            self.calls += 1
            if self.calls == self.bad:
                return loss * float("nan")
        return loss


def test_nan_guard_stops_names_the_step_and_keeps_last_good_checkpoint(tmp_path):
    t = make_trainer(scheduler=None, callbacks=[ModelCheckpoint(tmp_path)])
    spe = len(t.train_loader)
    t.loss = NaNAtCall(spe + 3, t.model)           # third batch of the second epoch
    t.fit(1)
    good = open(tmp_path / "last.npz", "rb").read()
    before = []
    t.subscribe(lambda ev: isinstance(ev, BatchEnd) and before.append(
        {k: v.copy() for k, v in t.model.state_dict().items()}))
    done = t.fit(3)
    assert done.reason == "nan"
    assert f"step {spe + 3}" in done.message and "epoch 2" in done.message
    assert t.step == spe + 2
    for k, v in t.model.state_dict().items():            # the bad batch's update was not applied
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked")):
            np.testing.assert_array_equal(v, before[-1][k])
    assert open(tmp_path / "last.npz", "rb").read() == good   # the last good checkpoint is intact
    assert load_checkpoint(tmp_path / "last.npz").meta["trainer"]["step"] == spe


def test_nan_guard_fires_on_divergence_and_not_on_a_normal_run():
    t = make_trainer(scheduler=None, lr=1e30, opt="sgd")
    d = t.fit(2)
    assert d.reason == "nan" and "step" in d.message
    ok = make_trainer(scheduler=None)
    assert ok.fit(2).reason == "completed"


class FakeTrainer:
    def __init__(self, val=True):
        self.history = []
        self.val_loader = object() if val else None
        self.stopped = None
        self.model = tiny_model()

    def stop(self, reason="stopped", message=""):
        self.stopped = (reason, message)


def feed(cb, values, key="val_loss"):
    t = FakeTrainer()
    cb.on_train_start(t, None)
    for i, v in enumerate(values):
        t.history.append({"epoch": i, key: v})
        cb.on_epoch_end(t, EpochEnd(i, i, 0, 0, None, None, 0, 0))
        if t.stopped:
            return i, t.stopped
    return None, None


def test_early_stopping_fires_after_patience():
    at, (reason, msg) = feed(EarlyStopping("val_loss", patience=2), [1.0, 0.8, 0.85, 0.9, 0.7])
    assert at == 3 and reason == "early_stopping" and "val_loss" in msg and "2 epochs" in msg


def test_early_stopping_does_not_fire_while_improving_or_with_min_delta_gaps():
    assert feed(EarlyStopping("val_loss", patience=1), [1.0, 0.9, 0.8, 0.7, 0.6])[0] is None
    assert feed(EarlyStopping("val_accuracy", patience=2), [0.5, 0.6, 0.55, 0.7, 0.65, 0.8])[0] is None
    # improvements smaller than min_delta count as none
    assert feed(EarlyStopping("val_loss", patience=2, min_delta=0.1), [1.0, 0.95, 0.92])[0] == 2


def test_early_stopping_restores_best_weights():
    cb = EarlyStopping("val_loss", patience=1, restore_best_weights=True)
    t = FakeTrainer()
    cb.on_train_start(t, None)
    t.history.append({"epoch": 0, "val_loss": 1.0})
    cb.on_epoch_end(t, None)
    best = {k: v.copy() for k, v in t.model.state_dict().items()}
    for p in t.model.parameters():
        p.data += 1
    t.history.append({"epoch": 1, "val_loss": 2.0})
    cb.on_epoch_end(t, None)
    assert t.stopped[0] == "early_stopping"
    for k, v in t.model.state_dict().items():
        np.testing.assert_array_equal(v, best[k])


def test_early_stopping_in_a_real_run():
    t = make_trainer(scheduler=None, lr=0.0, callbacks=[EarlyStopping("val_loss", patience=2)])
    d = t.fit(10)
    assert d.reason == "early_stopping" and t.epoch == 3 and "early stopping" in d.message


def test_early_stopping_unknown_monitor():
    t = make_trainer(callbacks=[EarlyStopping("val_f1")])
    with pytest.raises(ValueError, match="unknown monitor"):
        t.fit(1)


def test_loggers_and_checkpoints(tmp_path):
    ck = ModelCheckpoint(tmp_path, monitor="val_accuracy")
    t = make_trainer(callbacks=[CSVLogger(tmp_path / "m.csv"), JSONLogger(tmp_path / "m.jsonl", batch_every=5), ck])
    t.fit(2)
    rows = list(csv.DictReader(open(tmp_path / "m.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert float(rows[1]["val_accuracy"]) == pytest.approx(t.history[1]["val_accuracy"])
    recs = [json.loads(line) for line in open(tmp_path / "m.jsonl")]
    assert [r["event"] for r in recs if r["event"] != "batch"] == ["start", "epoch", "epoch", "done"]
    assert (recs[0]["pid"], recs[0]["host"]) == (os.getpid(), socket.gethostname())   # who writes the run
    batches = [r for r in recs if r["event"] == "batch"]
    assert batches and all(b["seconds"] >= a["seconds"] >= 0 for a, b in zip(batches, batches[1:]))
    best = load_checkpoint(tmp_path / "best.npz")
    assert best.meta["trainer"]["epoch"] - 1 == ck.best_epoch
    assert ck.best == max(h["val_accuracy"] for h in t.history)
    last = load_checkpoint(tmp_path / "last.npz")
    assert last.meta["trainer"]["epoch"] == 2 and len(last.history) == 2


def test_error_event_then_raise():
    t = make_trainer(scheduler=None)

    class Broken:
        batch_size = 4
        dataset = t.train_loader.dataset

        def __len__(self):
            return 2

        def __iter__(self):
            yield np.zeros((4, 3, 8, 8), np.float32), np.zeros(4, np.int64)   # 3 channels for a 1-channel model
    t.train_loader = Broken()
    rec = Recorder()
    t.subscribe(rec)
    with pytest.raises(Exception):
        t.fit(1)
    err = rec.of(Error)
    assert len(err) == 1 and err[0].message and err[0].exception is not None
    assert not t.is_running


def test_lambda_callback_and_unsubscribe():
    seen = []
    t = make_trainer(scheduler=None, callbacks=[LambdaCallback(on_epoch_end=lambda tr, ev: seen.append(ev.epoch))])
    rec = Recorder()
    unsub = t.subscribe(rec)
    unsub()
    t.fit(1)
    assert seen == [0] and rec.events == []


def test_unusable_device_is_one_clear_error(no_gpu):
    m = tiny_model()
    train, _ = make_loaders()
    with pytest.raises(RuntimeError, match="CUDA was requested but no usable NVIDIA driver"):
        Trainer(m, optim.SGD(m.parameters(), lr=0.1), nn.CrossEntropyLoss(), train, device="cuda")
    with pytest.raises(ValueError, match="unknown device"):
        Trainer(m, optim.SGD(m.parameters(), lr=0.1), nn.CrossEntropyLoss(), train, device="tpu")


def test_cuda_trainer_matches_cpu(tmp_path):
    """The same run on device "cuda" (a GPU, or Numba's CUDA simulator in CI) gives the CPU's
    losses to float32 tolerance; evaluation, snapshots and checkpoints come back as host data."""
    if not engine.cuda_available():
        pytest.skip("no CUDA device or simulator")
    losses = {}
    for device in ("cpu", "cuda"):
        t = make_trainer(n=8, batch_size=8, n_val=8, scheduler=None, device=device,
                         callbacks=[ModelCheckpoint(tmp_path / device)])
        t.subscribe(lambda ev, d=device: isinstance(ev, BatchEnd) and losses.setdefault(d, []).append(ev.loss))
        t.subscribe(lambda ev: isinstance(ev, BatchEnd) and ev.step == 1 and t.request_snapshot())
        rec = Recorder()
        t.subscribe(rec)
        t.fit(1)
        snap = rec.of(Snapshot)[0]
        assert all(type(a) is np.ndarray for a in snap.feature_maps.values())
        ev = t.evaluate(t.val_loader)
        assert ev.num_samples == 8 and type(ev.confusion) is np.ndarray
        c = load_checkpoint(tmp_path / device / "last.npz")
        assert c.meta["trainer"]["step"] == 1
    np.testing.assert_allclose(losses["cuda"], losses["cpu"], rtol=2e-4)


def test_plateau_scheduler_steps_on_validation_loss():
    engine.manual_seed(0)
    m = tiny_model(bn=False, dropout=False)
    train, val = make_loaders()
    o = optim.SGD(m.parameters(), lr=1e-9)        # too small to improve anything
    t = Trainer(m, o, nn.CrossEntropyLoss(), train, val,
                scheduler=optim.ReduceLROnPlateau(o, patience=0, factor=0.5, eps=0))
    t.fit(3)
    assert o.param_groups[0]["lr"] == pytest.approx(2.5e-10)
    assert [h["lr"] for h in t.history] == pytest.approx([1e-9, 1e-9, 5e-10])
