"""gui.runs, the run browser's Qt-free model, on real runs made by the engine's Trainer:
listing (name, dataset, model, settings, status, best validation accuracy, duration),
curves, comparison, rename, delete to the freedesktop.org trash."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse

import numpy as np
import pytest

from engine.train import CSVLogger, JSONLogger, LambdaCallback, ModelCheckpoint
from gui import runs as R
from gui.state import AppState, default_runs_dir
from helpers.train import make_trainer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LATER = time.time() + 10 * R.LIVE_SECONDS       # "now" for a run that no longer changes


def make_run(folder, epochs=2, planned=None, lr=0.05, stop_at=None, fail_at=None, batch_every=1, studio=False):
    """A run folder written by the Trainer and the run folder's callbacks (as the CLI and
    the studio's recipe make them). stop_at: the user stops at that step; fail_at: an
    exception after that epoch (with error.npz saved as the studio saves it when
    ``studio``; else the process just ends, as a kill leaves it)."""
    folder.mkdir(parents=True)
    planned = planned or epochs
    cbs = [CSVLogger(folder / "metrics.csv"), JSONLogger(folder / "metrics.jsonl", batch_every=batch_every),
           ModelCheckpoint(folder)]
    if stop_at is not None:
        cbs.insert(0, LambdaCallback(on_batch_end=lambda t, ev: t.stop() if ev.step >= stop_at else None))
    if fail_at is not None:
        def fail(t, ev):
            if ev.epoch + 1 >= fail_at:
                raise RuntimeError("out of memory in a kernel")
        failing = LambdaCallback(on_epoch_end=fail)
        failing.order = 200                      # after the epoch's files are written
        cbs.append(failing)
    md = {"dataset": "toy", "args": {"model": "tiny", "dataset": "toy", "epochs": planned, "lr": lr, "batch_size": 16,
                                     "optimizer": "adam", "schedule": "none"}}
    t = make_trainer(lr=lr, scheduler=None, callbacks=cbs, metadata=md)
    state = AppState()
    run = state.new_run(directory=str(folder))
    t.subscribe(lambda ev: state.apply_events(run.id, [ev]))
    try:
        t.fit(epochs)
    except RuntimeError:
        if studio:
            t.save_checkpoint(str(folder / "error.npz"))
    if studio:
        run.write_csv(folder / "studio_metrics.csv")
    return t


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Runs in a CLI runs/ folder and a studio folder, and what their trainers hold."""
    base = tmp_path_factory.mktemp("runs")
    cli, studio = base / "cli" / "runs", base / "studio"
    trainers = {"done": make_run(cli / "done", epochs=2),
                "stopped": make_run(cli / "stopped", epochs=3, stop_at=15, lr=0.01),
                "killed": make_run(cli / "killed", epochs=3, fail_at=1),
                "crashed": make_run(studio / "crashed", epochs=3, fail_at=2, studio=True, batch_every=0)}
    set_writer(cli / "killed", dead_pid())       # its process was killed
    (cli / "notes").mkdir()                      # not a run
    (cli / "notes" / "readme.txt").write_text("x")
    return cli, studio, trainers


