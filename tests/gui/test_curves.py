"""The plots as TensorBoard draws them: a log loss axis that reads in the loss's values,
legends named by run and kept off the data, an x axis by step, epoch or wall time shared
by the loss, accuracy and learning-rate plots, an x range that fits the data during a
run, and a plain note instead of empty axes."""
import numpy as np
import pytest

from engine.train import events as E
from gui.state import AppState
from gui.widgets.curves import CurvesView
from gui.widgets.heatmap import BarChart, HeatMap
from gui.widgets.xmodes import run_x

SPE = 100          # steps per epoch of the fake runs


def _batches(n, loss, lr, first=1):
    return [E.BatchEnd(epoch=(s - 1) // SPE, step=s, loss=float(loss(s)), accuracy=0.5, lr=float(lr(s)),
                       images_per_sec=1000.0, progress=s / 1000, eta_seconds=1.0) for s in range(first, n + 1)]


def _epochs(n, loss, seconds=3.0):
    return [E.EpochEnd(epoch=k, step=(k + 1) * SPE, train_loss=float(loss((k + 1) * SPE)), train_accuracy=0.5,
                       val_loss=float(loss((k + 1) * SPE)), val_accuracy=0.5, lr=0.01, seconds=seconds)
            for k in range(n)]


def live_run(state, steps=250, loss=lambda s: 0.3 * np.exp(-s / 100) + 0.02, lr=lambda s: 0.01, epochs=10):
    """A training run that has reported ``steps`` batches of a planned ``epochs`` x SPE."""
    run = state.new_run()
    state.apply_events(run.id, [E.TrainStart(epochs=epochs, start_epoch=0, steps_per_epoch=SPE, batch_size=64,
                                             model_summary="")])
    state.apply_events(run.id, _batches(steps, loss, lr) + _epochs(steps // SPE, loss))
    return run


@pytest.fixture
def view(qtbot):
    state = AppState()
    v = CurvesView(state)
    v.resize(900, 900)
    qtbot.addWidget(v)
    v.show()
    return v


def _labels(axis):
    """Every tick label the axis draws now."""
    lo, hi = axis.range
    return [t for spacing, values in axis.tickValues(lo, hi, axis.height())
            for t in axis.tickStrings(values, axis.autoSIPrefixScale, spacing if spacing is not None else 1.0)]


def test_the_log_loss_axis_reads_in_loss_values_without_an_si_prefix(view):
    run = live_run(view.state)          # losses from 0.32 down to 0.05: pyqtgraph would say "(x0.001)"
    view.log_scale.setChecked(True)
    view.redraw()
    axis = view.loss_plot.getAxis("left")
    assert axis.logMode and axis.autoSIPrefixScale == 1.0 and axis.labelUnitPrefix == ""
    assert "x0.001" not in axis.labelString() and "loss" in axis.labelString()
    labels = [t for t in _labels(axis) if t]
    assert labels and all(0.01 <= float(t) <= 1.0 for t in labels), labels     # the values, not 10^k
    assert "0.1" in labels
    lo, hi = (10 ** v for v in axis.range)
    b = run.batch_arrays()["loss"]
    assert lo <= b.min() and hi >= b.max()


def test_epoch_only_mode_with_one_epoch_has_a_readable_axis(view):
    live_run(view.state, steps=100)
    view.show_batch.setChecked(False)
    for log in (False, True):
        view.log_scale.setChecked(log)
        view.redraw()
        axis = view.loss_plot.getAxis("left")
        lo, hi = axis.range
        assert hi - lo > 1e-3, "one epoch point must not collapse the y range"
        assert axis.autoSIPrefixScale == 1.0
        labels = [t for t in _labels(axis) if t]
        assert labels and all(0.0 <= float(t) < 1.0 for t in labels), (labels, axis.range, axis.height())


def test_every_legend_entry_names_its_run_and_the_legend_is_off_the_data(view, qtbot):
    a, b = live_run(view.state), live_run(view.state, loss=lambda s: 0.5 * np.exp(-s / 90) + 0.03)
    view.redraw()
    qtbot.wait(100)                      # the plots lay their legends out
    for plot in (view.loss_plot, view.acc_plot):
        labels = plot.legend_labels()
        assert len(labels) == 6, labels
        assert all(label.startswith((a.name + " · ", b.name + " · ")) for label in labels)
        legend = plot.legend.sceneBoundingRect()
        data = plot.getViewBox().sceneBoundingRect()
        assert legend.height() > 0 and not legend.intersects(data)


def test_x_modes_map_the_same_records_to_steps_epochs_and_seconds(view):
    run = live_run(view.state)
    b = run.batch_arrays()
    assert len(b["seconds"]) == len(b["step"]) and np.all(np.diff(b["seconds"]) >= 0)
    bx, ex = run_x(run, "step")
    assert bx[149] == 150 and list(ex) == [100, 200]
    bx, ex = run_x(run, "epoch")
    assert bx[149] == pytest.approx(1.5) and bx[-1] == pytest.approx(2.5) and list(ex) == [1, 2]
    bx, ex = run_x(run, "time")
    assert np.array_equal(bx, b["seconds"])
    # a run read from files has no per-batch times: its batches lie between its epochs' ends
    old = view.state.add_run_from_history("from disk", {}, [{"epoch": k, "step": (k + 1) * SPE, "train_loss": 0.1,
                                                              "train_accuracy": 0.5, "seconds": 3.0} for k in range(2)])
    for s in range(1, 251):
        for column, v in (("step", s), ("epoch", (s - 1) // SPE), ("loss", 0.1), ("accuracy", 0.5), ("lr", 0.01),
                          ("images_per_sec", 1.0)):
            old.batches[column].append(v)
    bx, ex = run_x(old, "time")
    assert bx[149] == pytest.approx(4.5) and bx[-1] == pytest.approx(7.5) and list(ex) == [3.0, 6.0]
    with pytest.raises(ValueError, match="x axis counts one of"):
        run_x(old, "minutes")

    view.x_axis.setCurrentIndex(view.x_axis.findData("epoch"))
    assert view.state.ui["x_axis"] == "epoch"
    for plot in view.plots.values():
        assert plot.getAxis("bottom").labelText == "epoch"
    x, _ = view.loss_plot.items[f"r{run.id}loss"].getOriginalDataset()
    assert x[-1] == pytest.approx(2.5)


def test_the_three_plots_share_their_x_axis(view):
    live_run(view.state)
    view.redraw()
    ranges = [p.getViewBox().viewRange()[0] for p in view.plots.values()]
    assert ranges[0] == ranges[1] == ranges[2]
    view.acc_plot.getViewBox().setXRange(40, 60, padding=0)
    for p in view.plots.values():
        assert p.getViewBox().viewRange()[0] == pytest.approx([40, 60])
    view.acc_plot.getViewBox().sigRangeChangedManually.emit([True, False])     # as a drag does
    assert not view.following
    view.fit()
    for p in view.plots.values():
        lo, hi = p.getViewBox().viewRange()[0]
        assert lo == pytest.approx(1) and 250 <= hi <= 300


def test_the_learning_rate_is_plotted_from_the_batches(view):
    run = live_run(view.state, lr=lambda s: 0.1 * 0.5 ** ((s - 1) // SPE))
    view.redraw()
    x, y = view.lr_plot.items[f"r{run.id}lr"].getOriginalDataset()
    assert len(x) == 250 and y[0] == pytest.approx(0.1) and y[-1] == pytest.approx(0.025)


def test_the_x_axis_fits_the_data_during_a_run_not_the_planned_total(view):
    run = live_run(view.state, steps=30, epochs=10)            # 1000 steps planned
    view.redraw()
    lo, hi = view.loss_plot.getViewBox().viewRange()[0]
    assert hi >= 30 and hi <= 30 * 1.2
    view.state.apply_events(run.id, _batches(300, lambda s: 0.1, lambda s: 0.01, first=31))
    view.redraw()
    lo, hi = view.loss_plot.getViewBox().viewRange()[0]
    assert 300 <= hi <= 300 * 1.2


def test_plots_without_data_show_a_note_and_no_axes(view, qtbot):
    for plot in view.plots.values():
        assert plot.note.isVisible() and "no data yet" in plot.note.text()
        assert not plot.getAxis("left").isVisible() and not plot.getAxis("bottom").isVisible()
    live_run(view.state)
    view.redraw()
    for plot in view.plots.values():
        assert not plot.note.isVisible() and plot.getAxis("left").isVisible()

    heat, bars = HeatMap(), BarChart("Images per class", "images")
    for w in (heat, bars):
        qtbot.addWidget(w)
        w.show()
        assert w.note.isVisible() and w.note.geometry() == w.rect()
        assert not w.getAxis("left").isVisible() and not w.getAxis("bottom").isVisible()
    heat.set_matrix(np.array([[3, 1], [0, 4]]), ["a", "b"])
    bars.set_bars(["a", "b"], {"images": [3, 4]})
    for w in (heat, bars):
        assert not w.note.isVisible() and w.getAxis("left").isVisible()
    bars.set_bars([], {})
    assert bars.note.isVisible()
    with pytest.raises(ValueError, match="square"):
        heat.set_matrix(np.zeros((2, 3)))


def test_a_view_brought_to_the_front_shows_every_plot_at_once(view):
    view.hide()
    run = live_run(view.state)                                 # a run trained while another tab was in front
    view.show()                                                # no timer tick in between
    for plot in view.plots.values():
        assert any(key.startswith(f"r{run.id}") for key in plot.items), plot
