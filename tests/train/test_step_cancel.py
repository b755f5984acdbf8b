"""Stop inside a step: a long step is abandoned between two layers (forward) or two
parameter gradients (backward) and undone, so the run ends at once, last.npz holds the
last completed step, and resuming it repeats the rest of the run bit for bit."""
import threading
import time

import numpy as np

from engine.train import BatchEnd, ModelCheckpoint, load_checkpoint
from engine.train.interrupt import StepCancelled, StepGuard

from helpers.train import make_trainer, tiny_model

STOP_AFTER = 5          # the stop comes during step STOP_AFTER + 1


def losses_of(trainer, epochs):
    seen = []
    trainer.subscribe(lambda ev: isinstance(ev, BatchEnd) and seen.append((ev.step, ev.loss)))
    trainer.fit(epochs)
    return seen


def resume_matches_reference(folder, first, ref_trainer, ref):
    """The run resumed from folder/last.npz gives the reference's later losses and weights."""
    ck = load_checkpoint(folder / "last.npz")
    assert ck.meta["trainer"]["step"] == STOP_AFTER
    b = make_trainer(model_seed=77)
    b.restore(ck)
    rest = losses_of(b, 2)
    assert first + rest == ref
    for k, v in b.model.state_dict().items():
        np.testing.assert_array_equal(v, ref_trainer.model.state_dict()[k], err_msg=k)


def test_a_stop_in_the_forward_pass_abandons_the_step_and_resume_repeats_it(tmp_path):
    ref_trainer = make_trainer()
    ref = losses_of(ref_trainer, 2)
    a = make_trainer(callbacks=[ModelCheckpoint(tmp_path)])
    model = a.model

    def stop_after_the_batch_norm(module, inputs):     # the stop arrives after BatchNorm and Dropout ran
        if a.step == STOP_AFTER:
            a.stop()
    model[6].register_forward_pre_hook(stop_after_the_batch_norm)      # the Linear after Dropout
    first = losses_of(a, 2)
    assert a.last_done.reason == "stopped" and a.step == STOP_AFTER and len(first) == STOP_AFTER
    assert all(p.grad is None for p in model.parameters())
    resume_matches_reference(tmp_path, first, ref_trainer, ref)


def test_a_stop_in_the_backward_pass_abandons_the_step_before_the_update(tmp_path):
    ref_trainer = make_trainer()
    ref = losses_of(ref_trainer, 2)
    a = make_trainer(callbacks=[ModelCheckpoint(tmp_path)])
    last_linear = a.model[6].weight
    last_linear.register_post_accumulate_grad_hook(lambda p: a.step == STOP_AFTER and a.stop())
    first = losses_of(a, 2)
    assert a.last_done.reason == "stopped" and a.step == STOP_AFTER
    resume_matches_reference(tmp_path, first, ref_trainer, ref)


def test_stop_returns_within_a_slow_step_not_after_it(tmp_path):
    a = make_trainer(callbacks=[ModelCheckpoint(tmp_path)], scheduler=None)
    layer_seconds = 0.4
    in_step = threading.Event()

    def slow(module, inputs):                         # every conv, pool and linear call takes 0.4 s
        if a.step == 2:
            in_step.set()
            time.sleep(layer_seconds)
    for i in (0, 3, 6):
        a.model[i].register_forward_pre_hook(slow)
    asked = {}

    def stopper():
        in_step.wait(60)
        time.sleep(0.1)
        asked["t"] = time.perf_counter()
        a.stop()
    th = threading.Thread(target=stopper)
    th.start()
    done = a.fit(3)
    took = time.perf_counter() - asked["t"]
    th.join()
    assert done.reason == "stopped" and a.step == 2
    assert took < 1.5 * layer_seconds, f"stop took {took:.2f} s; the step takes {3 * layer_seconds:.1f} s or more"
    assert load_checkpoint(tmp_path / "last.npz").meta["trainer"]["step"] == 2
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_a_stop_before_the_first_step_ends_still_leaves_a_loadable_last_npz(tmp_path):
    a = make_trainer(callbacks=[ModelCheckpoint(tmp_path)])
    a.model[0].register_forward_pre_hook(lambda m, i: a.stop())
    done = a.fit(1)
    assert done.reason == "stopped" and a.step == 0
    assert load_checkpoint(tmp_path / "last.npz").meta["trainer"]["step"] == 0


def test_the_guard_fires_only_inside_a_step_and_leaves_no_hooks():
    model = tiny_model()
    stop = threading.Event()
    stop.set()
    with StepGuard(model, stop.is_set) as guard:
        model.eval()
        model(np.zeros((2, 1, 8, 8), np.float32))            # between steps: a prediction runs
        guard.begin()
        try:
            model(np.zeros((2, 1, 8, 8), np.float32))
            raise AssertionError("the step was not abandoned")
        except StepCancelled:
            guard.undo()
        guard.end()
    assert all(not m._forward_pre_hooks for _, m in model.named_modules())
    assert all(not p._post_hooks for p in model.parameters())
