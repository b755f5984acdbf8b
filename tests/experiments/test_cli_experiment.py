"""``numbacnn experiment``: the list, a run, and every mistake as one line with exit status 2."""
import pytest

from engine import cli, experiments


def run_cli(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_list_names_every_experiment_with_its_question(capsys):
    rc, out, _ = run_cli(capsys, "experiment", "--list")
    assert rc == 0
    lines = out.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == experiments.names()
    assert all(experiments.question(n) in ln for n, ln in zip(experiments.names(), lines))


def test_run_writes_the_report(capsys, shared_data, tmp_path):
    out_dir = tmp_path / "r"
    rc, out, err = run_cli(capsys, "experiment", "one-by-one", "--budget", "tiny", "--out", out_dir,
                           "--data-root", shared_data)
    assert rc == 0, err
    assert f"report: {out_dir / 'report.md'}" in out
    assert "[one-by-one] GoogLeNet's 1x1 reductions" in out
    assert (out_dir / "report.md").read_text().startswith("# Experiment: one-by-one")
    before = (out_dir / "report.md").read_bytes()
    rc, _, err = run_cli(capsys, "experiment", "one-by-one", "--budget", "tiny", "--out", out_dir)
    assert rc == 2 and err.count("\n") == 1 and "already holds a report.md" in err
    assert (out_dir / "report.md").read_bytes() == before


@pytest.mark.parametrize("argv, needle", [
    (["experiment"], "experiment needs a NAME or --list"),
    (["experiment", "nope"], "unknown experiment 'nope'"),
    (["experiment", "shuffle", "--budget", "huge"], "budget must be one of tiny, quick, full"),
    (["experiment", "shuffle", "--budget", "tiny", "--data-root", "/nonexistent/numbacnn"], "/nonexistent/numbacnn"),
])
def test_mistakes_are_one_line(capsys, tmp_path, argv, needle):
    rc, _, err = run_cli(capsys, *argv, "--out", tmp_path / "out")
    assert rc == 2
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert needle in err
    assert not (tmp_path / "out").exists()
