"""Screenshots of the studio after a short real run, one PNG per tab.

    xvfb-run -a -s "-screen 0 1400x900x24" python benchmarks/screenshot_gui.py [--data-root ../shared/data]

Trains mnist_cnn on part of MNIST for an epoch and a bit (so both per-batch and
per-epoch curves show), evaluates on the test split, predicts a digit, shows the
feature maps, the convolution explainer on the trained first layer, one misclassified
digit through every layer, the run browser comparing two runs, New dataset… on class
folders of photos of different sizes, a model with a row that does not fit, the
augmented samples and the kernel benchmark (engine.bench, CPU
and GPU where there is one; or a results JSON given with --bench-json), and grabs the
main window for each tab into benchmarks/.
"""
from __future__ import annotations

import argparse
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--out", default=str(HERE))
    p.add_argument("--bench-json", default=None, help="an engine.bench --json file to show instead of a fresh run")
    p.add_argument("--size", default="1280x800")
    args = p.parse_args(argv)
    os.environ.setdefault("NUMBACNN_CONFIG", tempfile.mkdtemp(prefix="studio-shot-"))

    import numpy as np
    import pyqtgraph as pg
    from PIL import Image
    from PySide6 import QtCore, QtWidgets

    from gui.app import MainWindow
    from gui.state import AppState

    pg.setConfigOptions(antialias=True)           # screenshots: prettier lines
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    print("platform:", app.platformName())
    w, h = (int(v) for v in args.size.split("x"))

    def loop(seconds: float):
        ev = QtCore.QEventLoop()
        QtCore.QTimer.singleShot(int(seconds * 1000), ev.quit)
        ev.exec()

    def until(cond, timeout: float, what: str):
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise SystemExit(f"timed out waiting for {what}")
            loop(0.1)

    st = AppState()
    st.set_data(name="MNIST", root=args.data_root, limit=6000, val_fraction=0.1, augment=True, hflip=False,
                crop_padding=2)
    st.set_model(source="zoo", zoo_name="mnist_cnn")
    st.set_hyper(optimizer="SGD", lr=0.05, momentum=0.9, batch_size=64, epochs=2, schedule="CosineAnnealingLR",
                 snapshot_hz=2.0)
    win = MainWindow(st, load_settings=False)
    win.resize(w, h)
    win.show()
    until(lambda: st.dataset_info is not None and "augmented" in st.dataset_info, 120, "the data")
    if st.dataset_info.get("error"):
        raise SystemExit(st.dataset_info["error"])
    out = Path(args.out)
    shots = []

    def shot(panel, name):
        win.tabs.setCurrentWidget(panel)
        loop(0.6)
        path = out / name
        win.grab().save(str(path))
        shots.append(path)
        print(f"{path} ({path.stat().st_size // 1024} KB)")

    # a short run: one epoch and a bit, with a look inside while it trains
    run = win.worker.start_training()
    win.tabs.setCurrentWidget(win.inside_panel)
    until(lambda: run.step >= 40, 600, "40 steps")
    until(lambda: len(run.epochs) >= 1 and run.step >= 100, 900, "the first epoch")
    win.worker.stop()
    until(lambda: not win.worker.training, 60, "the stop")
    win.inside_panel.probe_index.setValue(7)
    until(lambda: run.snapshot is not None and run.snapshot.step == run.step, 60, "feature maps")
    shot(win.inside_panel, "gui_screenshot_inside.png")

    # the explainer: the trained first conv with stride 2 on the probe digit, half-way through
    ep = win.explain_panel
    win.tabs.setCurrentWidget(ep)
    until(lambda: ep.source is not None and ep.source.probe is not None, 120, "the explainer's layers")
    ep.filter.setValue(1)
    ep.sh.setValue(2)
    ep.sw.setValue(2)                  # (28 - 5)/2 + 1 = 12.5 -> 12: row and column 27 are never read
    ep.reset()
    ep.model.select(5, 6)
    shot(ep, "gui_screenshot_explainer.png")
    shot(win.train_panel, "gui_screenshot.png")

    # evaluate on the test split and predict one digit from a file
    win.evaluate_panel.split.setCurrentIndex(0)
    win.worker.evaluate(which="test")
    until(lambda: run.evaluation is not None, 600, "the evaluation")
    import datasets.mnist as dm
    digit = dm.MNIST(args.data_root, train=False).data[18]
    img = Path(tempfile.mkdtemp()) / "digit.png"
    Image.fromarray(255 - np.kron(digit, np.ones((4, 4), np.uint8))).save(img)
    win.evaluate_panel.predict(str(img))
    until(lambda: st.prediction is not None, 60, "the prediction")
    win.evaluate_panel.pages.setCurrentIndex(0)
    shot(win.evaluate_panel, "gui_screenshot_evaluate.png")

    # one image, every layer: the first misclassified test digit, its maps at the second conv
    ev = win.evaluate_panel
    before = st.prediction
    ev.explain_wrong(0)
    until(lambda: st.prediction is not before, 60, "the explanation")
    one = ev.one
    one.map_layer.setCurrentIndex(min(3, one.map_layer.count() - 1))
    one.filter_layer.setCurrentIndex(one.filter_layer.count() - 1)
    shot(ev, "gui_screenshot_one_image.png")
    shot(win.data_panel, "gui_screenshot_data.png")

    # the run browser: this run and a second, shorter one, compared
    st.set_hyper(lr=0.02, epochs=1)
    second = win.worker.start_training()
    until(lambda: second.step >= 30, 600, "the second run's 30 steps")
    win.worker.stop()
    until(lambda: not win.worker.training, 60, "the second stop")
    rp = win.runs_panel
    rp.refresh()
    names = [i.name for i in rp.infos if i.path.parent == Path(os.environ["NUMBACNN_CONFIG"]) / "runs"]
    rp.select(names)
    rp.compare_selected()
    shot(rp, "gui_screenshot_runs.png")

    # New dataset…: class folders of photos of different sizes, as a user has them
    from gui.panels.dataset_creator import DatasetCreator, definitions_folder

    photos = Path(tempfile.mkdtemp()) / "pets"
    with tarfile.open(Path(args.data_root) / "cifar10-train-jpg.tar.gz") as tar:
        for cls, n in (("cat", 40), ("dog", 35), ("horse", 25)):
            (photos / cls).mkdir(parents=True)
            for k in range(n):
                member = tar.getmember(f"train/{cls}/{k:04d}.jpg")
                im = Image.open(tar.extractfile(member)).convert("RGB")
                im.resize((32 * (2 + k % 3), 32 * (2 + k % 2)), Image.BICUBIC).save(photos / cls / f"{k}.jpg")
    dialog = DatasetCreator(definitions_folder(st), "", win)
    dialog.set_source(str(photos))
    dialog.show()
    loop(0.8)
    path = out / "gui_screenshot_dataset_creator.png"
    dialog.grab().save(str(path))
    shots.append(path)
    dialog.close()

    # the model editor with a row that does not fit
    mp = win.model_panel
    mp.edit_copy.click()
    mp.table.selectRow(3)
    mp.arg_edits["in_channels"].setText("8")
    mp._form_edited(3)
    shot(mp, "gui_screenshot_model.png")

    # the benchmark tab
    if args.bench_json:
        win.bench_panel.load(args.bench_json)
    else:
        win.worker.run_benchmark(quick=False)
        until(lambda: st.benchmark is not None, 900, "the benchmark")
    shot(win.bench_panel, "gui_screenshot_bench.png")
    win.close()
    print("\n".join(str(s) for s in shots))
    return 0


if __name__ == "__main__":
    sys.exit(main())
