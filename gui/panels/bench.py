"""Benchmark tab: the CPU-vs-GPU kernel benchmark (engine.bench) as a bar chart,
from a fresh run or from a saved JSON file."""
from __future__ import annotations

import json
import math

from PySide6 import QtWidgets

from .. import state as S
from ..widgets.heatmap import BarChart


def bench_available() -> tuple[bool, str]:
    try:
        import importlib.util
        if importlib.util.find_spec("engine.bench") is None:
            return False, "engine.bench is not part of this build yet"
    except Exception as e:  # noqa: BLE001
        return False, str(e)
    return True, ""


def parse(result: dict) -> tuple[list[str], dict[str, list[float]], str]:
    """(labels, {device: milliseconds}, unit) of the kernel timings in an engine.bench
    JSON (schema numbacnn.bench/1: "kernels" rows of op, device, pass, shape, ms). Rows
    holding one time per device ({"name", "cpu_ms", "cuda_ms"}) are read too."""
    rows = result.get("kernels") or result.get("results") or result.get("rows") or []
    if isinstance(rows, dict):
        rows = [{"name": k, **(v if isinstance(v, dict) else {"value": v})} for k, v in rows.items()]
    table: dict[str, dict[str, float]] = {}
    for r in rows:
        if not isinstance(r, dict):
            continue
        name = str(r.get("op") or r.get("name") or r.get("kernel") or "?")
        if r.get("pass"):
            name += " " + {"forward": "fwd", "backward": "bwd"}.get(str(r["pass"]), str(r["pass"]))
        dev = r.get("device")
        if dev is not None:
            v = _time(r)
            if v is not None:
                table.setdefault(name, {})[str(dev)] = v
            continue
        for key, val in r.items():
            k = key.lower()
            for d in ("cpu", "cuda", "gpu"):
                if k.startswith(d):
                    t = _time(val) if isinstance(val, dict) else _scaled(k, val)
                    if t is not None:
                        table.setdefault(name, {})["cuda" if d == "gpu" else d] = t
    devices = sorted({d for v in table.values() for d in v}, key=lambda d: (d != "cpu", d))
    labels = list(table)
    series = {d: [table[n].get(d, math.nan) for n in labels] for d in devices}
    return labels, series, "ms"


def parse_models(result: dict) -> tuple[list[str], dict[str, list[float]]]:
    """(model labels, {device: images per second}) of the whole-model rows."""
    table: dict[str, dict[str, float]] = {}
    for r in result.get("models") or []:
        if not isinstance(r, dict) or r.get("error") or r.get("images_per_sec") is None:
            continue
        name = f"{r.get('model', '?')} (batch {r.get('batch_size', '?')})"
        table.setdefault(name, {})[str(r.get("device", "?"))] = float(r["images_per_sec"])
    devices = sorted({d for v in table.values() for d in v}, key=lambda d: (d != "cpu", d))
    labels = list(table)
    return labels, {d: [table[n].get(d, math.nan) for n in labels] for d in devices}


def _scaled(key, val):
    if not isinstance(val, (int, float)):
        return None
    if key.endswith("_s") or key.endswith("seconds"):
        return float(val) * 1000
    if key.endswith("_us"):
        return float(val) / 1000
    return float(val)


def _time(r):
    if not isinstance(r, dict):
        return None
    for key in ("ms", "median_ms", "mean_ms", "time_ms"):
        if isinstance(r.get(key), (int, float)):
            return float(r[key])
    for key in ("seconds", "median_s", "mean_s", "time_s", "s"):
        if isinstance(r.get(key), (int, float)):
            return float(r[key]) * 1000
    return None


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

        ok, why = bench_available()
        self.run_btn.setEnabled(ok)
        self.run_btn.setToolTip(why or "Times each kernel on the CPU and, when there is one, the GPU")
        self.note.setText(why and f"<span style='color:#777'>{why}; you can still load a results file.</span>")
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
                self.state.set_benchmark(json.load(f))
        except (OSError, ValueError) as e:
            QtWidgets.QMessageBox.warning(self, "Benchmark results", f"{path}: {e}")

    def _on_result(self, result=None):
        if not result:
            return
        labels, series, unit = parse(result)
        if not labels:
            self.note.setText("<span style='color:#a00000'>No kernel timings found in these results.</span>")
            return
        log = self.log_scale.isChecked()
        self.chart.set_bars(labels, series, colors=["#1f77b4", "#76b900", "#ff7f0e"], horizontal=True, log=log,
                            max_label=16)
        devs = list(series)
        self.table.setColumnCount(1 + len(devs) + (1 if {"cpu", "cuda"} <= set(devs) else 0))
        heads = ["kernel"] + [f"{d} ({unit})" for d in devs] + (["speed-up"] if {"cpu", "cuda"} <= set(devs) else [])
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
