"""Benchmark tab: the kernel benchmark (engine.bench) of this machine's CPU, and of its
GPU beside it when it has one, as a bar chart and a table of every kernel's shape, time
and rate (GFLOP/s or GB/s), from a fresh run (with its progress, op by op, and Cancel)
or from a saved JSON file."""
from __future__ import annotations

import json
import math
from numbers import Real

from PySide6 import QtWidgets

from .. import state as S
from ..widgets.heatmap import BarChart

SCHEMA = "numbacnn.bench/1"
KINDS = {str: "text", Real: "number", int: "whole number"}
PASSES = {"forward": "fwd", "backward": "bwd"}
DEVICE_NAMES = {"cpu": "CPU", "cuda": "GPU"}


class NotBenchResults(ValueError):
    """A loaded file that is not an engine.bench result."""


def _checked(result) -> dict:
    if not isinstance(result, dict) or result.get("schema") != SCHEMA:
        raise NotBenchResults(f"not an engine.bench result (its \"schema\" is not {SCHEMA!r}); write one with "
                              "numbacnn bench --json FILE")
    return result


def _rows(result: dict, key: str, fields: dict) -> list[dict]:
    """The ``key`` rows of an engine.bench result, each checked to hold ``fields``
    (name -> type); NotBenchResults names the first row that does not."""
    rows = _checked(result).get(key, [])
    if not isinstance(rows, list):
        raise NotBenchResults(f"\"{key}\" of the results is a {type(rows).__name__}, not a list of rows")
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            raise NotBenchResults(f"\"{key}\" row {i + 1} is a {type(r).__name__}, not an object")
        for name, kind in fields.items():
            if not isinstance(r.get(name), kind) or isinstance(r.get(name), bool):
                raise NotBenchResults(f"\"{key}\" row {i + 1} has no \"{name}\" {KINDS[kind]}")
    return rows


def kernel_rows(result: dict) -> list[dict]:
    """The result's kernel timings (op, device, pass, ms; shape, gflops, gbps when given)."""
    return _rows(result, "kernels", {"op": str, "device": str, "pass": str, "ms": Real})


def _label(r: dict) -> str:
    return f"{r['op']} {PASSES.get(r['pass'], r['pass'])}"


def parse(result: dict) -> tuple[list[str], dict[str, list[float]]]:
    """(labels "op fwd/bwd", {device: milliseconds}) of the kernel timings of an
    engine.bench result ("kernels" rows of op, device, pass, shape, ms)."""
    table: dict[str, dict[str, float]] = {}
    for r in kernel_rows(result):
        table.setdefault(_label(r), {})[r["device"]] = float(r["ms"])
    return _series(table)


def parse_models(result: dict) -> tuple[list[str], dict[str, list[float]]]:
    """(model labels, {device: images per second}) of the whole-model rows (failed runs left out)."""
    table: dict[str, dict[str, float]] = {}
    for r in _rows(result, "models", {"model": str, "device": str, "batch_size": int}):
        if "error" not in r:
            if not isinstance(r.get("images_per_sec"), Real):
                raise NotBenchResults(f"the {r['model']} row on {r['device']} has neither images_per_sec nor an error")
            table.setdefault(f"{r['model']} (batch {r['batch_size']})", {})[r["device"]] = float(r["images_per_sec"])
    return _series(table)


def _series(table: dict) -> tuple[list[str], dict[str, list[float]]]:
    devices = sorted({d for v in table.values() for d in v}, key=lambda d: (d != "cpu", d))
    labels = list(table)
    return labels, {d: [table[n].get(d, math.nan) for n in labels] for d in devices}


def _rate(r: dict | None) -> str:
    if r is None:
        return "—"
    if isinstance(r.get("gflops"), Real):
        return f"{r['gflops']:.1f} GFLOP/s"
    if isinstance(r.get("gbps"), Real):
        return f"{r['gbps']:.1f} GB/s"
    return "—"


def table(result: dict) -> tuple[list[str], list[list[str]]]:
    """(column heads, rows of text) of the kernel table: kernel, pass, shape, then per
    device its milliseconds and rate (GFLOP/s for convolution and Linear, GB/s for the
    memory-bound ops), then the CPU/GPU speed-up when both ran."""
    rows = kernel_rows(result)
    devices = sorted({r["device"] for r in rows}, key=lambda d: (d != "cpu", d))
    both = {"cpu", "cuda"} <= set(devices)
    heads = ["kernel", "pass", "shape"] + [h for d in devices for h in (f"{d} ms", f"{d} rate")] + \
        (["speed-up"] if both else [])
    by: dict[tuple, dict] = {}
    for r in rows:
        by.setdefault((r["op"], r["pass"]), {})[r["device"]] = r
    out = []
    for (op, pas), on in by.items():
        shape = next((str(r["shape"]) for r in on.values() if r.get("shape")), "—")
        cells = [op, pas, shape]
        for d in devices:
            r = on.get(d)
            cells += [f"{r['ms']:.3f}" if r else "—", _rate(r)]
        if both:
            c, g = on.get("cpu"), on.get("cuda")
            cells.append(f"{c['ms'] / g['ms']:.1f}×" if c and g and g["ms"] > 0 else "—")
        out.append(cells)
    return heads, out


def title(result: dict) -> str:
    """The chart's title: what was measured, on the devices that ran."""
    devices = sorted({r["device"] for r in kernel_rows(result)}, key=lambda d: (d != "cpu", d))
    names = " vs ".join(DEVICE_NAMES.get(d, d) for d in devices) or "no device"
    return f"Kernel time per call, {names} (lower is better)"


