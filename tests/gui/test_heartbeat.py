"""The window never freezes while training runs at full speed: a 10 ms heartbeat timer
on the GUI thread, run by the Qt event loop, never sees a gap over 100 ms (after the
first half second, while the engine thread may still be loading compiled kernels).

The bound is a property of the app only where the machine itself lets an idle event
loop keep it: the test first measures the same heartbeat for as long with nothing
training, and is skipped (saying so) when the machine alone already stalls it past the
bound. A stall the app causes comes back in every window (each spans epoch ends,
validation, checkpoints and curve refreshes), so a window spoiled by the machine alone
is measured once more before the test fails."""
import os
import time

import numpy as np
import pytest
from PySide6 import QtCore

from helpers.qt import wait_until

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
    win = make_window(epochs=50, batch_size=32)          # stopped by the test; an epoch is 113 steps
    tp = win.train_panel
    win.tabs.setCurrentWidget(tp)                         # the live curves refresh while it trains
    idle = heartbeat(5.0)
    if idle.max() >= BOUND:
        pytest.skip(f"the machine stalls an idle event loop for {1000 * idle.max():.0f} ms "
                    f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs): the 100 ms bound "
                    "cannot be measured here")
    run = tp.start()
    qtbot.waitUntil(lambda: run.step >= 1, timeout=180_000)
    heartbeat(0.5)                                        # the first half second is not measured
    first = run.step
    windows = [heartbeat(5.0)]
    if windows[0].max() >= BOUND:
        windows.append(heartbeat(5.0))
    steps = run.step - first
    assert run.active, "the run ended inside the measurement"
    win.worker.stop()
    assert wait_until(qtbot, lambda: not win.worker.training, 10)
    assert steps >= 5, "training did not run during the measurement"
    assert all(len(g) > 100 for g in windows), f"only {[len(g) for g in windows]} heartbeats in 5 s"
    best = min(windows, key=lambda g: g.max())
    worst = np.sort(best)[::-1]
    assert worst[0] < BOUND, (f"the GUI thread stalled for {1000 * worst[0]:.0f} ms while training ({steps} steps; "
                              f"worst gaps {np.round(1000 * worst[:5]).astype(int).tolist()} ms in the better of "
                              f"{len(windows)} windows; idle worst {1000 * idle.max():.0f} ms)")
