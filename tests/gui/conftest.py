"""GUI tests: headless Qt, settings in a temporary folder, real MNIST when present."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")   # before any Qt import
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import time  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _config_dir(tmp_path, monkeypatch):
    """Every test gets its own settings file and run folder."""
    monkeypatch.setenv("NUMBACNN_CONFIG", str(tmp_path / "config"))
    return tmp_path / "config"


def wait_until(qtbot_or_app, condition, timeout: float, step_ms: int = 20) -> bool:
    """Processes Qt events until ``condition()`` or ``timeout`` seconds; returns condition()."""
    from PySide6 import QtWidgets
    app = QtWidgets.QApplication.instance()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        app.processEvents()
        time.sleep(step_ms / 1000)
    return bool(condition())


@pytest.fixture
def make_window(qtbot, shared_data):
    """A MainWindow on real MNIST (small, fast settings); closed after the test."""
    from gui.app import MainWindow
    from gui.state import AppState
    made = []

    def make(**hyper):
        state = AppState()
        state.set_data(name="MNIST", root=str(shared_data), limit=4000, val_fraction=0.1)
        state.set_model(source="zoo", zoo_name="mnist_cnn")
        settings = dict(batch_size=32, epochs=1, lr=0.05, snapshot_hz=4.0)
        settings.update(hyper)
        state.set_hyper(**settings)
        win = MainWindow(state, load_settings=False)
        qtbot.addWidget(win)
        win.show()
        made.append(win)
        assert wait_until(qtbot, lambda: state.dataset_info is not None, 60), "the dataset did not load"
        return win

    yield make
    for win in made:
        if win.worker.training:
            win.worker.stop()
        win.worker.shutdown(timeout=30)
