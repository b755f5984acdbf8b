"""The main job end to end on real MNIST, kept short: train writes its run folder, evaluate
and predict read the checkpoint, and --resume continues the run."""
import csv
import json

import pytest
from PIL import Image

from engine import cli
from engine.train import load_checkpoint


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, shared_data):
    out = tmp_path_factory.mktemp("run") / "mnist"
    rc = cli.main(["train", "--model", "mnist_cnn", "--dataset", "mnist", "--data-root", str(shared_data),
                   "--train-size", "640", "--epochs", "1", "--batch-size", "64", "--optimizer", "adam", "--lr", "0.01",
                   "--schedule", "step:1:0.5", "--val-split", "0.1", "--workers", "0", "--seed", "1",
                   "--out", str(out)])
    assert rc == 0
    return out


def test_train_writes_the_run_folder(run_dir, capsys):
    for name in ("best.npz", "last.npz", "metrics.csv", "metrics.jsonl", "summary.txt"):
        assert (run_dir / name).is_file(), name
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    assert len(rows) == 1 and float(rows[0]["train_loss"]) > 0
    recs = [json.loads(line) for line in open(run_dir / "metrics.jsonl")]
    assert [r["event"] for r in recs] == ["start", "epoch", "done", "final"]
    assert recs[-1]["split"] == "test" and recs[-1]["num_samples"] == 10000
    text = (run_dir / "summary.txt").read_text()
    assert "Total parameters: 6,422" in text and "confusion matrix" in text and "command:" in text
    c = load_checkpoint(run_dir / "last.npz")
    assert c.metadata["dataset"] == "mnist" and c.class_names[0].startswith("0")
    assert c.input_shape == (1, 28, 28)
    assert c.meta["trainer"]["epoch"] == 1


def test_train_output_has_summary_first_and_the_result_last(shared_data, tmp_path, capsys):
    rc = cli.main(["train", "--data-root", str(shared_data), "--train-size", "128", "--epochs", "1",
                   "--batch-size", "64", "--val-split", "0.5", "--workers", "0", "--out", str(tmp_path / "r"),
                   "--augment", "crop,flip", "--optimizer", "sgd", "--schedule", "step:1"])
    out = capsys.readouterr().out
    assert rc == 0
    assert out.lstrip().startswith("Input: 1x28x28")
    assert "epoch 1/1" in out and "img/s" in out and "ETA" in out
    tail = out.strip().splitlines()[-3:]
    assert tail[0].startswith("test accuracy:") and tail[-1].startswith(f"saved to {tmp_path / 'r'}")


def test_evaluate_prints_accuracy_per_class_and_confusion(run_dir, shared_data, capsys):
    rc = cli.main(["evaluate", str(run_dir / "last.npz"), "--data-root", str(shared_data)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "accuracy:" in out and "per-class accuracy" in out and "confusion matrix" in out
    rc = cli.main(["evaluate", str(run_dir / "last.npz"), "--data-root", str(shared_data), "--json"])
    res = json.loads(capsys.readouterr().out)
    assert res["num_samples"] == 10000 and len(res["confusion"]) == 10
    final = [json.loads(line) for line in open(run_dir / "metrics.jsonl")][-1]
    assert res["accuracy"] == pytest.approx(final["accuracy"])


def test_predict_top3(run_dir, shared_data, tmp_path, capsys):
    import datasets
    test = datasets.get("mnist", root=shared_data, train=False)
    paths = []
    for i in range(2):
        p = tmp_path / f"digit{i}.png"
        Image.fromarray(test.data[i]).save(p)
        paths.append(str(p))
    rc = cli.main(["predict", str(run_dir / "last.npz"), *paths])
    out = capsys.readouterr().out.strip().splitlines()
    assert rc == 0 and len(out) == 2
    for line, p in zip(out, paths):
        assert line.startswith(p + ":")
        probs = [float(part.split()[-1].rstrip("%")) for part in line.split(":", 1)[1].split(",")]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True) and sum(probs) <= 100.01


def test_resume_continues_the_run(run_dir, shared_data, capsys):
    rc = cli.main(["train", "--resume", str(run_dir / "last.npz"), "--epochs", "2", "--data-root", str(shared_data),
                   "--workers", "0", "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0, out
    c = load_checkpoint(run_dir / "last.npz")
    assert c.meta["trainer"]["epoch"] == 2 and len(c.history) == 2
    assert c.metadata["args"]["train_size"] == 640          # options came from the checkpoint
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert c.history[1]["lr"] == pytest.approx(0.005)          # the step schedule continued
    # asking for epochs that are already done is a clear error
    rc = cli.main(["train", "--resume", str(run_dir / "last.npz"), "--epochs", "2", "--data-root", str(shared_data)])
    err = capsys.readouterr().err
    assert rc == 2 and "already holds 2 trained epochs" in err


def test_divergence_stops_with_a_clear_message(shared_data, tmp_path, capsys):
    rc = cli.main(["train", "--data-root", str(shared_data), "--train-size", "256", "--epochs", "2",
                   "--batch-size", "64", "--optimizer", "sgd", "--lr", "1e20", "--val-split", "0.25",
                   "--workers", "0", "--quiet", "--out", str(tmp_path / "nan")])
    err = capsys.readouterr().err
    assert rc == 1
    assert "Traceback" not in err and "the loss became" in err and "step" in err
    assert (tmp_path / "nan" / "summary.txt").is_file()


def test_cli_resume_equals_an_uninterrupted_run(shared_data, tmp_path, capsys):
    common = ["--data-root", str(shared_data), "--train-size", "256", "--batch-size", "64", "--optimizer", "sgd",
              "--lr", "0.05", "--schedule", "step:1:0.5", "--augment", "crop,flip", "--val-split", "0.25",
              "--workers", "1", "--seed", "3", "--quiet", "--model", "mnist_cnn"]
    assert cli.main(["train", *common, "--epochs", "2", "--out", str(tmp_path / "whole")]) == 0
    assert cli.main(["train", *common, "--epochs", "1", "--out", str(tmp_path / "part")]) == 0
    assert cli.main(["train", "--resume", str(tmp_path / "part" / "last.npz"), "--epochs", "2",
                     "--data-root", str(shared_data), "--quiet"]) == 0
    capsys.readouterr()
    whole = list(csv.DictReader(open(tmp_path / "whole" / "metrics.csv")))
    part = list(csv.DictReader(open(tmp_path / "part" / "metrics.csv")))
    for a, b in zip(whole, part):
        for k in ("step", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"):
            assert a[k] == b[k], k
    assert len(part) == 2


def test_seeded_subsets_for_training_and_validation(shared_data, tmp_path, capsys):
    rc = cli.main(["train", "--data-root", str(shared_data), "--train-size", "128", "--val-size", "100",
                   "--subset-seed", "3", "--epochs", "1", "--batch-size", "64", "--workers", "0",
                   "--out", str(tmp_path / "r")])
    out = capsys.readouterr().out
    assert rc == 0 and "128 training images" in out
    args = load_checkpoint(str(tmp_path / "r" / "last.npz")).metadata["args"]
    assert (args["train_size"], args["val_size"], args["subset_seed"]) == (128, 100, 3)
    rc = cli.main(["train", "--data-root", str(shared_data), "--train-size", "99999", "--subset-seed", "3",
                   "--epochs", "1", "--out", str(tmp_path / "big")])
    assert rc != 0 and "--train-size 99999 is more than the 60,000 training images" in capsys.readouterr().err
    assert not (tmp_path / "big").exists()
