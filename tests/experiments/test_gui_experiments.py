"""The studio's Experiments tab: a tiny run on the engine thread draws one live curve per
arm and writes the report; Stop ends a run with its sentence and no report."""
import os

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
pytestmark = pytest.mark.usefixtures("gui_collector")      # the studio's collection policy (gui.collector)

from helpers.qt import wait_until  # noqa: E402

from engine.experiments.arms import STEP_COLUMNS  # noqa: E402


@pytest.fixture
def panel(qtbot, shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBACNN_CONFIG", str(tmp_path / "config"))
    from gui.panels.experiments import ExperimentsPanel
    from gui.state import AppState
    from gui.worker import Worker
    state = AppState()
    state.set_data(root=str(shared_data))
    state.set_hyper(runs_dir=str(tmp_path / "runs"))
    worker = Worker(state)
    p = ExperimentsPanel(state, worker)
    qtbot.addWidget(p)
    yield p
    worker.shutdown()


def test_a_tiny_run_draws_live_curves_and_writes_the_report(panel, qtbot, tmp_path):
    panel.name.setCurrentText("activation")
    panel.budget.setCurrentText("tiny")
    assert panel.question.text().startswith("Why does ReLU train faster")
    panel.run_button.click()
    assert not panel.run_button.isEnabled() and panel.stop_button.isEnabled()
    assert wait_until(qtbot, lambda: panel.status.text().startswith("report: "), 120), panel.status.text()
    report = tmp_path / "runs" / "experiments"
    folder = next(report.iterdir())
    assert folder.name.startswith("activation-")
    text = (folder / "report.md").read_text()
    assert panel.finding.text() and panel.finding.text() in text
    assert (folder / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"     # drawn on the GUI thread
    rows = (folder / "steps.csv").read_text().splitlines()
    assert rows[0] == ",".join(STEP_COLUMNS)
    # one curve per arm, holding every step the CSV holds
    assert set(panel._curves) == {"sigmoid (LeNet-5)", "ReLU"}
    for arm, curve in panel._curves.items():
        x, _ = curve.getData()
        assert len(x) == sum(1 for r in rows[1:] if r.startswith(arm + ","))
    assert panel.run_button.isEnabled() and not panel.stop_button.isEnabled()


def test_stop_ends_the_run_without_a_report(panel, qtbot, tmp_path):
    panel.name.setCurrentText("shuffle")
    panel.budget.setCurrentText("tiny")
    panel.run_button.click()
    panel.stop_button.click()
    assert wait_until(qtbot, lambda: "stopped by the user" in panel.status.text(), 120), panel.status.text()
    assert not (tmp_path / "runs" / "experiments").exists() or not any((tmp_path / "runs" / "experiments").iterdir())
    assert panel.run_button.isEnabled()


def test_the_studio_has_the_tab(qtbot, shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBACNN_CONFIG", str(tmp_path / "config"))
    from gui.app import MainWindow
    from gui.panels.experiments import ExperimentsPanel
    from gui.state import AppState
    state = AppState()
    state.set_data(name="MNIST", root=str(shared_data), limit=1000)
    win = MainWindow(state, load_settings=False)
    qtbot.addWidget(win)
    panel = win.experiments_panel
    assert isinstance(panel, ExperimentsPanel)
    assert win.tabs.tabText(win.tabs.indexOf(panel)) == "Experiments"
    win.close()
