"""``python -m gui`` / ``numbacnn-studio``: the desktop trainer."""
from __future__ import annotations

import argparse
import os
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="numbacnn-studio", description="numbacnn's desktop trainer (PySide6)")
    p.add_argument("--data-root", help="folder holding the datasets (default: last session's, else ./data)")
    p.add_argument("--config", help="settings file (default: $NUMBACNN_CONFIG or ~/.config/numbacnn/studio.json)")
    p.add_argument("--fresh", action="store_true", help="ignore the last session's settings")
    p.add_argument("--quit-after", type=float, default=None, help=argparse.SUPPRESS)   # smoke tests
    args = p.parse_args(argv)
    if args.config:
        os.environ["NUMBACNN_CONFIG"] = args.config

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
