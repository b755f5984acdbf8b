"""Every experiment at the tiny budget on the real data: the report folder's structure."""
import csv
import re
import struct

import pytest

from engine import experiments
from engine.experiments.arms import EPOCH_COLUMNS, STEP_COLUMNS

SECTIONS = ["# Experiment: ", "## Question", "## Setup", "## Results", "## Finding", "## Files"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def reports(shared_data, tmp_path_factory):
    """name -> (report folder, events received); every experiment run once at the tiny budget."""
    out = {}
    for name in experiments.names():
        events = []
        path = experiments.run(name, "tiny", tmp_path_factory.mktemp(name.replace("-", "_")) / "report",
                               on_event=events.append, data_root=shared_data)
        out[name] = (path.parent, events)
    return out


def section(text, title):
    """The text between the heading ``title`` and the next heading."""
    body = text.split(f"\n{title}\n", 1)[1]
    return re.split(r"\n## ", body, maxsplit=1)[0].strip()


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def png_size(path):
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR", f"{path.name} is not a PNG"
    return struct.unpack(">II", head[16:24])


def numbers(text):
    return set(re.findall(r"\d[\d,]*(?:\.\d+)?", text))


@pytest.mark.parametrize("name", experiments.names())
def test_report_structure(reports, name):
    folder, events = reports[name]
    text = (folder / "report.md").read_text()
    positions = [text.find(s) for s in SECTIONS]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), f"{name}: sections missing or out of order"
    assert experiments.question(name) in section(text, "## Question")
    assert "- budget: tiny" in section(text, "## Setup")
    results = section(text, "## Results")
    assert results.count("| --- |") >= 1
    finding = section(text, "## Finding")
    assert finding and numbers(finding) & numbers(results), f"{name}: the finding quotes none of the measured numbers"
    files = section(text, "## Files")
    pngs = sorted(folder.glob("*.png"))
    assert pngs, f"{name}: no plot was written"
    for png in pngs:
        width, height = png_size(png)
        assert width > 100 and height > 100
        assert f"]({png.name})" in text
    for csv_file in folder.glob("*.csv"):
        assert f"`{csv_file.name}`" in files
        header, rows = read_csv(csv_file)
        assert rows and all(len(r) == len(header) for r in rows)
    assert any(isinstance(e, experiments.Stage) for e in events)


@pytest.mark.parametrize("name", [n for n in experiments.names() if n != "one-by-one"])
def test_training_experiments_record_every_arm(reports, name):
    folder, events = reports[name]
    header, steps = read_csv(folder / "steps.csv")
    assert tuple(header) == STEP_COLUMNS
    header, epochs = read_csv(folder / "epochs.csv")
    assert tuple(header) == EPOCH_COLUMNS
    arms = list(dict.fromkeys(r[0] for r in steps))
    assert len(arms) >= 2 and set(arms) == {r[0] for r in epochs}
    results = section((folder / "report.md").read_text(), "## Results")
    for arm in arms:
        label = arm.removeprefix("batch ")
        assert re.search(rf"^\| {re.escape(label)} \|", results, re.M), f"{name}: no table row for arm {arm!r}"
    # every step of every arm reached the listener, in order
    points = [e for e in events if isinstance(e, experiments.Point)]
    assert [(p.arm, p.step) for p in points] == [(r[0], int(r[2])) for r in steps]


def test_shuffle_evaluation_order_does_not_change_accuracy(reports):
    results = section((reports["shuffle"][0] / "report.md").read_text(), "## Results")
    ordered = re.search(r"\| validation set in order \| (.+) \|", results).group(1)
    shuffled = re.search(r"\| validation set shuffled \| (.+) \|", results).group(1)
    assert ordered == shuffled


def test_activation_finding_quotes_its_table(reports):
    folder, _ = reports["activation"]
    text = (folder / "report.md").read_text()
    _, epochs = read_csv(folder / "epochs.csv")
    finding = section(text, "## Finding")
    for row in epochs:
        assert f"{100 * float(row[6]):.1f} %" in finding


def test_classics_lists_every_zoo_classic(reports):
    _, rows = read_csv(reports["classics"][0] / "models.csv")
    assert [r[0] for r in rows] == list(experiments.classics.MODELS)
    assert all(int(r[1]) > 0 and int(r[2]) > 0 and float(r[3]) > 0 for r in rows)


def test_a_report_is_never_overwritten(reports, shared_data):
    folder, _ = reports["one-by-one"]
    before = (folder / "report.md").read_bytes()
    with pytest.raises(experiments.ExperimentError, match="already holds a report.md"):
        experiments.run("one-by-one", "tiny", folder, data_root=shared_data)
    assert (folder / "report.md").read_bytes() == before


@pytest.mark.parametrize("args, message", [
    (("nope", "tiny"), "unknown experiment 'nope'; there are: shuffle, augment"),
    (("shuffle", "huge"), "budget must be one of tiny, quick, full; got 'huge'"),
])
def test_bad_name_or_budget_is_one_sentence(tmp_path, args, message):
    with pytest.raises(experiments.ExperimentError) as e:
        experiments.run(*args, tmp_path / "out")
    assert str(e.value).startswith(message)
    assert not (tmp_path / "out").exists()


def test_out_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    with pytest.raises(experiments.ExperimentError, match="is a file, not a folder"):
        experiments.run("one-by-one", "tiny", target)
    assert target.read_text() == "keep me"


def test_a_folder_with_other_files_is_refused(tmp_path):
    (tmp_path / "steps.csv").write_text("mine")
    with pytest.raises(experiments.ExperimentError, match="is not empty; pick a new or empty folder"):
        experiments.run("one-by-one", "tiny", tmp_path)
    assert (tmp_path / "steps.csv").read_text() == "mine"


@pytest.mark.parametrize("name", experiments.names())
def test_every_budget_sets_the_same_settings(name):
    """quick and full run only outside the tests: their settings must be the tiny budget's keys."""
    module = experiments._module(name)
    assert set(module.BUDGETS) == set(experiments.BUDGETS)
    keys = set(module.BUDGETS["tiny"])
    assert all(set(module.BUDGETS[b]) == keys for b in experiments.BUDGETS)
