"""Test helper for the studio: run Qt's event loop until a condition holds."""
import time


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
