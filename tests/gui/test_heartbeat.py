"""The window never freezes while training runs at full speed: a 10 ms heartbeat timer
on the GUI thread, run by the Qt event loop, never sees a gap over 100 ms (after the
first half second, while the engine thread may still be loading compiled kernels).

The bound is a property of the app only where the machine itself lets an idle event
loop keep it: the test first measures the same heartbeat with nothing training, and is
skipped (saying so) when the machine alone already stalls it past the bound."""
import os
import time

import numpy as np
import pytest
from PySide6 import QtCore

from conftest import wait_until

BOUND = 0.100


def heartbeat(seconds: float) -> np.ndarray:
    """Gaps between the beats of a 10 ms timer while the event loop runs ``seconds``."""
    beats = []
    timer = QtCore.QTimer()
    timer.setTimerType(QtCore.Qt.PreciseTimer)
    timer.setInterval(10)
    timer.timeout.connect(lambda: beats.append(time.perf_counter()))
    timer.start()
    loop = QtCore.QEventLoop()
    QtCore.QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    timer.stop()
    return np.diff(beats)


def test_gui_heartbeat_while_training(make_window, qtbot):
    win = make_window(epochs=3, batch_size=32)
    tp = win.train_panel
    win.tabs.setCurrentWidget(tp)                         # live curves redraw at 10 Hz
    idle = heartbeat(2.0)
    if idle.max() >= BOUND:
        pytest.skip(f"the machine stalls an idle event loop for {1000 * idle.max():.0f} ms "
                    f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs): the 100 ms bound "
                    "cannot be measured here")
    run = tp.start()
    qtbot.waitUntil(lambda: run.step >= 1, timeout=180_000)
    heartbeat(0.5)                                        # the first half second is not measured
    first = run.step
    gaps = heartbeat(5.0)
    steps = run.step - first
    win.worker.stop()
    assert wait_until(qtbot, lambda: not win.worker.training, 10)
    assert steps >= 5, "training did not run during the measurement"
    assert len(gaps) > 100, f"only {len(gaps)} heartbeats in 5 s"
    worst = np.sort(gaps)[::-1]
    assert worst[0] < BOUND, (f"the GUI thread stalled for {1000 * worst[0]:.0f} ms while training ({steps} steps; "
                              f"worst gaps {np.round(1000 * worst[:5]).astype(int).tolist()} ms, "
                              f"idle worst {1000 * idle.max():.0f} ms)")
