"""Work-arounds for the Qt binding this project runs on.

PySide6 6.12.0: ``SignalInstance.emit()`` returns ``True`` without taking a new
reference to it, so every signal emitted from Python (pyqtgraph emits many:
sigTransformChanged, sigRangeChanged, ...) drops one reference to ``True``. On
CPython < 3.12, where ``True`` is not immortal, a session of a few thousand emits
takes its count to zero and the interpreter aborts with "Fatal Python error:
bool_dealloc: deallocating True or False". ``guard()`` detects the defect at run time
(64 emits of a probe signal) and, only where it is present, gives ``True`` and
``False`` a reserve of references large enough for any session (the immortality
CPython 3.12 gives them by design). It is idempotent and cheap.
"""
from __future__ import annotations

import ctypes
import sys

_RESERVE = 1 << 40
_done = False


def emit_leaks_true() -> bool:
    """Whether emitting a signal from Python drops a reference to True."""
    from PySide6 import QtCore

    class _Probe(QtCore.QObject):
        sig = QtCore.Signal()

    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(64):
        probe.sig.emit()
    return sys.getrefcount(True) - before <= -32


def guard() -> bool:
    """Applies the work-around if this PySide6 needs it; returns whether it did."""
    global _done
    if _done:
        return False
    _done = True
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False       # True and False are immortal there
    if not emit_leaks_true():
        return False
    for obj in (True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += _RESERVE
    return True


guard()
