"""``python -m gui`` / ``numbacnn-studio``: the desktop trainer.

Before Qt starts, the system libraries its X11 platform plugin (xcb) loads are checked:
Qt aborts the process without naming them when one is missing (a bare Debian lacks
libxcb-icccm4 and libxcb-keysyms1), so the studio names them and the packages that
hold them, and exits with status 2.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import sys

XCB_LIBRARIES = {
    # soname -> Debian package: what PySide6's libqxcb.so and libQt6XcbQpa.so.6 load (their ELF NEEDED
    # entries) beyond what QtGui loads itself (a library QtGui lacks fails its import, by name)
    "libxcb.so.1": "libxcb1", "libX11-xcb.so.1": "libx11-xcb1", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-util.so.1": "libxcb-util1",
    "libxcb-image.so.0": "libxcb-image0", "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0", "libxcb-randr.so.0": "libxcb-randr0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-sync.so.1": "libxcb-sync1", "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0", "libxkbcommon-x11.so.0": "libxkbcommon-x11-0"}


def uses_xcb(env=os.environ) -> bool:
    """Whether Qt will take the X11 platform plugin: on Linux, when QT_QPA_PLATFORM says xcb,
    or says nothing outside a Wayland session."""
    platform = env.get("QT_QPA_PLATFORM", "")
    return sys.platform.startswith("linux") and (platform.startswith("xcb") or
                                                 (not platform and not env.get("WAYLAND_DISPLAY")))


def missing_libraries(libraries=XCB_LIBRARIES) -> list[str]:
    """The libraries of ``libraries`` (soname -> package) that the system cannot load."""
    missing = []
    for soname in libraries:
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing.append(soname)
    return missing


def missing_libraries_message(missing: list[str], libraries=XCB_LIBRARIES) -> str:
    """One sentence naming the missing libraries and the packages to install."""
    packages = " ".join(dict.fromkeys(libraries[m] for m in missing))
    return (f"numbacnn-studio cannot start: Qt's X11 platform plugin (xcb) needs {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed; on Debian or Ubuntu: sudo apt-get install "
            f"{packages} (or run with QT_QPA_PLATFORM=offscreen, without a window)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="numbacnn-studio", description="numbacnn's desktop trainer (PySide6)")
    p.add_argument("--data-root", help="folder holding the datasets (default: last session's, else ./data)")
    p.add_argument("--config", help="settings file (default: $NUMBACNN_CONFIG or ~/.config/numbacnn/studio.json)")
    p.add_argument("--fresh", action="store_true", help="ignore the last session's settings")
    p.add_argument("--quit-after", type=float, default=None, help=argparse.SUPPRESS)   # smoke tests
    args = p.parse_args(argv)
    if args.config:
        os.environ["NUMBACNN_CONFIG"] = args.config
    missing = missing_libraries() if uses_xcb() else []
    if missing:
        print(missing_libraries_message(missing), file=sys.stderr)
        return 2

    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    from PySide6 import QtWidgets
    import pyqtgraph as pg

    from .app import MainWindow
    from .state import AppState

    pg.setConfigOptions(antialias=False, imageAxisOrder="row-major")   # software rendering stays cheap
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("numbacnn studio")
    app.setOrganizationName("numbacnn")
    state = AppState()
    if not args.fresh:
        state.load()
    if args.data_root:
        state.set_data(root=args.data_root)
    win = MainWindow(state, load_settings=False)
    win.show()
    if args.quit_after is not None:
        from PySide6 import QtCore
        QtCore.QTimer.singleShot(int(args.quit_after * 1000), win.close)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
