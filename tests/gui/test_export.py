"""File > Export model…: the current run's model written on the engine thread as an ONNX
file (checked with ONNX Runtime) or safetensors weights; a mistake ends in a dialog."""
import numpy as np
import pytest
from helpers.qt import wait_until
from PySide6 import QtWidgets

import engine
from engine.interop import read_safetensors
from engine.train import save_checkpoint

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("safetensors")


@pytest.fixture
def window(qtbot, tmp_path):
    """A MainWindow without data (nothing to train: runs come from checkpoints)."""
    from gui.app import MainWindow
    from gui.state import AppState
    state = AppState()
    state.set_data(name="MNIST", root=str(tmp_path / "no-data"))
    win = MainWindow(state, load_settings=False)
    qtbot.addWidget(win)
    yield win
    win.worker.shutdown(timeout=30)


def checkpoint_run(qtbot, win, folder, **meta):
    """An mnist_cnn saved to ``folder``/best.npz and loaded as the window's run."""
    engine.manual_seed(0)
    model = engine.models.get("mnist_cnn").eval()
    folder.mkdir()
    save_checkpoint(str(folder / "best.npz"), model, meta)
    runs = []
    win.worker.load_checkpoint(str(folder / "best.npz"), done=runs.append)
    assert wait_until(qtbot, lambda: runs, 30), win._errors
    return model


def export_action(win):
    file_menu = win.menuBar().actions()[0].menu()
    return next(a for a in file_menu.actions() if a.text().startswith("Export model"))


def answer_dialogs(monkeypatch, *answers):
    """The save dialog answers (path, chosen filter) in turn."""
    it = iter(answers)
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", lambda *args: next(it))


def test_export_writes_onnx_and_safetensors(window, qtbot, tmp_path, monkeypatch):
    from gui.app import EXPORT_FILTERS
    model = checkpoint_run(qtbot, window, tmp_path / "run", input_shape=[1, 28, 28])
    answer_dialogs(monkeypatch, (str(tmp_path / "net"), EXPORT_FILTERS["onnx"]),
                   (str(tmp_path / "w"), EXPORT_FILTERS["safetensors"]))
    export_action(window).trigger()
    assert wait_until(qtbot, lambda: (tmp_path / "net.onnx").is_file() and not window.state.busy, 60), window._errors
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
    session = ort.InferenceSession(str(tmp_path / "net.onnx"), providers=["CPUExecutionProvider"])
    with engine.no_grad():
        np.testing.assert_allclose(session.run(None, {"input": x})[0], model(x).numpy(), rtol=1e-5, atol=1e-5)
    export_action(window).trigger()
    assert wait_until(qtbot, lambda: (tmp_path / "w.safetensors").is_file() and not window.state.busy, 60)
    arrays, _ = read_safetensors(tmp_path / "w.safetensors")
    assert sorted(arrays) == sorted(model.state_dict())
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(arrays[k], v)
    assert window._errors == []


def test_export_mistakes_end_in_a_dialog(window, qtbot, tmp_path, monkeypatch):
    export_action(window).trigger()                      # no run yet
    assert window._errors == ["Train a model or load a checkpoint first, then export it."]
    checkpoint_run(qtbot, window, tmp_path / "run")      # a checkpoint without its input shape
    window.export_model(str(tmp_path / "m.onnx"), "onnx")
    assert wait_until(qtbot, lambda: len(window._errors) == 2, 30)
    assert "does not record its input shape" in window._errors[1] and not (tmp_path / "m.onnx").exists()
    (tmp_path / "taken").mkdir()
    window.export_model(str(tmp_path / "taken"), "safetensors")
    assert window._errors[2] == f"Could not export the model: {tmp_path / 'taken'} is a folder; choose a file name."
    window.export_model(str(tmp_path / "m.safetensors"), "safetensors")      # what it can write, it writes
    assert wait_until(qtbot, lambda: (tmp_path / "m.safetensors").is_file() and not window.state.busy, 30)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "run", "taken"]
    assert len(window._errors) == 3
