"""The app end to end on real MNIST: choose the data and mnist_cnn, train 50 steps,
watch curves and feature maps, pause, resume, stop, checkpoint, evaluate, predict."""
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore

from engine.train import BatchEnd, Paused, Snapshot
from helpers.qt import wait_until

COMPUTE = ("forward", "backward", "_step", "argmax_rows")


@pytest.fixture
def kernel_threads(monkeypatch):
    """Names of the threads that call the engine's CPU kernels, except the Explain tab's
    own small kernels, which gui/explainer.py runs on the GUI thread by design."""
    import engine.kernels.cpu as cpu
    seen = set()

    def from_explainer():
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code.co_filename.endswith(os.path.join("gui", "explainer.py")):
                return True
            frame = frame.f_back
        return False

    for name in dir(cpu):
        fn = getattr(cpu, name)
        if callable(fn) and not name.startswith("_") and any(k in name for k in COMPUTE):
            def wrapped(*a, __fn=fn, **kw):
                if not from_explainer():
                    seen.add(threading.current_thread().name)
                return __fn(*a, **kw)
            monkeypatch.setattr(cpu, name, wrapped)
    return seen


def test_train_watch_pause_stop_checkpoint(make_window, qtbot, shared_data, kernel_threads, tmp_path):
    win = make_window(epochs=2)
    st, dp, mp, tp = win.state, win.data_panel, win.model_panel, win.train_panel
    # choose MNIST from ../shared/data and the zoo's mnist_cnn through the widgets
    dp.dataset.setCurrentIndex(dp.dataset.findData("MNIST"))
    dp.root.setText(str(shared_data))
    dp.root.editingFinished.emit()
    mp.zoo_radio.setChecked(True)
    mp.zoo.setCurrentText("mnist_cnn")
    assert wait_until(qtbot, lambda: st.dataset_info and "classes" in st.dataset_info, 60)
    assert dp.samples.count > 0 and "10 classes" in dp.info.text()
    assert st.model_check["ok"] and tp.start_btn.isEnabled()

    win.tabs.setCurrentWidget(win.inside_panel)            # feature maps draw while they are shown
    qtbot.mouseClick(tp.start_btn, QtCore.Qt.LeftButton)
    run = st.run()
    assert run is not None and not tp.start_btn.isEnabled() and tp.stop_btn.isEnabled()
    assert wait_until(qtbot, lambda: run.step >= 20, 180), \
        f"training did not reach step 20 ({run.status}, {run.message})"

    # pause: no batch runs until resume, while a new probe's feature maps are still served
    events = []
    win.worker.session.trainer.subscribe(events.append)        # the run's events, in the trainer's order
    qtbot.mouseClick(tp.pause_btn, QtCore.Qt.LeftButton)
    assert wait_until(qtbot, lambda: run.status == "paused", 10)
    assert tp.pause_btn.text().endswith("Resume")
    pause_at = len(events)
    win.worker.set_probe(5)
    assert wait_until(qtbot, lambda: any(isinstance(e, Snapshot) for e in events[pause_at:]), 30)
    qtbot.mouseClick(tp.pause_btn, QtCore.Qt.LeftButton)
    assert wait_until(qtbot, lambda: any(isinstance(e, BatchEnd) for e in events[pause_at:]), 60)
    assert wait_until(qtbot, lambda: run.step >= 50, 120)
    assert wait_until(qtbot, lambda: win.inside_panel.image_count() > 0, 10)
    first = next(i for i, e in enumerate(events) if isinstance(e, Paused))
    last = next(i for i, e in enumerate(events) if isinstance(e, Paused) and not e.paused)
    assert events[first].paused and not any(isinstance(e, BatchEnd) for e in events[first:last])
    assert any(isinstance(e, Snapshot) for e in events[first:last])

    # stop takes effect within a second
    t0 = time.monotonic()
    qtbot.mouseClick(tp.stop_btn, QtCore.Qt.LeftButton)
    assert wait_until(qtbot, lambda: run.status == "stopped", 5)
    assert time.monotonic() - t0 < 1.0, f"stop took {time.monotonic() - t0:.2f} s"
    assert wait_until(qtbot, lambda: not win.worker.training, 5)
    assert tp.start_btn.isEnabled()

    # the curves hold points; the feature-map view holds an image per layer
    win.tabs.setCurrentWidget(tp)
    assert tp.curves.point_count() >= 2 * run.step
    from engine import models
    leaves = [n for n, m in models.get("mnist_cnn").named_modules() if not m._modules]
    win.tabs.setCurrentWidget(win.inside_panel)
    wait_until(qtbot, lambda: win.inside_panel.image_count() == len(leaves), 5)
    assert win.inside_panel.image_count() == len(leaves)
    assert win.inside_panel.stats_table.rowCount() == len(leaves)

    # a checkpoint was written (stopped mid-epoch: last.npz) and the metrics beside it
    last = Path(run.directory) / "last.npz"
    assert last.is_file() and str(last) in run.checkpoints
    assert (Path(run.directory) / "studio_metrics.csv").is_file()
    from engine.train import load_checkpoint
    ck = load_checkpoint(str(last))
    assert ck.meta["trainer"]["step"] == run.step

    # every kernel ran on the one engine thread, never on the GUI thread
    assert kernel_threads and kernel_threads <= {"numbacnn-engine"}, kernel_threads

    # evaluate on the validation split: accuracy, per-class, confusion, misclassified gallery
    ep = win.evaluate_panel
    win.tabs.setCurrentWidget(ep)
    ep.split.setCurrentIndex(ep.split.findData("val"))
    qtbot.mouseClick(ep.eval_btn, QtCore.Qt.LeftButton)
    assert wait_until(qtbot, lambda: run.evaluation is not None, 60)
    r = run.evaluation
    assert r["split"] == "validation" and r["n"] == 400 and np.asarray(r["confusion"]).sum() == 400
    assert 0 <= r["accuracy"] <= 1 and len(r["per_class"]) == 10
    assert ep.wrong.count == min(32, r["wrong_count"]) and "accuracy" in ep.summary.text()

    # predict an image file (an MNIST test digit saved as PNG): top-3 with probabilities
    from PIL import Image

    import datasets.mnist as dm
    digit = dm.MNIST(str(shared_data), train=False).data[0]
    path = tmp_path / "digit.png"
    Image.fromarray(255 - digit).save(path)                 # dark on light, as on paper
    ep.predict(str(path))
    assert wait_until(qtbot, lambda: st.prediction is not None, 30)
    top = st.prediction["top"]
    assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1] and sum(p for _, p in top) <= 1.0001
    assert "%" in ep.pred_text.text()
