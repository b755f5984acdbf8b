"""train_arm's edges: a diverging arm, a stopped run."""
import threading

import numpy as np
import pytest

from engine import experiments, models
from engine.experiments import data
from engine.experiments.arms import eval_loader, loader, seeded, sgd, train_arm


@pytest.fixture(scope="module")
def split(shared_data):
    return data.mnist(shared_data, 128, 64, seed=0)


def test_a_diverging_arm_ends_with_its_unfinished_epoch(split):
    model = seeded(models.get, 0, "mnist_cnn")
    args = ("t", "huge lr", model, loader(split.train, 16, True, 0), eval_loader(split.val), 2, sgd(model, 1e4))
    res = train_arm(*args, divergence_ok=True)
    assert res.reason == "nan"
    assert len(res.epochs) == 1 and res.epochs[0]["epoch"] == 0
    assert 0 <= res.last("val_accuracy") <= 1 and np.isfinite(res.last("val_loss"))
    assert res.epochs[0]["step"] == len(res.steps)
    model = seeded(models.get, 0, "mnist_cnn")
    with pytest.raises(RuntimeError, match="arm huge lr: training ended early \\(nan\\)"):
        train_arm("t", "huge lr", model, loader(split.train, 16, True, 0), eval_loader(split.val), 2, sgd(model, 1e4))


def test_stop_ends_the_run_without_a_report(shared_data, tmp_path):
    stop = threading.Event()
    stop.set()
    with pytest.raises(experiments.ExperimentError, match="experiment shuffle: stopped by the user during arm 'shuffled'"):
        experiments.run("shuffle", "tiny", tmp_path / "out", data_root=shared_data, stop=stop)
    assert not (tmp_path / "out").exists()


def test_measure_returns_the_report_unwritten(shared_data, tmp_path):
    report = experiments.measure("one-by-one", "tiny", data_root=shared_data)
    assert report.finding and not list(tmp_path.iterdir())
    path = report.write(tmp_path / "r")
    assert path.read_text().startswith("# Experiment: one-by-one")


def test_without_the_plotting_extra_the_report_says_plots_were_skipped(shared_data, tmp_path, monkeypatch):
    from engine.experiments import plot, report

    def unavailable(*args):
        raise plot.PlotUnavailable("pyqtgraph/PySide6 are not installed (the gui extra)")
    monkeypatch.setattr(report, "line_plot", unavailable)
    path = experiments.run("one-by-one", "tiny", tmp_path / "r", data_root=shared_data)
    text = path.read_text()
    assert "- plots skipped: pyqtgraph/PySide6 are not installed (the gui extra)" in text
    assert not list((tmp_path / "r").glob("*.png")) and "![" not in text
