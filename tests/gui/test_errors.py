"""An exception in training appears in a dialog with its message; the app stays alive
and keeps the run's checkpoints and metrics so far."""
from pathlib import Path

import pytest

from helpers.qt import wait_until


@pytest.fixture
def failing_model(monkeypatch):
    """mnist_cnn whose last layer raises in its 25th backward pass (training step 25): a
    forward hook puts a gradient hook on every training output of the last Linear."""
    from engine.train.recipe import builder
    real = builder.build_model
    calls = {"n": 0}

    def failing(grad):
        calls["n"] += 1
        if calls["n"] == 25:
            raise RuntimeError("injected failure in the last Linear layer")

    def hook(layer, inputs, out):
        if out.requires_grad:
            out.register_hook(failing)

    def build(settings, shape, num_classes):
        m = real(settings, shape, num_classes)
        m[len(m) - 1].register_forward_hook(hook)
        return m
    monkeypatch.setattr(builder, "build_model", build)
    return calls


def test_training_error_shows_dialog_and_keeps_the_run(make_window, qtbot, failing_model, monkeypatch):
    win = make_window(epochs=3)
    st = win.state
    st.set_data(limit=640)                                  # 18 steps per epoch: one epoch ends before the failure
    run = win.train_panel.start()
    assert wait_until(qtbot, lambda: run.status == "error", 180), run.status
    assert wait_until(qtbot, lambda: win._errors, 10)
    assert "injected failure in the last Linear layer" in win._errors[-1]
    box = win._last_error_box
    assert box.isVisible() and "injected failure" in box.text() and run.directory in box.informativeText()
    assert wait_until(qtbot, lambda: not win.worker.training, 10)

    d = Path(run.directory)
    assert (d / "last.npz").is_file()                        # epoch 1's checkpoint is kept
    assert (d / "error.npz").is_file()                       # and the weights at the failure beside it
    assert (d / "metrics.csv").read_text().count("\n") == 2  # header + epoch 1
    rows = (d / "studio_metrics.csv").read_text().splitlines()
    assert sum(r.startswith("batch,") for r in rows) == 24   # every batch before the failing one
    assert len(run.epochs) == 1 and run.batch_arrays()["step"][-1] == 24

    # the app lives on: a new run trains
    box.close()
    monkeypatch.undo()
    assert win.train_panel.start_btn.isEnabled()
    again = win.train_panel.start(max_steps=3)
    assert again is not None and again.id != run.id
    assert wait_until(qtbot, lambda: again.status == "stopped", 120), again.status
    assert again.step == 3
