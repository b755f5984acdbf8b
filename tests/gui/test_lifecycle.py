"""The studio's lifecycle never loses work: quitting while a run trains asks first, and
"Quit and save" (even in the middle of a long step) leaves a run folder that loads and
resumes, with every batch's metrics and no temporary files; Cancel keeps training."""
import csv
import threading
import time
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from engine.train import load_checkpoint
from gui import runs
from helpers.qt import wait_until

SLOW_LAYER_SECONDS = 1.5


def answer_quit_confirmation(button_text: str) -> QtCore.QTimer:
    """Clicks ``button_text`` in the quit confirmation as soon as it is up."""
    timer = QtCore.QTimer()

    def click():
        box = QtWidgets.QApplication.activeModalWidget()
        if isinstance(box, QtWidgets.QMessageBox) and box.objectName() == "quit-confirmation":
            timer.stop()
            next(b for b in box.buttons() if b.text() == button_text).click()
    timer.timeout.connect(click)
    timer.start(50)
    return timer


def slow_down_every_step(win) -> threading.Event:
    """Makes each later step of the run take over 2 * SLOW_LAYER_SECONDS (two layers sleep);
    the event is set while a step is inside the first of them."""
    inside = threading.Event()

    def slow(module, inputs):
        inside.set()
        time.sleep(SLOW_LAYER_SECONDS)

    def install():                           # on the engine thread, between two batches
        model = win.worker.session.model
        model[0].register_forward_pre_hook(slow)
        model[3].register_forward_pre_hook(lambda m, i: time.sleep(SLOW_LAYER_SECONDS))
    win.worker.engine.submit(install, name="slow down")
    return inside


def test_quit_during_a_long_step_saves_the_run_and_closes(make_window, qtbot):
    win = make_window(epochs=3)
    st = win.state
    run = win.train_panel.start()
    assert run is not None
    assert wait_until(qtbot, lambda: run.step >= 3, 120), f"training did not reach step 3 ({run.status})"
    inside = slow_down_every_step(win)
    assert wait_until(qtbot, inside.is_set, 60)
    answered = answer_quit_confirmation("Quit and save")
    t0 = time.monotonic()
    win.close()
    assert win.isVisible() and st.training            # not before the run has ended and saved
    assert wait_until(qtbot, lambda: not win.isVisible(), 60), "the window did not close"
    took = time.monotonic() - t0
    answered.stop()
    assert took < 2 * SLOW_LAYER_SECONDS, f"quitting took {took:.1f} s, longer than the step"
    assert run.status == "stopped" and not win.worker.training

    folder = Path(run.directory)
    ck = load_checkpoint(str(folder / "last.npz"))
    assert ck.meta["trainer"]["step"] == run.step >= 3      # the step in progress was abandoned
    with open(folder / "studio_metrics.csv", newline="") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f) if r["kind"] == "batch"]
    assert steps == list(range(1, run.step + 1))
    assert list(runs.load_curves(folder).batch["step"]) == steps
    assert runs.read_run(folder).status == "stopped"
    left = [p.name for p in folder.rglob("*") if p.name.endswith(".tmp")]
    assert not left, left


def test_cancel_keeps_training(make_window, qtbot):
    win = make_window(epochs=3)
    run = win.train_panel.start()
    assert wait_until(qtbot, lambda: run.step >= 2, 120), f"training did not reach step 2 ({run.status})"
    answered = answer_quit_confirmation("Cancel")
    win.close()
    answered.stop()
    assert win.isVisible() and win.worker.training and not win._quitting
    at = run.step
    assert wait_until(qtbot, lambda: run.step > at + 2, 60), "training did not go on"
    assert run.status == "running"
