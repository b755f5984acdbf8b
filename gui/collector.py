"""Python's cycle collector, run on the GUI thread only.

A Qt object must be deleted on the thread that owns it. CPython's cyclic garbage
collector runs on whichever thread allocates when a generation's count crosses its
threshold: in the studio that is often the engine thread (training) or the kernels' pool,
and a reference cycle that holds a closed window's menus, a dialog or a plot is then
deleted there. Seen in the test suite: the engine thread, in ``QObject::~QObject``
holding a Qt mutex, waited for the GIL while the GUI thread, holding the GIL, waited for
that mutex (a hang), and a collection inside a plot's paint deleted a scene being painted
(a segmentation fault).

:func:`start` collects once, freezes what survives (``gc.freeze``: the modules, compiled
kernels and widgets of start-up, which a full collection would otherwise walk every time:
100 ms on the development machine, a visible stall of the GUI), turns automatic
collection off and collects on a timer of the GUI thread, generation by generation with
CPython's own thresholds (pyqtgraph's GarbageCollector); :func:`stop` unfreezes, collects
once on the calling (GUI) thread and gives collection back to CPython.
"""
from __future__ import annotations

import gc

from pyqtgraph.util.garbage_collector import GarbageCollector

INTERVAL = 1.0          # seconds between the timer's checks
_collector: GarbageCollector | None = None


def start() -> None:
    """Collect on the GUI thread from now on (idempotent; call on the GUI thread, with a
    QApplication)."""
    global _collector
    if _collector is None:
        gc.collect()
        gc.freeze()
        _collector = GarbageCollector(interval=INTERVAL)


def stop() -> None:
    """Collects once here and gives automatic collection back to CPython."""
    global _collector
    if _collector is not None:
        _collector.timer.stop()
        _collector = None
        gc.unfreeze()
        gc.collect()
        gc.enable()


def running() -> bool:
    """Whether collection is on the GUI thread's timer."""
    return _collector is not None
