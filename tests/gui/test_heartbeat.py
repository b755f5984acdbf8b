"""The window never freezes while training runs at full speed: a 10 ms heartbeat timer
on the GUI thread, run by the Qt event loop, never sees a gap over 100 ms (after the
first half second, while the engine thread may still be loading compiled kernels)."""
import time

from PySide6 import QtCore

from conftest import wait_until


def run_event_loop(seconds: float) -> None:
    loop = QtCore.QEventLoop()
    QtCore.QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def test_gui_heartbeat_while_training(make_window, qtbot):
    win = make_window(epochs=3, batch_size=64)
    tp = win.train_panel
    win.tabs.setCurrentWidget(tp)                         # live curves redraw at 10 Hz
    beats = []
    timer = QtCore.QTimer()
    timer.setTimerType(QtCore.Qt.PreciseTimer)
    timer.setInterval(10)
    timer.timeout.connect(lambda: beats.append(time.perf_counter()))
    run = tp.start()
    qtbot.waitUntil(lambda: run.step >= 1, timeout=180_000)
    timer.start()
    t_first = time.perf_counter()
    first_step = run.step
    run_event_loop(6.0)
    steps = run.step - first_step
    timer.stop()
    win.worker.stop()
    assert wait_until(qtbot, lambda: not win.worker.training, 10)
    measured = [b for b in beats if b > t_first + 0.5]
    gaps = sorted((b - a for a, b in zip(measured, measured[1:])), reverse=True)
    assert len(gaps) > 200, f"only {len(gaps)} heartbeats in 5.5 s"
    assert steps > 20, "training did not run at speed during the measurement"
    assert gaps[0] < 0.100, (f"the GUI thread stalled for {1000 * gaps[0]:.0f} ms (steps {steps}; "
                             f"worst gaps {[round(1000 * g) for g in gaps[:5]]} ms)")
