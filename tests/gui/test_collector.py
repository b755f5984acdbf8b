"""gui.collector: Python's cycle collector runs on the GUI thread only (a cycle holding a
Qt object collected on the engine thread hung the studio; one collected inside a paint
crashed it)."""
import gc
import threading
import weakref

from helpers.qt import wait_until
from PySide6 import QtCore

from gui import collector


def test_cycles_are_collected_on_the_gui_thread_only(qtbot):
    collections = []

    def record(phase, info):
        if phase == "start":
            collections.append(threading.get_ident())

    gc.callbacks.append(record)
    try:
        assert collector.running() and not gc.isenabled()
        obj = QtCore.QObject()
        obj.me = obj                                     # a reference cycle through a Qt object
        ref = weakref.ref(obj)
        del obj

        def allocate():                                  # cycles past every generation's threshold
            for _ in range(50_000):
                x = []
                x.append(x)
        worker = threading.Thread(target=allocate)
        worker.start()
        worker.join()
        assert ref() is not None and collections == []   # nothing was collected on the other thread
        assert wait_until(qtbot, lambda: ref() is None, 10 * collector.INTERVAL)
        assert set(collections) == {threading.get_ident()}
    finally:
        gc.callbacks.remove(record)


def test_stop_gives_collection_back_to_cpython(qtbot):
    assert gc.get_freeze_count() > 0                     # start-up's objects: no full collection walks them
    collector.stop()
    assert gc.isenabled() and not collector.running() and gc.get_freeze_count() == 0
    collector.start()
    collector.start()                                    # idempotent
    assert collector.running() and not gc.isenabled()
