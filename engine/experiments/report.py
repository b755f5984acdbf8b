"""An experiment's report folder: report.md, one CSV per table of measurements, PNG plots.

    rep = Report("shuffle", question, budget)
    rep.setup.append("MNIST, 12,000 training images ...")
    rep.table(["arm", "val accuracy"], [["shuffled", "97.1 %"], ...])
    rep.csv("steps.csv", ["arm", "step", "loss"], rows)
    rep.plot("loss.png", "Training loss", "step", "loss", {"shuffled": (steps, losses)})
    rep.finding = "..."           # written from the measured numbers
    path = rep.write(out_dir)     # out_dir/report.md

Nothing is overwritten: ``write`` refuses a folder that is not new or empty.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

from .plot import PlotUnavailable, line_plot


class ExperimentError(ValueError):
    """A bad experiment name, budget or output folder (one sentence)."""


def check_out(out: Path) -> None:
    """Refuses an output folder that is a file, holds a report or holds anything else
    (its files could be overwritten): a report goes into a new or empty folder."""
    if out.exists() and not out.is_dir():
        raise ExperimentError(f"--out {out}: is a file, not a folder")
    if (out / "report.md").exists():
        raise ExperimentError(f"--out {out}: already holds a report.md; pick a new folder")
    if out.is_dir() and any(out.iterdir()):
        raise ExperimentError(f"--out {out}: is not empty; pick a new or empty folder")


class Report:
    """What an experiment found; ``write`` lays it out as files."""

    def __init__(self, name: str, question: str, budget: str):
        self.name = name
        self.question = question
        self.budget = budget
        self.setup: list[str] = []           # one bullet each
        self.tables: list[tuple[list, list]] = []
        self.finding = ""
        self._csvs: dict[str, tuple[list, list]] = {}
        self._plots: dict[str, tuple] = {}

    def table(self, headers, rows) -> None:
        """A Markdown results table; ``rows`` are lists of cells (already formatted)."""
        self.tables.append(([str(h) for h in headers], [[str(c) for c in r] for r in rows]))

    def csv(self, filename: str, columns, rows, what: str = "per-step measurements") -> None:
        """A CSV file of ``rows`` (sequences in ``columns`` order); ``what`` describes it."""
        self._csvs[filename] = (list(columns), [list(r) for r in rows], what)

    def plot(self, filename: str, title: str, xlabel: str, ylabel: str, series: dict) -> None:
        """A PNG of overlaid curves; ``series``: label -> (x values, y values)."""
        self._plots[filename] = (title, xlabel, ylabel, series)

    def write(self, out_dir) -> Path:
        """Writes report.md, the CSVs and the plots into ``out_dir`` (created if needed).
        Returns the path of report.md."""
        out = Path(out_dir)
        check_out(out)
        if not self.finding:
            raise ExperimentError(f"experiment {self.name}: no finding was written")
        out.mkdir(parents=True, exist_ok=True)
        for filename, (columns, rows, _) in self._csvs.items():
            with open(out / filename, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(columns)
                w.writerows(rows)
        plotted, skipped = [], ""
        for filename, (title, xlabel, ylabel, series) in self._plots.items():
            try:
                line_plot(out / filename, title, xlabel, ylabel, series)
                plotted.append((title, filename))
            except PlotUnavailable as e:
                skipped = str(e)
                break
        _atomic_text(out / "report.md", self._markdown(plotted, skipped))
        return out / "report.md"

    def _markdown(self, plotted, skipped) -> str:
        lines = [f"# Experiment: {self.name}", "", "## Question", "", self.question, "", "## Setup", "",
                 f"- budget: {self.budget}"]
        lines += [f"- {s}" for s in self.setup]
        lines += ["", "## Results", ""]
        for headers, rows in self.tables:
            lines += ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
            lines += ["| " + " | ".join(r) + " |" for r in rows]
            lines.append("")
        lines += ["## Finding", "", self.finding, "", "## Files", ""]
        lines += [f"- `{name}`: {what}" for name, (_, _, what) in self._csvs.items()]
        lines += [f"- `{name}`: {title}" for title, name in plotted]
        if skipped:
            lines.append(f"- plots skipped: {skipped}")
        lines += [""] + [f"![{title}]({name})" for title, name in plotted]
        return "\n".join(lines) + "\n"


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