class BenchPanel(QtWidgets.QWidget):
    def __init__(self, state: S.AppState, worker, parent=None):
        super().__init__(parent)
        self.state, self.worker = state, worker
        self.run_btn = QtWidgets.QPushButton("Run benchmark")
        self.cancel_btn = QtWidgets.QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.setToolTip("Stop after the kernel being timed; the kernels timed so far stay")
        self.load_btn = QtWidgets.QPushButton("Load results (JSON)…")
        self.log_scale = QtWidgets.QCheckBox("Log scale")
        self.log_scale.setChecked(True)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setFormat("%v of %m kernels")
        self.progress.setVisible(False)
        self.status = QtWidgets.QLabel()
        self.note = QtWidgets.QLabel()
        self.note.setWordWrap(True)
        bar = QtWidgets.QHBoxLayout()
        for w in (self.run_btn, self.cancel_btn, self.load_btn, self.log_scale):
            bar.addWidget(w)
        bar.addWidget(self.progress)
        bar.addWidget(self.status, 1)
        self.chart = BarChart("Kernel time per call (lower is better)", "milliseconds")
        self.chart.note.setText("No benchmark yet: Run benchmark times every kernel on this machine, "
                                "or Load results reads a numbacnn bench --json file.")
        self.models_chart = BarChart("Training throughput (higher is better)", "images / s")
        self.models_chart.setVisible(False)
        self.table = QtWidgets.QTableWidget(0, 0)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.table.setMaximumHeight(260)
        self.table.setVisible(False)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.note)
        lay.addWidget(self.chart, 2)
        lay.addWidget(self.models_chart, 1)
        lay.addWidget(self.table)

        self.run_btn.setToolTip("Times each kernel on the CPU and, when there is one, the GPU")
        self.run_btn.clicked.connect(self.run)
        self.cancel_btn.clicked.connect(self.cancel)
        self.load_btn.clicked.connect(self._load)
        self.log_scale.toggled.connect(lambda on: self.show_result(self.shown))
        state.subscribe(self.show_result, S.BENCHMARK)

    # -- running ------------------------------------------------------------------------
    def run(self, quick: bool = False) -> None:
        """A fresh benchmark (``quick``: toy shapes, for tests), op by op."""
        self.run_btn.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        self.progress.setVisible(True)
        self.status.setText("starting…")
        self.worker.run_benchmark(quick=bool(quick), progress=self.on_progress)

    def cancel(self) -> None:
        self.cancel_btn.setEnabled(False)
        self.status.setText(self.status.text() + " — cancelling after this kernel")
        self.worker.cancel_benchmark()

    def on_progress(self, done: int, total: int, op: str, partial: dict | None) -> None:
        """The worker's report: ``op`` about to be timed (``done`` of ``total`` done), or
        op "" when the run has ended; ``partial``: the result so far."""
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        if partial is not None:
            self.show_result(partial)
        if op:
            self.status.setText(f"timing {op} ({done + 1} of {total})")
            return
        self.run_btn.setEnabled(True)
        self.cancel_btn.setEnabled(False)
        self.progress.setVisible(False)
        self.status.setText("done" if done == total else f"stopped: {done} of {total} kernels timed")

    # -- results -------------------------------------------------------------------------
    def _load(self):
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Benchmark results", "", "JSON (*.json)")
        if path:
            self.load(path)

    def load(self, path: str):
        try:
            with open(path) as f:
                result = json.load(f)
            table(result)                       # every row checked before the state takes it
            parse_models(result)
        except (OSError, ValueError) as e:      # NotBenchResults and JSONDecodeError are ValueErrors
            QtWidgets.QMessageBox.warning(self, "Benchmark results", f"{path}: {e}")
            return
        self.state.set_benchmark(result)

    shown = None                         # the result on screen (a run's partial one while it runs)

    def show_result(self, result=None):
        if not result:
            return
        self.shown = result
        labels, series = parse(result)
        self.chart.setTitle(title(result), color="#222", size="11pt")
        log = self.log_scale.isChecked()
        self.chart.set_bars(labels, series, colors=["#1f77b4", "#76b900", "#ff7f0e"], horizontal=True, log=log,
                            max_label=16)
        heads, rows = table(result)
        self.table.setVisible(bool(rows))
        self.table.setColumnCount(len(heads))
        self.table.setHorizontalHeaderLabels(heads)
        self.table.setRowCount(len(rows))
        for i, cells in enumerate(rows):
            for c, text in enumerate(cells):
                self.table.setItem(i, c, QtWidgets.QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        mlabels, mseries = parse_models(result)
        self.models_chart.setVisible(bool(mlabels))
        if mlabels:
            self.models_chart.set_bars(mlabels, mseries, colors=["#1f77b4", "#76b900", "#ff7f0e", "#9467bd"],
                                       horizontal=True, max_label=24)
        devices = result.get("devices") or {}
        meta = [f"{d}: {v}" for d, v in devices.items()] if isinstance(devices, dict) else []
        meta += [f"{k}: {result[k]}" for k in ("size", "repeats", "created") if k in result]
        if not labels and not mlabels:
            meta.insert(0, "<span style='color:#a00000'>No kernel timings found in these results.</span>")
        self.note.setText(" · ".join(meta))
