"""The window's other promises: data samples and augmentation preview, the schedule
preview, CUDA greyed out when unavailable, last session's settings remembered."""
import numpy as np

from helpers.qt import wait_until


def test_data_tab_samples_and_augmentation(make_window, qtbot):
    win = make_window()
    dp = win.data_panel
    assert dp.samples.count >= 10 and "train 3,600 · validation 400 · 10,000 test" in dp.info.text()
    assert len(win.state.dataset_info["counts"]) == 10
    assert not dp.aug_box.isVisibleTo(dp)
    dp.augment.setChecked(True)
    assert wait_until(qtbot, lambda: win.state.dataset_info.get("augmented") is not None, 30)
    assert dp.aug_box.isVisibleTo(dp) and dp.augmented.count == dp.samples.count
    info = win.state.dataset_info
    assert info["augmented"].shape == info["samples"].shape
    assert not np.array_equal(info["augmented"], info["samples"])   # the crop moved the digits


def test_schedule_preview_and_cuda_state(make_window):
    win = make_window(epochs=6)
    tp = win.train_panel
    tp.schedule.setCurrentText("StepLR")
    tp.step_size.setValue(2)
    x, y = tp.lr_curve.getData()
    assert x[-1] > 5 and np.isclose(y[0], 0.05) and np.isclose(y[-1], 0.05 * 0.1 ** 2)
    tp.schedule.setCurrentText("OneCycleLR")
    x, y = tp.lr_curve.getData()
    assert y.argmax() > 0 and y[-1] < y.max() / 100
    from engine import cuda_available
    cuda_item = tp.device.model().item(1)
    assert cuda_item.isEnabled() == cuda_available()
    if not cuda_available():
        assert "unavailable" in cuda_item.toolTip() and "unavailable" in tp.cuda_note.text()


def test_cosine_preview_decays_every_batch_and_the_benchmark_tab_gets_the_engines_result(make_window, qtbot):
    win = make_window(epochs=3)
    tp = win.train_panel
    tp.schedule.setCurrentText("CosineAnnealingLR")
    x, y = tp.lr_curve.getData()
    first = y[x < 1]
    assert len(first) > 10 and np.all(np.diff(first) < 0)          # per batch, not a staircase of epochs
    win.worker.run_benchmark(quick=True)
    assert wait_until(qtbot, lambda: win.state.benchmark is not None, 120)
    result = win.state.benchmark
    assert result["schema"] == "numbacnn.bench/1" and result["size"] == "tiny" and result["repeats"] == 3
    assert {r["op"] for r in result["kernels"]} >= {"conv", "linear", "sgd"}


def test_last_session_is_remembered(make_window, qtbot, _config_dir):
    from gui.app import MainWindow
    win = make_window()
    win.train_panel.lr.setValue(0.0123)
    win.train_panel.optimizer.setCurrentText("Adam")
    win.data_panel.augment.setChecked(True)
    win.model_panel.zoo.setCurrentText("lenet5")
    win.tabs.setCurrentIndex(2)
    win.close()
    assert (_config_dir / "studio.json").is_file()
    again = MainWindow()
    qtbot.addWidget(again)
    st = again.state
    assert st.hyper.lr == 0.0123 and st.hyper.optimizer == "Adam" and st.data.augment
    assert st.model.zoo_name == "lenet5" and again.tabs.currentIndex() == 2
    assert again.train_panel.optimizer.currentText() == "Adam" and again.data_panel.augment.isChecked()
    again.close()


def test_entry_point_starts_and_quits(tmp_path):
    import os
    import subprocess
    import sys
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", NUMBACNN_CONFIG=str(tmp_path / "cfg"))
    out = subprocess.run([sys.executable, "-m", "gui", "--fresh", "--data-root", str(tmp_path / "nothing"),
                          "--quit-after", "1.5"], capture_output=True, text=True, env=env, timeout=120,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "cfg" / "studio.json").is_file()       # settings written on the way out


def test_the_benchmark_tab_reads_engine_bench_results_and_nothing_else():
    import pytest

    from gui.panels.bench import NotBenchResults, parse, parse_models
    result = {"schema": "numbacnn.bench/1",
              "kernels": [{"op": "conv", "device": "cpu", "pass": "forward", "shape": "s", "ms": 2.0},
                          {"op": "conv", "device": "cuda", "pass": "forward", "shape": "s", "ms": 0.5}],
              "models": [{"model": "vgg16", "device": "cpu", "batch_size": 8, "images_per_sec": 10.0},
                         {"model": "vgg16", "device": "cuda", "batch_size": 8, "error": "out of memory"}]}
    assert parse(result) == (["conv fwd"], {"cpu": [2.0], "cuda": [0.5]})
    assert parse_models(result) == (["vgg16 (batch 8)"], {"cpu": [10.0]})
    with pytest.raises(NotBenchResults, match="not an engine.bench result"):
        parse({"rows": [{"name": "conv", "cpu_ms": 1.0}]})


def test_views_reach_the_engine_only_through_the_worker():
    """No view touches the engine thread (worker.engine): gui/worker.py is their one door."""
    import ast
    from pathlib import Path

    gui = Path(__file__).resolve().parents[2] / "gui"
    views = [gui / "app.py", *sorted((gui / "panels").glob("*.py")), *sorted((gui / "widgets").glob("*.py"))]
    reached = [f"{path.name}:{node.lineno}" for path in views for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.Attribute) and node.attr == "engine"
               and isinstance(node.value, ast.Attribute) and node.value.attr == "worker"]
    assert len(views) > 10 and not reached, reached
