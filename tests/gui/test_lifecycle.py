"""The studio's lifecycle never loses work: quitting while a run trains asks first, and
"Quit and save" (even in the middle of a long step) leaves a run folder that loads and
resumes, with every batch's metrics and no temporary files; Cancel keeps training."""
import csv
import sys
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
    the event is set while a step is inside the first of them, and its ``steps`` holds the
    steps completed before it."""
    inside = threading.Event()
    inside.steps = None

    def slow(module, inputs):
        if not inside.is_set():
            inside.steps = win.worker.session.trainer.step
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


def test_the_metrics_so_far_are_written_at_every_checkpoint(make_window, qtbot):
    win = make_window(epochs=5)
    run = win.train_panel.start()
    csv_path = Path(run.directory) / "studio_metrics.csv"
    assert wait_until(qtbot, lambda: run.checkpoints, 180), f"no checkpoint ({run.status}, {run.message})"
    assert run.active and csv_path.is_file()                 # written while the run goes on
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    per_epoch = run.steps_per_epoch
    assert [int(r["step"]) for r in rows if r["kind"] == "batch"][:per_epoch] == list(range(1, per_epoch + 1))
    assert [r["kind"] for r in rows].count("epoch") >= 1
    win.worker.stop()
    assert wait_until(qtbot, lambda: not win.worker.training, 60)


def test_a_run_stopped_before_its_first_step_leaves_a_loadable_last_npz(make_window, qtbot):
    win = make_window()
    run = win.train_panel.start()
    win.worker.stop()                                        # while its data and model are being built
    assert wait_until(qtbot, lambda: not win.worker.training, 120)
    assert run.status == "stopped" and run.step == 0
    last = Path(run.directory) / "last.npz"
    assert load_checkpoint(str(last)).meta["trainer"]["step"] == 0 and str(last) in run.checkpoints


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


def test_stop_takes_effect_within_a_long_step(make_window, qtbot):
    win = make_window(epochs=3)
    tp = win.train_panel
    run = tp.start()
    assert wait_until(qtbot, lambda: run.step >= 2, 120), f"training did not reach step 2 ({run.status})"
    inside = slow_down_every_step(win)
    assert wait_until(qtbot, inside.is_set, 60)
    at = inside.steps
    t0 = time.monotonic()
    qtbot.mouseClick(tp.stop_btn, QtCore.Qt.LeftButton)
    assert wait_until(qtbot, lambda: run.status == "stopped", 30), run.status
    took = time.monotonic() - t0
    assert took < 2 * SLOW_LAYER_SECONDS, f"stop took {took:.1f} s, longer than the step"
    assert run.step == at and load_checkpoint(str(Path(run.directory) / "last.npz")).meta["trainer"]["step"] == at


# --- before Start: a huge step is questioned -------------------------------------------------------
def test_the_step_estimate_of_alexnet_at_batch_4096():
    from engine import nn
    from engine.nn.summary import summary
    from gui import modelspec, step_estimate
    model = nn.from_spec(modelspec.zoo_spec("alexnet", 3, 10, (32, 32)))
    est = step_estimate.estimate_step(summary(model, (3, 32, 32)), 4096, "SGD", threads=2)
    assert 8.0e9 < est.memory_bytes < 9.5e9                   # measured: a peak of 8.7 GB (issue 17)
    assert 30 < est.seconds < 300                             # measured: minutes at "step 0"
    text = step_estimate.warning(est, "alexnet", 16 * 10**9)
    assert text.startswith("batch 4,096 on alexnet needs about 8.9 GB of the machine's 16.0 GB and about ")
    assert text.endswith(" s a step; continue?")
    small = step_estimate.estimate_step(summary(model, (3, 32, 32)), 64, "SGD", threads=2)
    assert small.seconds < 10 and step_estimate.warning(small, "alexnet", 16 * 10**9) == ""
    assert "needs about" in step_estimate.warning(small, "alexnet", 10**8)       # too big for this machine


def answer_box(name: str, button_text: str) -> QtCore.QTimer:
    """Clicks ``button_text`` in the modal box named ``name`` as soon as it is up."""
    timer = QtCore.QTimer()
    seen = []

    def click():
        box = QtWidgets.QApplication.activeModalWidget()
        if isinstance(box, QtWidgets.QMessageBox) and box.objectName() == name:
            timer.stop()
            seen.append(box.text())
            next(b for b in box.buttons() if b.text() == button_text).click()
    timer.timeout.connect(click)
    timer.seen = seen
    timer.start(50)
    return timer


def test_a_huge_step_asks_before_start(make_window, qtbot, monkeypatch):
    from gui import step_estimate
    win = make_window(batch_size=2048)
    tp = win.train_panel
    assert tp.step_warning() == ""                          # mnist_cnn at 2048: about 0.1 GB and 0.04 s
    monkeypatch.setattr(step_estimate, "machine_memory", lambda: 10**8)     # a machine of 100 MB
    answered = answer_box("big-step-warning", "Cancel")
    assert tp.start() is None
    assert answered.seen and answered.seen[0].startswith("Batch 2,048 on mnist_cnn needs about")
    assert not win.state.runs and not win.state.runs_dir().exists()
    answered = answer_box("big-step-warning", "Start anyway")
    run = tp.start(max_steps=1)
    assert answered.seen and run is not None
    assert wait_until(qtbot, lambda: run.status == "stopped", 120), (run.status, run.message)


# --- Start is gated; the status says what is true ------------------------------------------------------
def test_start_is_disabled_while_the_batch_is_larger_than_the_training_split(make_window, qtbot):
    win = make_window()
    tp, st = win.train_panel, win.state
    train = st.dataset_info["train"]                       # 3,600 of the 4,000 images
    st.set_hyper(batch_size=train + 1)
    assert not tp.start_btn.isEnabled() and not win.start_action.isEnabled()
    assert f"the batch size {train + 1:,} is larger than the {train:,} training images" in tp.train_reason.text()
    assert tp.start() is None and not st.runs                              # nothing starts, no run folder
    st.set_hyper(batch_size=train)
    assert tp.start_btn.isEnabled() and tp.train_reason.text() == ""


def test_start_is_disabled_without_data_and_while_a_run_trains(make_window, qtbot, shared_data, tmp_path):
    win = make_window(epochs=3)
    tp, st = win.train_panel, win.state
    assert tp.start_btn.isEnabled() and win.start_action.isEnabled()
    st.set_data(root=str(tmp_path / "nowhere"))
    win.worker.load_data()
    assert wait_until(qtbot, lambda: (st.dataset_info or {}).get("error"), 60)
    assert not tp.start_btn.isEnabled() and not win.start_action.isEnabled()
    assert "the data is missing" in tp.train_reason.text()
    assert tp.start() is None and not st.runs and not st.runs_dir().exists()      # no empty run folder
    win.worker.start_training()           # the engine's door itself: the run fails before it has a folder
    assert wait_until(qtbot, lambda: st.run() is not None and st.run().status == "error", 60)
    assert wait_until(qtbot, lambda: not win.worker.training, 30)
    assert not st.runs_dir().exists() or not any(st.runs_dir().iterdir()), list(st.runs_dir().rglob("*"))

    st.set_data(root=str(shared_data))
    win.worker.load_data()
    assert wait_until(qtbot, lambda: tp.start_btn.isEnabled(), 60)
    run = tp.start()
    assert run is not None and not tp.start_btn.isEnabled() and not win.start_action.isEnabled()
    assert tp.start() is None                               # Ctrl+R while training: nothing, no exception
    win.start_action.trigger()
    assert len(st.runs) == 2
    assert wait_until(qtbot, lambda: run.step >= 2, 120)

    # a dataset reloaded mid-run ends its own busy part, not the run's
    win.worker.load_data()
    assert wait_until(qtbot, lambda: "loading data" in win.busy.text(), 10)
    assert wait_until(qtbot, lambda: "loading data" not in win.busy.text(), 60)
    assert win.busy.text() == "Busy: training"

    # paused says so, without a stale rate and ETA
    qtbot.mouseClick(tp.pause_btn, QtCore.Qt.LeftButton)
    assert wait_until(qtbot, lambda: run.status == "paused", 30)
    assert wait_until(qtbot, lambda: tp.rate.text() == "paused", 5), tp.rate.text()
    assert win.busy.text() == "Busy: paused" and tp.progress.format().startswith("paused")


def test_the_first_step_says_it_compiles_kernels(make_window):
    from engine.train import BatchEnd, TrainStart
    win = make_window()
    st = win.state
    run = st.new_run()
    assert win.busy.text() == "Busy: preparing the data and the model"
    st.apply_events(run.id, [TrainStart(epochs=1, start_epoch=0, steps_per_epoch=10, batch_size=32,
                                        model_summary="")])
    assert win.busy.text() == "Busy: compiling kernels…"
    win.train_panel._update_run(force=True)
    assert win.train_panel.progress.format().startswith("compiling kernels…")
    st.apply_events(run.id, [BatchEnd(epoch=0, step=1, loss=2.3, accuracy=0.1, lr=0.01, images_per_sec=100.0,
                                      progress=0.1, eta_seconds=9.0)])
    assert win.busy.text() == "Busy: training"


# --- dialogs ----------------------------------------------------------------------------------------------
def test_error_dialogs_come_one_at_a_time(make_window, qtbot):
    win = make_window()

    def open_boxes():
        return [w for w in win.findChildren(QtWidgets.QMessageBox) if w.isVisible()]
    for text in ("first", "second", "first", "third", "second"):
        win.show_error(text)
    boxes = open_boxes()
    assert len(boxes) == 1 and boxes[0].text() == "first", [b.text() for b in boxes]
    assert "2 more errors will follow" in boxes[0].informativeText()
    for expected, waiting in (("second", "1 more error will"), ("third", "")):
        boxes[0].close()
        assert wait_until(qtbot, lambda: [b.text() for b in open_boxes()] == [expected], 5), \
            [b.text() for b in open_boxes()]
        boxes = open_boxes()
        assert waiting in boxes[0].informativeText() and (waiting or "more error" not in boxes[0].informativeText())
    boxes[0].close()
    assert wait_until(qtbot, lambda: not open_boxes(), 5)


def test_file_dialogs_open_in_the_runs_folder(make_window, monkeypatch, tmp_path):
    win = make_window()
    st = win.state
    asked = []

    def dialog(parent, title, start, *rest):
        asked.append((title, start))
        return "", ""
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName", dialog)
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", dialog)
    runs_dir = tmp_path / "my runs"
    st.set_hyper(runs_dir=str(runs_dir))
    win.train_panel._load_ckpt()
    assert asked[-1] == ("Load checkpoint", str(tmp_path))          # the nearest folder that exists
    runs_dir.mkdir()
    win.train_panel._resume_dialog()
    assert asked[-1][1] == str(runs_dir)
    folder = runs_dir / "a run"
    folder.mkdir()
    st.new_run(directory=str(folder)).status = "stopped"
    win.train_panel._save_ckpt()
    win._export_dialog()
    win.train_panel._export_csv()
    assert [Path(start).parent for _, start in asked[-3:]] == [folder] * 3


def test_the_train_form_keeps_start_in_place_and_the_cuda_note_whole(make_window):
    win = make_window()
    tp = win.train_panel
    win.tabs.setCurrentWidget(tp)
    before = tp.start_btn.mapTo(win, QtCore.QPoint(0, 0))
    tp.schedule.setCurrentText("StepLR")
    QtWidgets.QApplication.processEvents()
    assert tp.start_btn.mapTo(win, QtCore.QPoint(0, 0)) == before
    note = tp.cuda_note
    if note.text():
        assert note.wordWrap() and note.height() >= note.heightForWidth(note.width())


# --- start-up ---------------------------------------------------------------------------------------------
def test_missing_x11_libraries_are_named_at_start_up(monkeypatch, capsys):
    import gui.__main__ as studio
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setitem(studio.XCB_LIBRARIES, "libnumbacnn-absent.so.9", "numbacnn-absent9")
    assert studio.main(["--fresh"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs libnumbacnn-absent.so.9, which is not installed" in err[0]
    assert "sudo apt-get install numbacnn-absent9" in err[0]
    assert studio.uses_xcb({"DISPLAY": ":0"}) == sys.platform.startswith("linux")
    assert not studio.uses_xcb({"QT_QPA_PLATFORM": "offscreen"}) and not studio.uses_xcb({"WAYLAND_DISPLAY": "w"})
