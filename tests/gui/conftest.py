"""GUI tests: headless Qt, settings in a temporary folder, real MNIST when present."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")   # before any Qt import
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import pytest  # noqa: E402
from helpers.qt import wait_until  # noqa: E402


@pytest.fixture(autouse=True)
def _collect_on_the_gui_thread(gui_collector):
    """Every GUI test runs with the studio's collection policy (gui.collector)."""


@pytest.fixture(autouse=True)
def _config_dir(tmp_path, monkeypatch):
    """Every test gets its own settings file and run folder."""
    monkeypatch.setenv("NUMBACNN_CONFIG", str(tmp_path / "config"))
    return tmp_path / "config"


@pytest.fixture
def make_window(qtbot, shared_data):
    """A MainWindow on real MNIST (small, fast settings); closed after the test."""
    from gui.app import MainWindow
    from gui.state import AppState

    def make(**hyper):
        state = AppState()
        state.set_data(name="MNIST", root=str(shared_data), limit=4000, val_fraction=0.1)
        state.set_model(source="zoo", zoo_name="mnist_cnn")
        settings = dict(batch_size=32, epochs=1, lr=0.05, snapshot_hz=4.0)
        settings.update(hyper)
        state.set_hyper(**settings)
        win = MainWindow(state, load_settings=False)
        qtbot.addWidget(win, before_close_func=_end_training)
        win.show()
        assert wait_until(qtbot, lambda: state.dataset_info is not None, 60), "the dataset did not load"
        return win

    return make


def _end_training(win):
    """Before pytest-qt closes a window: its run stopped and its engine thread ended (a
    window closed while a run trains asks the user first)."""
    if win.worker.training:
        win.worker.stop()
    win.worker.shutdown(timeout=30)
