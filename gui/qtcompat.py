"""Work-arounds for the Qt binding this project runs on.

PySide6 6.12.0 on CPython 3.11: its wrappers hand back ``None`` (every void method:
``QLabel.setText``, QTimer slots, ...) and ``True`` (``SignalInstance.emit``) without
taking a new reference, as if those objects were immortal — which they are only from
CPython 3.12 on. Each such call drops one reference, so a session of a few thousand
calls takes the count to zero and the interpreter aborts with "Fatal Python error:
none_dealloc: deallocating None" (or "bool_dealloc: deallocating True or False").

``guard()`` detects the defect at run time (a few probe calls) and, only where it is
present, gives ``None``, ``True`` and ``False`` a reserve of references large enough
for any session — the immortality CPython 3.12 gives them by design. It is idempotent
and cheap, and does nothing on a binding or interpreter without the defect.
"""
from __future__ import annotations

import ctypes
import sys

_RESERVE = 1 << 40
_done = False


def leaks() -> dict:
    """{"None": bool, "True": bool}: whether Qt calls drop references to them."""
    from PySide6 import QtCore

    class _Probe(QtCore.QObject):
        sig = QtCore.Signal()

    probe = _Probe()
    n0, t0 = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(64):
        probe.setObjectName("probe")      # a void method: returns None
        probe.sig.emit()                  # returns True
    return {"None": sys.getrefcount(None) - n0 <= -32, "True": sys.getrefcount(True) - t0 <= -32}


def guard() -> bool:
    """Applies the work-around if this PySide6 needs it; returns whether it did."""
    global _done
    if _done:
        return False
    _done = True
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False       # None, True and False are immortal there
    found = leaks()
    if not any(found.values()):
        return False
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += _RESERVE
    return True


guard()
