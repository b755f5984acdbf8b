"""The Benchmark tab: progress op by op and Cancel (no rows after it), every kernel's
shape and rate in the table, a title that names the devices measured, a note instead of
empty axes, and files that are not benchmark results refused in one sentence."""
import json
import threading

import pytest
from helpers.qt import wait_until
from PySide6 import QtCore, QtWidgets

from engine import bench
from gui.panels.bench import BenchPanel
from gui.state import AppState
from gui.worker import Worker


def _kernel(op, device, pas, ms, **rate):
    return {"op": op, "device": device, "pass": pas, "shape": f"{op} shape", "ms": ms,
            "gflops": rate.get("gflops"), "gbps": rate.get("gbps")}


RESULT = {"schema": "numbacnn.bench/1", "size": "default", "repeats": 5, "devices": {"cpu": "x86_64, 2 threads"},
          "kernels": [_kernel("conv", "cpu", "forward", 2.0, gflops=45.6), _kernel("conv", "cpu", "backward", 4.0,
                                                                                 gflops=40.0),
                      _kernel("relu", "cpu", "forward", 0.5, gbps=78.9)],
          "models": []}


@pytest.fixture
def panel(qtbot):
    state = AppState()
    worker = Worker(state)
    p = BenchPanel(state, worker)
    qtbot.addWidget(p)
    p.resize(1000, 700)
    p.show()
    yield p
    worker.shutdown(timeout=30)


def test_an_empty_tab_says_so_instead_of_showing_axes(panel):
    assert panel.chart.note.isVisible() and "No benchmark yet" in panel.chart.note.text()
    assert not panel.chart.getAxis("bottom").isVisible() and not panel.table.isVisible()
    assert not panel.cancel_btn.isEnabled() and not panel.progress.isVisible()


def test_the_table_shows_shapes_and_rates_and_the_title_names_the_devices(panel):
    panel.state.set_benchmark(RESULT)
    heads = [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())]
    assert heads == ["kernel", "pass", "shape", "cpu ms", "cpu rate"]
    rows = [[panel.table.item(r, c).text() for c in range(len(heads))] for r in range(panel.table.rowCount())]
    assert rows[0] == ["conv", "forward", "conv shape", "2.000", "45.6 GFLOP/s"]
    assert rows[2] == ["relu", "forward", "relu shape", "0.500", "78.9 GB/s"]
    assert panel.chart.plotItem.titleLabel.text == "Kernel time per call, CPU (lower is better)"
    assert panel.table.isVisible() and not panel.chart.note.isVisible()

    both = dict(RESULT, kernels=RESULT["kernels"] + [_kernel("conv", "cuda", "forward", 0.5, gflops=182.4)])
    panel.state.set_benchmark(both)
    heads = [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())]
    assert heads == ["kernel", "pass", "shape", "cpu ms", "cpu rate", "cuda ms", "cuda rate", "speed-up"]
    assert [panel.table.item(0, c).text() for c in range(5, 8)] == ["0.500", "182.4 GFLOP/s", "4.0×"]
    assert [panel.table.item(1, c).text() for c in range(5, 8)] == ["—", "—", "—"]
    assert "CPU vs GPU" in panel.chart.plotItem.titleLabel.text


@pytest.mark.parametrize("content, says", [
    ({"rows": []}, "not an engine.bench result"),
    (dict(RESULT, kernels=[{"op": "conv", "device": "cpu", "pass": "forward"}]), '"kernels" row 1 has no "ms" number'),
    (dict(RESULT, kernels="conv"), '"kernels" of the results is a str'),
    (dict(RESULT, models=[{"model": "vgg16", "device": "cpu", "batch_size": 8}]), "neither images_per_sec nor an error"),
])
def test_a_file_that_is_not_benchmark_results_is_refused_in_one_sentence(panel, tmp_path, monkeypatch, content, says):
    warnings = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "warning", lambda parent, title, text: warnings.append(text))
    path = tmp_path / "results.json"
    path.write_text(json.dumps(content))
    panel.load(str(path))
    assert len(warnings) == 1 and says in warnings[0] and "\n" not in warnings[0]
    assert panel.state.benchmark is None


def test_progress_names_each_kernel_and_cancel_stops_further_rows(panel, qtbot, monkeypatch):
    clicked = threading.Event()
    real_run = bench.run

    def run_one(**kw):                   # the user presses Cancel while pool is being timed
        if kw["ops"] == ["pool"]:
            clicked.wait(60)
        return real_run(**kw)

    monkeypatch.setattr(bench, "run", run_one)
    seen = []
    panel.worker.state.subscribe(lambda **info: seen.append(info["result"]), "benchmark")
    panel.run(quick=True)
    assert not panel.run_btn.isEnabled() and panel.cancel_btn.isEnabled() and panel.progress.isVisible()
    total = len(bench.OPS)
    assert wait_until(qtbot, lambda: "timing pool" in panel.status.text(), 120), panel.status.text()
    assert panel.status.text() == f"timing pool (3 of {total})" and panel.progress.value() == 2
    assert panel.progress.maximum() == total
    assert panel.table.rowCount() == 4                       # conv and conv1x1, forward and backward, so far
    assert "shape" in [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())]
    qtbot.mouseClick(panel.cancel_btn, QtCore.Qt.LeftButton)
    clicked.set()
    assert wait_until(qtbot, lambda: panel.run_btn.isEnabled(), 120)
    qtbot.wait(300)
    result = panel.state.benchmark
    assert list(dict.fromkeys(r["op"] for r in result["kernels"])) == ["conv", "conv1x1", "pool"]
    assert panel.table.rowCount() == 6 and len(seen) == 1    # pool's rows, then none
    assert panel.status.text() == f"stopped: 3 of {total} kernels timed"
    assert not panel.cancel_btn.isEnabled() and not panel.progress.isVisible()
    assert result["size"] == "tiny" and result["repeats"] == 3 and "cpu" in result["devices"]
