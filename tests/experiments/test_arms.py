"""An experiment's arms: the recipe settings its budget gives, fresh loaders per arm,
train_arm's edges (a diverging arm, a stopped run), an unwritten report."""
import threading

import numpy as np
import pytest

from engine import experiments
from engine.experiments.context import Context
from engine.experiments.report import Report
from engine.train.recipe import open_data

HUGE_LR = dict(n_train=128, n_val=64, epochs=2, batch=16, lr=1e4)


@pytest.fixture(scope="module")
def huge_lr(shared_data):
    """An experiment's context whose SGD learning rate makes mnist_cnn diverge, and its data."""
    ctx = Context("t", "tiny", HUGE_LR, shared_data, Report("t", "?", "tiny"))
    s = ctx.settings("mnist", model="mnist_cnn")
    return ctx, s, open_data(s)


def test_arm_settings_come_from_the_budget(huge_lr):
    ctx, s, data = huge_lr
    assert (s.dataset, s.train_size, s.val_size, s.subset_seed, s.epochs, s.batch_size) == ("mnist", 128, 64, 0, 2, 16)
    assert (s.optimizer, s.lr, s.momentum, s.schedule, s.seed) == ("sgd", 1e4, 0.9, "none", 0)
    assert (len(data.train), len(data.val)) == (128, 64)


def test_a_diverging_arm_ends_with_its_unfinished_epoch(huge_lr):
    ctx, s, data = huge_lr
    res = ctx.train("huge lr", s, data, divergence_ok=True)
    assert res.reason == "nan"
    assert len(res.epochs) == 1 and res.epochs[0]["epoch"] == 0
    assert 0 <= res.last("val_accuracy") <= 1 and np.isfinite(res.last("val_loss"))
    assert res.epochs[0]["step"] == len(res.steps)
    with pytest.raises(RuntimeError, match="arm huge lr: training ended early \\(nan\\)"):
        ctx.train("huge lr", s, data)


def test_every_arm_gets_fresh_loaders_and_the_same_start(huge_lr):
    """Two arms of the same settings take the same steps: no loader state carries over."""
    ctx, s, data = huge_lr
    one, two = (ctx.train("a", s, data, divergence_ok=True) for _ in range(2))
    assert one.steps and [st[:4] for st in one.steps] == [st[:4] for st in two.steps]


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
