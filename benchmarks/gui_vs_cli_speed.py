"""Training speed with the studio's window open vs the command line, same run.

    python benchmarks/gui_vs_cli_speed.py [--steps 800] [--warmup 100] [--repeats 3] [--platform xcb|offscreen]

Both sides train mnist_cnn on MNIST (batch 64, SGD momentum 0.9, lr 0.05, one loader
worker, no validation during the window measured). The CLI side is ``python -m engine
train`` itself; the GUI side is the studio's MainWindow on its Train tab, live curves
redrawing and feature-map snapshots at 1 Hz, as a user would watch it (``--platform xcb``:
under Xvfb, the default when ``xvfb-run`` exists; ``offscreen``: Qt's offscreen
platform). In each process a listener on the Trainer records when every optimizer step
ends, on the training thread; the rate is images per second over steps ``warmup`` ..
``warmup + steps`` (compilation and data loading excluded), and, apart, over the run's
first steps 20 .. 170: there the studio is still setting up the run's views (a third of a
second at 2 ms a step), which a run of minutes does not feel. Runs alternate CLI, GUI, CLI, GUI, ... so that changes in the
machine's load hit both; the medians, their ratio and the ratio within each back-to-back
pair are printed as a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _timed_trainer(warmup: int, steps: int, out: list):
    """Makes every Trainer record step end times and stop after warmup + steps."""
    import engine.train.trainer as TT
    orig = TT.Trainer.__init__

    def init(self, *a, **k):
        orig(self, *a, **k)

        def listen(ev):
            if type(ev).__name__ == "BatchEnd":
                out.append((ev.step, time.perf_counter()))
                if ev.step >= warmup + steps:
                    self.stop()
        self.subscribe(listen)
    TT.Trainer.__init__ = init


EARLY = (20, 170)     # the first steps of a run, reported apart from the steady window


def _rate(stamps, first, last, batch):
    t = dict(stamps)
    if first not in t or last not in t:
        raise SystemExit(f"the run ended before step {last}")
    return (last - first) * batch / (t[last] - t[first])


def _rates(stamps, args) -> dict:
    return {"images_per_sec": _rate(stamps, args.warmup, args.warmup + args.steps, args.batch),
            "early_images_per_sec": _rate(stamps, *EARLY, args.batch)}


def role_cli(args) -> dict:
    stamps: list = []
    _timed_trainer(args.warmup, args.steps, stamps)
    from engine import cli
    with tempfile.TemporaryDirectory() as tmp:
        code = cli.main(["train", "--model", "mnist_cnn", "--dataset", "mnist", "--data-root", args.data_root,
                         "--epochs", "1", "--batch-size", str(args.batch), "--optimizer", "sgd", "--lr", "0.05",
                         "--momentum", "0.9", "--train-size", str(args.images), "--workers", "1", "--quiet",
                         "--out", tmp])
    if code not in (0, None):
        raise SystemExit(f"the CLI failed with exit code {code}")
    return _rates(stamps, args)


def role_gui(args) -> dict:
    os.environ["NUMBACNN_CONFIG"] = tempfile.mkdtemp(prefix="studio-speed-")
    stamps: list = []
    _timed_trainer(args.warmup, args.steps, stamps)
    from PySide6 import QtCore, QtWidgets

    from gui.app import MainWindow
    from gui.state import AppState
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    st = AppState()
    st.set_data(name="MNIST", root=args.data_root, limit=args.images, val_fraction=0.0, augment=False)
    st.set_model(source="zoo", zoo_name="mnist_cnn")
    st.set_hyper(optimizer="SGD", lr=0.05, momentum=0.9, batch_size=args.batch, epochs=1, num_workers=1,
                 snapshot_hz=1.0)
    win = MainWindow(st, load_settings=False)
    win.resize(1280, 800)
    win.show()

    def loop(seconds):
        ev = QtCore.QEventLoop()
        QtCore.QTimer.singleShot(int(seconds * 1000), ev.quit)
        ev.exec()
    while st.dataset_info is None:
        loop(0.1)
    win.tabs.setCurrentIndex(args.tab)
    run = win.worker.start_training()
    gui_cpu = [None, None]

    def mark():
        t = dict(stamps)
        if gui_cpu[0] is None and args.warmup in t:
            gui_cpu[0] = (time.thread_time(), time.perf_counter())
        if gui_cpu[1] is None and args.warmup + args.steps in t:
            gui_cpu[1] = (time.thread_time(), time.perf_counter())
    while win.worker.training:
        loop(0.1)
        mark()
    drawn = win.train_panel.curves.point_count()
    win.close()
    if run.status == "error":
        raise SystemExit(f"the GUI run failed: {run.message}")
    share = None
    if gui_cpu[0] and gui_cpu[1]:
        share = (gui_cpu[1][0] - gui_cpu[0][0]) / max(gui_cpu[1][1] - gui_cpu[0][1], 1e-9)
    return {**_rates(stamps, args), "platform": app.platformName(), "curve_points": drawn, "gui_thread_cpu": share}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--role", choices=("cli", "gui"), help=argparse.SUPPRESS)
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--images", type=int, default=60000, help="training images: one epoch must outlast the window")
    p.add_argument("--platform", choices=("xcb", "offscreen"),
                   default="xcb" if shutil.which("xvfb-run") else "offscreen",
                   help="the studio's Qt platform: xcb under Xvfb, or offscreen")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--tab", type=int, default=2, help="the tab shown while the GUI trains (2: Train, 0: Data)")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.role:
        result = role_cli(args) if args.role == "cli" else role_gui(args)
        print("RESULT " + json.dumps(result), flush=True)
        return 0

    common = ["--data-root", args.data_root, "--steps", str(args.steps), "--warmup", str(args.warmup),
              "--batch", str(args.batch), "--images", str(args.images), "--tab", str(args.tab)]
    rates = {"cli": [], "gui": []}
    early = {"cli": [], "gui": []}
    extra = {}
    for r in range(args.repeats):
        for role in ("cli", "gui"):
            cmd = [sys.executable, str(Path(__file__).resolve()), "--role", role] + common
            env = dict(os.environ)
            if role == "gui":
                if args.platform == "xcb":
                    cmd = [shutil.which("xvfb-run") or "xvfb-run", "-a", "-s", "-screen 0 1400x900x24"] + cmd
                else:
                    env["QT_QPA_PLATFORM"] = "offscreen"
            load = os.getloadavg()[0]
            out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
            line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
            if out.returncode or not line:
                sys.stderr.write(out.stdout[-2000:] + out.stderr[-4000:])
                raise SystemExit(f"{role} run failed")
            res = json.loads(line[-1][7:])
            rates[role].append(res["images_per_sec"])
            early[role].append(res["early_images_per_sec"])
            extra.update({k: v for k, v in res.items() if not k.endswith("images_per_sec")})
            cpu = f", GUI thread CPU {100 * res['gui_thread_cpu']:.0f}%" if res.get("gui_thread_cpu") is not None else ""
            print(f"run {r + 1} {role}: {res['images_per_sec']:.0f} images/s (load average before: {load:.1f}{cpu})",
                  flush=True)
    cli_m, gui_m = statistics.median(rates["cli"]), statistics.median(rates["gui"])
    pairs = [g / c for c, g in zip(rates["cli"], rates["gui"])]
    print()
    print(f"mnist_cnn, batch {args.batch}, steps {args.warmup}..{args.warmup + args.steps}, "
          f"{os.cpu_count()} CPUs, GUI platform {extra.get('platform', '?')}")
    print()
    print("| side | runs (images/s) | median images/s |")
    print("| --- | --- | ---: |")
    print(f"| CLI (`python -m engine train`) | {', '.join(f'{v:.0f}' for v in rates['cli'])} | {cli_m:.0f} |")
    print(f"| studio, Train tab live | {', '.join(f'{v:.0f}' for v in rates['gui'])} | {gui_m:.0f} |")
    print()
    print(f"GUI / CLI: ratio of medians {gui_m / cli_m:.2f}; per back-to-back pair "
          f"{', '.join(f'{r:.2f}' for r in pairs)} (median {statistics.median(pairs):.2f})")
    e_cli, e_gui = statistics.median(early["cli"]), statistics.median(early["gui"])
    print(f"The first steps {EARLY[0]}..{EARLY[1]}: CLI {e_cli:.0f}, studio {e_gui:.0f} images/s "
          f"(ratio of medians {e_gui / e_cli:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