def set_writer(folder, pid, host=None):
    """Makes the start record of ``folder``'s metrics.jsonl name process ``pid`` on ``host``."""
    path = folder / "metrics.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for r in records:
        if r["event"] == "start":
            r.update(pid=pid, host=host or socket.gethostname())
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def dead_pid() -> int:
    """The pid of a process that has ended."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def by_name(runs):
    return {r.name: r for r in runs}


def test_scan_lists_every_run_with_what_it_recorded(made):
    cli, studio, trainers = made
    runs = R.scan([cli, studio, cli, cli / "missing"], now=LATER)
    got = by_name(runs)
    assert sorted(got) == ["crashed", "done", "killed", "stopped"]
    assert [r.modified for r in runs] == sorted((r.modified for r in runs), reverse=True)
    done = got["done"]
    assert (done.dataset, done.model, done.status, done.epochs, done.problem) == ("toy", "tiny", "completed", 2, "")
    hist = trainers["done"].history
    assert done.best_val_accuracy == max(h["val_accuracy"] for h in hist)
    assert done.duration == pytest.approx(sum(h["seconds"] for h in hist))
    assert done.key_settings() == {"epochs": 2, "batch_size": 16, "optimizer": "adam", "lr": 0.05, "schedule": "none"}
    assert done.message == "trained 2 epochs (24 steps)"
    assert (got["stopped"].status, got["stopped"].epochs) == ("stopped", 1)
    assert got["stopped"].message.startswith("stopped at epoch 2")
    assert (got["killed"].status, got["killed"].epochs) == ("interrupted", 1)
    assert (got["crashed"].status, got["crashed"].epochs) == ("failed", 2)


def test_a_run_that_is_being_written_is_running(made, tmp_path):
    cli, _, _ = made
    live = tmp_path / "live"                     # its process (this one) is alive: running however old its files
    shutil.copytree(cli / "killed", live)
    set_writer(live, os.getpid())
    assert R.read_run(live, now=LATER).status == "running"
    with pytest.raises(R.RunError, match="still being written"):
        R.rename(live, "other", now=LATER)
    with pytest.raises(R.RunError, match="still being written"):
        R.trash(live, confirmed=True, now=LATER)
    assert live.is_dir()
    elsewhere = tmp_path / "elsewhere"            # written on another machine: by its files' age
    shutil.copytree(cli / "killed", elsewhere)
    set_writer(elsewhere, os.getpid(), host="another-machine")
    modified = R.read_run(elsewhere).modified
    assert R.read_run(elsewhere, now=modified + 1).status == "running"
    assert R.read_run(elsewhere, now=modified + R.LIVE_SECONDS + 1).status == "interrupted"
    assert R.read_run(cli / "killed", now=modified + 1).status == "interrupted"    # its process is gone


def test_the_writer_record_is_found_after_the_epochs_and_damage_is_ignored(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    lines = [json.dumps({"event": "epoch", "epoch": k, "seconds": 1.0}) for k in range(3)]
    start = {"event": "start", "pid": os.getpid(), "host": socket.gethostname(), "time": 0.0}
    (run / "metrics.jsonl").write_text("\n".join(lines + [json.dumps(start), '{"event": "batch"}']) + "\n")
    assert R.read_run(run, now=LATER).status == "running"
    for bad in ('{"pid": 1', json.dumps({**start, "pid": "1"}), json.dumps({**start, "pid": 2 ** 40}),
                json.dumps({**start, "pid": True}), "[]", "x" * (R.LINE_BYTES + 10)):
        (run / "metrics.jsonl").write_text("\n".join(lines + [bad]) + "\n")
        assert R.read_run(run, now=LATER).status == "interrupted"


def test_default_folders_are_the_studios_and_the_clis(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert R.default_folders() == [default_runs_dir(), tmp_path / "runs"]
    assert R.default_folders(tmp_path / "mine") == [tmp_path / "mine", tmp_path / "runs"]   # the Train tab's folder
    assert R.default_folders(tmp_path / "runs") == [tmp_path / "runs"]                      # named once
    make_run(tmp_path / "runs" / "a", epochs=1)
    make_run(default_runs_dir() / "b", epochs=1)
    assert sorted(r.name for r in R.scan()) == ["a", "b"]


def test_curves_are_the_full_per_batch_and_per_epoch_record(made):
    cli, studio, trainers = made
    c = R.load_curves(cli / "done")
    assert list(c.batch["step"]) == list(range(1, 25)) and c.skipped == 0
    assert list(c.batch["epoch"]) == [0] * 12 + [1] * 12
    assert np.isfinite(c.batch["loss"]).all() and np.isfinite(c.batch["images_per_sec"]).all()
    hist = trainers["done"].history
    np.testing.assert_array_equal(c.epoch["val_accuracy"], [h["val_accuracy"] for h in hist])
    np.testing.assert_array_equal(c.epoch["step"], [12, 24])
    seconds = c.batch["seconds"]                      # the wall-time axis: the run's time at each batch
    assert np.isfinite(seconds).all() and (np.diff(seconds) >= 0).all()
    assert seconds[-1] <= c.epoch["seconds"].sum() + 0.5
    s = R.load_curves(studio / "crashed")             # no batch records: the studio's CSV has them
    assert list(s.batch["step"]) == list(range(1, 25)) and len(s.epoch["epoch"]) == 2
    assert np.isfinite(s.batch["seconds"]).all() and (np.diff(s.batch["seconds"]) >= 0).all()


def test_curves_survive_a_cut_last_line_and_fall_back_to_the_checkpoint(made, tmp_path):
    cli, _, trainers = made
    run = tmp_path / "cut"
    run.mkdir()
    for f in ("last.npz", "metrics.jsonl"):
        (run / f).write_bytes((cli / "done" / f).read_bytes())
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"event": "batch", "st')
    c = R.load_curves(run)
    assert c.skipped == 1 and len(c.batch["step"]) == 24
    (run / "metrics.jsonl").unlink()
    c = R.load_curves(run)
    assert len(c.batch["step"]) == 0
    np.testing.assert_array_equal(c.epoch["train_loss"], [h["train_loss"] for h in trainers["done"].history])


def test_damaged_files_are_named_and_the_rest_is_listed(made, tmp_path):
    cli, _, _ = made
    bad = tmp_path / "runs" / "bad"
    bad.mkdir(parents=True)
    (bad / "last.npz").write_bytes(b"PK\x03\x04 not really")
    (bad / "metrics.jsonl").write_text('{"event": "done", "reason": "completed", "message": "ok"}\n')
    make_run(tmp_path / "runs" / "good", epochs=1)
    got = by_name(R.scan([tmp_path / "runs"], now=LATER))
    assert "last.npz" in got["bad"].problem and got["bad"].status == "completed"
    assert got["good"].problem == ""
    with pytest.raises(R.RunError, match="not a run folder"):
        R.load_curves(cli / "notes")
    big = tmp_path / "big"
    big.mkdir()
    with open(big / "metrics.jsonl", "wb") as f:
        f.truncate(R.MAX_METRICS_BYTES + 1)
    assert "more than the browser reads" in R.read_run(big).problem
    with pytest.raises(R.RunError, match="more than the browser reads"):
        R.load_curves(big)


def test_compare_puts_what_differs_first(made):
    cli, _, _ = made
    runs = [R.read_run(cli / n, now=LATER) for n in ("done", "stopped")]
    rows = R.compare(runs)
    names = [r[0] for r in rows]
    assert names[:6] == ["status", "best val accuracy", "epochs", "duration (s)", "dataset", "model"]
    assert rows[0] == ("status", ["completed", "stopped"], True)
    assert rows[4] == ("dataset", ["toy", "toy"], False)
    settings = rows[6:]
    assert [r[0] for r in settings] == ["epochs", "lr", "batch_size", "optimizer", "schedule"]
    assert [r[2] for r in settings] == [True, True, False, False, False]
    assert settings[1][1] == [0.05, 0.01]


def test_rename_refuses_clashes_and_bad_names(tmp_path):
    make_run(tmp_path / "a", epochs=1)
    make_run(tmp_path / "b", epochs=1)
    for name, needle in [("b", "already exists"), ("x/y", "no slashes"), ("..", "no slashes"), ("", "non-empty"),
                         (".hidden", "hide the run"), (" a", "leading or trailing")]:
        with pytest.raises(R.RunError, match=needle):
            R.rename(tmp_path / "a", name, now=LATER)
    new = R.rename(tmp_path / "a", "baseline lr 0.05", now=LATER)
    assert new == tmp_path / "baseline lr 0.05" and not (tmp_path / "a").exists()
    assert R.read_run(new, now=LATER).status == "completed"


def test_delete_moves_to_the_trash_after_confirmation(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    run = tmp_path / "runs" / "old run"
    make_run(run, epochs=1)
    files = sorted(p.name for p in run.iterdir())
    with pytest.raises(R.RunError, match="needs the user's confirmation"):
        R.trash(run, confirmed=False, now=LATER)
    assert run.is_dir()
    trash = tmp_path / "data" / "Trash"
    assert R.trash_dir() == trash
    dest = R.trash(run, confirmed=True, now=LATER)
    assert dest == trash / "files" / "old run" and not run.exists()
    assert sorted(p.name for p in dest.iterdir()) == files
    info = (trash / "info" / "old run.trashinfo").read_text().splitlines()
    assert info[0] == "[Trash Info]" and info[1] == "Path=" + urllib.parse.quote(str(run))
    assert time.strptime(info[2].split("=", 1)[1], "%Y-%m-%dT%H:%M:%S")
    make_run(run, epochs=1)                     # the same name again: a second trash entry
    assert R.trash(run, confirmed=True, now=LATER) == trash / "files" / "old run.2"
    assert (trash / "info" / "old run.2.trashinfo").is_file()


def test_a_trash_that_cannot_be_written_moves_nothing(tmp_path):
    run = tmp_path / "r"
    make_run(run, epochs=1)
    blocker = tmp_path / "trash"
    blocker.write_text("a file where the trash should be")
    with pytest.raises(R.RunError, match="cannot move"):
        R.trash(run, confirmed=True, trash_path=blocker, now=LATER)
    assert run.is_dir() and json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["event"] == "done"


def test_runs_imports_no_qt():
    code = "import sys, gui.runs; sys.exit(any(m.startswith(('PySide', 'pyqtgraph')) for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


@pytest.fixture
def panel(qtbot, made):
    """A RunsPanel over the made runs, with a real worker (engine thread)."""
    from gui.panels.runs import RunsPanel
    from gui.worker import Worker
    cli, studio, _ = made
    state = AppState()
    worker = Worker(state)
    errors = []
    worker.error.connect(lambda text, details: errors.append(text))
    p = RunsPanel(state, worker, folders=[cli, studio])
    qtbot.addWidget(p)
    p.errors = errors
    yield p
    worker.shutdown(timeout=30)


def test_panel_lists_opens_overlays_and_compares(panel, qtbot, made):
    from helpers.qt import wait_until
    cli, _, trainers = made
    t = panel.table
    assert t.rowCount() == 4 and {t.item(r, 0).text() for r in range(4)} == {"done", "stopped", "killed", "crashed"}
    row = next(r for r in range(4) if t.item(r, 0).text() == "done")
    assert [t.item(row, c).text() for c in (1, 2, 3, 5)] == ["toy", "tiny", "completed", "2"]
    panel.select(["done"])
    assert panel.buttons["Open"].isEnabled() and not panel.buttons["Compare"].isEnabled()
    panel.open_selected()
    state = panel.state
    assert wait_until(qtbot, lambda: state.runs and len(state.runs[-1].batches["step"]) == 24, 30), panel.errors
    run = state.runs[-1]
    assert run.name == "done" and [e["epoch"] for e in run.epochs] == [0, 1]
    assert panel.worker.engine.models.get(run.id) is not None           # its model, for Inside and Evaluate
    panel.select(["stopped", "crashed"])
    panel.overlay_selected()
    assert sorted(r.name for r in state.runs[-2:]) == ["crashed", "stopped"]
    assert all(r.visible for r in state.runs)
    panel.compare_selected()
    ct = panel.compare_table
    assert ct.columnCount() == 2 and ct.verticalHeaderItem(0).text() == "status"
    assert panel.errors == []


def test_panel_renames_and_deletes_to_the_trash(panel, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    make_run(tmp_path / "own" / "scratch", epochs=1)
    panel.folders = [tmp_path / "own"]
    panel.refresh()
    info = panel.infos[0]
    assert panel.rename_run(info, "kept") == tmp_path / "own" / "kept" and panel.infos[0].name == "kept"
    assert panel.rename_run(panel.infos[0], "a/b") is None and "no slashes" in panel.errors[-1]
    assert panel.delete_runs(panel.infos, confirmed=False) == [] and (tmp_path / "own" / "kept").is_dir()
    assert panel.delete_runs(panel.infos, confirmed=True) == [tmp_path / "data" / "Trash" / "files" / "kept"]
    assert panel.table.rowCount() == 0


def test_the_runs_tab_finds_the_studios_runs_after_a_restart(make_window, qtbot):
    from pathlib import Path

    from helpers.qt import wait_until
    win = make_window(epochs=1)
    run = win.worker.start_training(max_steps=20)
    assert wait_until(qtbot, lambda: run.status == "stopped", 180), run.message
    folder = Path(run.directory)
    assert wait_until(qtbot, lambda: (folder / "studio_metrics.csv").is_file(), 30)
    tab = win.runs_panel
    assert folder.name in [tab.table.item(r, 0).text() for r in range(tab.table.rowCount())]
    win.close()
    again = make_window(epochs=1)
    tab = again.runs_panel
    assert again.tabs.indexOf(tab) >= 0
    row = next(r for r in range(tab.table.rowCount()) if tab.table.item(r, 0).text() == folder.name)
    assert [tab.table.item(row, c).text() for c in range(6)] == [folder.name, "mnist", "mnist_cnn", "stopped", "–", "0"]
    assert "batch_size=32" in tab.table.item(row, 7).text()
    tab.select([folder.name])
    tab.open_selected()
    assert wait_until(qtbot, lambda: any(r.name == folder.name and len(r.batches["step"]) == 20
                                         for r in again.state.runs), 60)
    restored = next(r for r in again.state.runs if r.name == folder.name)
    assert again.worker.engine.models.get(restored.id) is not None


def test_the_done_record_is_read_from_the_end_of_a_long_log(made, tmp_path):
    cli, _, _ = made
    run = tmp_path / "long"
    run.mkdir()
    (run / "last.npz").write_bytes((cli / "done" / "last.npz").read_bytes())
    lines = (cli / "done" / "metrics.jsonl").read_text().splitlines()
    filler = [lines[1]] * (3 * R.TAIL_BYTES // len(lines[1]))          # batch records, more than the tail
    (run / "metrics.jsonl").write_text("\n".join(lines[:-1] + filler + lines[-1:]) + "\n")
    info = R.read_run(run, now=LATER)
    assert info.status == "completed" and info.message == "trained 2 epochs (24 steps)" and info.epochs == 2
