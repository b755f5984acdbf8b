"""Keep: checkpoints saved, loaded and resumed from the window; curves exported as PNG,
metrics as CSV; an image dropped on the window is predicted."""
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui

import pytest

from helpers.qt import wait_until


@pytest.mark.filterwarnings("ignore:Function.*QDragEnterEvent:DeprecationWarning")
def test_checkpoint_resume_export_and_drop(make_window, qtbot, tmp_path, shared_data):
    win = make_window(epochs=1)
    st, tp = win.state, win.train_panel
    st.set_data(limit=640)                                   # 18 steps an epoch
    win.tabs.setCurrentWidget(tp)
    run = tp.start()
    assert wait_until(qtbot, lambda: run.status == "completed", 180), (run.status, run.message)
    assert wait_until(qtbot, lambda: not win.worker.training, 10)
    assert run.step == 18 and len(run.epochs) == 1
    assert (Path(run.directory) / "last.npz").is_file() and (Path(run.directory) / "best.npz").is_file()

    # save (from memory, with optimizer state) and export
    ck = tmp_path / "mine.npz"
    win.worker.save_checkpoint(str(ck))
    assert wait_until(qtbot, lambda: ck.is_file(), 30)
    png, csv = tmp_path / "curves.png", tmp_path / "metrics.csv"
    tp.curves.export_png(str(png))
    run.write_csv(csv)
    assert png.stat().st_size > 5000 and QtGui.QImage(str(png)).width() > 400
    rows = csv.read_text().splitlines()
    assert rows[0].startswith("kind,step") and sum(r.startswith("batch,") for r in rows) == 18
    assert sum(r.startswith("epoch,") for r in rows) == 1

    # load it: a run with its history, ready to evaluate and predict
    loaded = []
    win.worker.load_checkpoint(str(ck), done=loaded.append)
    assert wait_until(qtbot, lambda: loaded, 60)
    old = loaded[0]
    assert old.status == "loaded" and len(old.epochs) == 1 and st.current_run == old.id

    # drop an image file on the window: the loaded model predicts it
    from PIL import Image
    img = tmp_path / "seven.png"
    Image.fromarray(np.kron(np.eye(7, dtype=np.uint8) * 255, np.ones((4, 4), np.uint8))).save(img)
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(img))])
    pos = QtCore.QPointF(200, 200)
    enter = QtGui.QDragEnterEvent(QtCore.QPoint(200, 200), QtCore.Qt.CopyAction, mime, QtCore.Qt.LeftButton,
                                  QtCore.Qt.NoModifier)
    win.dragEnterEvent(enter)
    assert enter.isAccepted()
    drop = QtGui.QDropEvent(pos, QtCore.Qt.CopyAction, mime, QtCore.Qt.LeftButton, QtCore.Qt.NoModifier)
    win.dropEvent(drop)
    assert win.tabs.currentWidget() is win.evaluate_panel
    assert wait_until(qtbot, lambda: st.prediction is not None, 30)
    assert len(st.prediction["top"]) == 3

    # resume: the run continues from step 18 to the 2 epochs now asked for
    st.set_hyper(epochs=2)
    tp.resume_from(str(ck))
    assert wait_until(qtbot, lambda: win.worker.training, 30)
    resumed = st.run()
    assert not win._errors, win._errors
    assert resumed.id != old.id, [(r.id, r.name, r.status) for r in st.runs] and "resumed" in resumed.name
    assert wait_until(qtbot, lambda: resumed.status == "completed", 180), (resumed.status, resumed.message)
    b = resumed.batch_arrays()
    assert b["step"][0] == 19 and b["step"][-1] == 36          # it went on from where it was saved
    assert [e["epoch"] for e in resumed.epochs] == [0, 1]      # the saved epoch and the new one
    assert [r.status for r in st.runs] == ["completed", "loaded", "completed"]   # resuming adds no extra run
