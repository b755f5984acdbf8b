"""Benchmark tab: the CPU-vs-GPU kernel benchmark (engine.bench) as a bar chart,
from a fresh run or from a saved JSON file."""
from __future__ import annotations

import json
import math

from PySide6 import QtWidgets

from .. import state as S
from ..widgets.heatmap import BarChart


SCHEMA = "numbacnn.bench/1"


class NotBenchResults(ValueError):
    """A loaded file that is not an engine.bench result."""


def _checked(result) -> dict:
    if not isinstance(result, dict) or result.get("schema") != SCHEMA:
        raise NotBenchResults(f"not an engine.bench result (its \"schema\" is not {SCHEMA!r}); write one with "
                              "numbacnn bench --json FILE")
    return result


def parse(result: dict) -> tuple[list[str], dict[str, list[float]]]:
    """(labels "op fwd/bwd", {device: milliseconds}) of the kernel timings of an
    engine.bench result ("kernels" rows of op, device, pass, shape, ms)."""
    table: dict[str, dict[str, float]] = {}
    for r in _checked(result).get("kernels", []):
        name = f"{r['op']} " + {"forward": "fwd", "backward": "bwd"}.get(r["pass"], r["pass"])
        table.setdefault(name, {})[r["device"]] = float(r["ms"])
    return _series(table)


def parse_models(result: dict) -> tuple[list[str], dict[str, list[float]]]:
    """(model labels, {device: images per second}) of the whole-model rows (failed runs left out)."""
    table: dict[str, dict[str, float]] = {}
    for r in _checked(result).get("models", []):
        if "error" not in r:
            table.setdefault(f"{r['model']} (batch {r['batch_size']})", {})[r["device"]] = float(r["images_per_sec"])
    return _series(table)


def _series(table: dict) -> tuple[list[str], dict[str, list[float]]]:
    devices = sorted({d for v in table.values() for d in v}, key=lambda d: (d != "cpu", d))
    labels = list(table)
    return labels, {d: [table[n].get(d, math.nan) for n in labels] for d in devices}


class BenchPanel(QtWidgets.QWidget):
    def __init__(self, state: S.AppState, worker, parent=None):
        super().__init__(parent)
        self.state, self.worker = state, worker
        self.run_btn = QtWidgets.QPushButton("Run benchmark")
        self.load_btn = QtWidgets.QPushButton("Load results (JSON)…")
        self.log_scale = QtWidgets.QCheckBox("Log scale")
        self.log_scale.setChecked(True)
        self.note = QtWidgets.QLabel()
        self.note.setWordWrap(True)
        bar = QtWidgets.QHBoxLayout()
        for w in (self.run_btn, self.load_btn, self.log_scale):
            bar.addWidget(w)
        bar.addWidget(self.note, 1)
        self.chart = BarChart("Kernel time per call, CPU vs GPU (lower is better)", "milliseconds")
        self.models_chart = BarChart("Training throughput (higher is better)", "images / s")
        self.models_chart.setVisible(False)
        self.table = QtWidgets.QTableWidget(0, 1)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.table.setMaximumHeight(220)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.chart, 2)
        lay.addWidget(self.models_chart, 1)
        lay.addWidget(self.table)

        self.run_btn.setToolTip("Times each kernel on the CPU and, when there is one, the GPU")
        self.run_btn.clicked.connect(lambda: self.worker.run_benchmark(quick=False))
        self.load_btn.clicked.connect(self._load)
        self.log_scale.toggled.connect(lambda on: self._on_result(self.state.benchmark))
        state.subscribe(self._on_result, S.BENCHMARK)

    def _load(self):
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Benchmark results", "", "JSON (*.json)")
        if path:
            self.load(path)

    def load(self, path: str):
        try:
            with open(path) as f:
                self.state.set_benchmark(_checked(json.load(f)))
        except (OSError, ValueError) as e:          # NotBenchResults and JSONDecodeError are ValueErrors
            QtWidgets.QMessageBox.warning(self, "Benchmark results", f"{path}: {e}")

    def _on_result(self, result=None):
        if not result:
            return
        labels, series = parse(result)
        if not labels:
            self.note.setText("<span style='color:#a00000'>No kernel timings found in these results.</span>")
            return
        log = self.log_scale.isChecked()
        self.chart.set_bars(labels, series, colors=["#1f77b4", "#76b900", "#ff7f0e"], horizontal=True, log=log,
                            max_label=16)
        devs = list(series)
        self.table.setColumnCount(1 + len(devs) + (1 if {"cpu", "cuda"} <= set(devs) else 0))
        heads = ["kernel"] + [f"{d} (ms)" for d in devs] + (["speed-up"] if {"cpu", "cuda"} <= set(devs) else [])
        self.table.setHorizontalHeaderLabels(heads)
        self.table.setRowCount(len(labels))
        for i, name in enumerate(labels):
            cells = [name] + [f"{series[d][i]:.3f}" if series[d][i] == series[d][i] else "—" for d in devs]
            if {"cpu", "cuda"} <= set(devs):
                c, g = series["cpu"][i], series["cuda"][i]
                cells.append(f"{c / g:.1f}×" if c == c and g == g and g > 0 else "—")
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
        self.note.setText(" · ".join(meta))
