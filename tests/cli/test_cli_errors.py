"""Every mistake a user can make on the command line ends in one clear line on stderr
and a non-zero exit status, never a traceback."""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import engine
from engine import cli
from engine.cli import evaluate as cli_evaluate
from engine.train import save_checkpoint
from helpers.dataset_files import write_noise_folder

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_cli(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(rc, err, *needles, code=2):
    assert rc == code, err
    assert "Traceback" not in err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    for n in needles:
        assert n.lower() in lines[0].lower(), lines[0]


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    """A checkpoint of an untrained mnist_cnn with the metadata the CLI records."""
    engine.manual_seed(0)
    m = engine.models.get("mnist_cnn")
    path = tmp_path_factory.mktemp("ckpt") / "m.npz"
    save_checkpoint(path, m, {"input_shape": [1, 28, 28],
                              "metadata": {"dataset": "mnist", "class_names": [str(i) for i in range(10)],
                                           "input_shape": [1, 28, 28],
                                           "normalize": {"mean": [0.1307], "std": [0.3081]},
                                           "args": {"model": "mnist_cnn", "dataset": "mnist"}}})
    return path


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("folders")
    rng = np.random.default_rng(0)
    one = base / "one_class"
    (one / "cats").mkdir(parents=True)
    rgb = write_noise_folder(base / "rgb", 4, rng)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(one / "cats" / f"{i}.png")
    return {"one": one, "rgb": rgb, "base": base}


# --- train ------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv,needles", [
    (["--batch-size", "0"], ["--batch-size", "at least 1"]),
    (["--batch-size", "ten"], ["--batch-size", "whole number"]),
    (["--epochs", "0"], ["--epochs"]),
    (["--lr", "-1"], ["--lr"]),
    (["--val-split", "1.5"], ["--val-split"]),
    (["--optimizer", "rmsprop"], ["--optimizer", "invalid choice"]),
    (["--model", "resnet99"], ["unknown model", "resnet99", "mnist_cnn"]),
    (["--schedule", "warp"], ["unknown --schedule"]),
    (["--schedule", "step"], ["needs a value"]),
    (["--schedule", "multistep:a,b"], ["milestones"]),
    (["--augment", "rotate"], ["unknown --augment", "rotate"]),
    (["--no-such-flag"], ["unrecognized arguments"]),
])
def test_train_usage_errors(capsys, argv, needles):
    rc, out, err = run_cli(capsys, "train", *argv)
    assert_one_line_error(rc, err, *needles)


def test_dataset_that_is_not_there(capsys, tmp_path):
    rc, out, err = run_cli(capsys, "train", "--dataset", "mnist", "--data-root", tmp_path)
    assert_one_line_error(rc, err, "mnist")


def test_unknown_dataset_name(capsys, tmp_path):
    rc, out, err = run_cli(capsys, "train", "--dataset", "imagenet-9000", "--data-root", tmp_path)
    assert_one_line_error(rc, err, "imagenet-9000")


def test_folder_with_one_class(capsys, folders):
    rc, out, err = run_cli(capsys, "train", "--dataset", folders["one"], "--out", folders["base"] / "r1")
    assert_one_line_error(rc, err, "one class", "two")


def test_batch_larger_than_dataset(capsys, folders):
    rc, out, err = run_cli(capsys, "train", "--dataset", folders["rgb"], "--batch-size", "64",
                           "--out", folders["base"] / "r2")
    assert_one_line_error(rc, err, "--batch-size 64")


def test_cuda_without_a_gpu(capsys, folders, no_gpu):
    rc, out, err = run_cli(capsys, "train", "--dataset", folders["rgb"], "--device", "cuda")
    assert_one_line_error(rc, err, "cuda")


def test_resume_from_another_architecture(capsys, tiny_ckpt, shared_data, tmp_path):
    rc, out, err = run_cli(capsys, "train", "--resume", tiny_ckpt, "--model", "lenet5", "--data-root", shared_data,
                           "--out", tmp_path / "r", "--quiet")
    assert_one_line_error(rc, err, "different architecture")


def test_resume_from_a_missing_checkpoint(capsys, tmp_path):
    rc, out, err = run_cli(capsys, "train", "--resume", tmp_path / "nope.npz")
    assert_one_line_error(rc, err, "does not exist")


def test_existing_run_folder_is_not_overwritten(capsys, tmp_path, folders):
    (tmp_path / "last.npz").write_bytes(b"x")
    rc, out, err = run_cli(capsys, "train", "--dataset", folders["rgb"], "--out", tmp_path)
    assert_one_line_error(rc, err, "already holds a run", "--resume")


# --- evaluate / predict / summary ----------------------------------------------------------------
def test_evaluate_missing_checkpoint(capsys, tmp_path):
    rc, out, err = run_cli(capsys, "evaluate", tmp_path / "missing.npz")
    assert_one_line_error(rc, err, "does not exist")


def test_evaluate_file_that_is_not_a_checkpoint(capsys, tmp_path):
    p = tmp_path / "notes.npz"
    p.write_text("hello")
    rc, out, err = run_cli(capsys, "evaluate", p)
    assert_one_line_error(rc, err, "not a numbacnn checkpoint")


def test_evaluate_on_images_of_another_shape(capsys, tiny_ckpt, folders):
    rc, out, err = run_cli(capsys, "evaluate", tiny_ckpt, "--dataset", folders["rgb"])
    assert_one_line_error(rc, err, "1x28x28", "3x8x8")


def test_predict_missing_image(capsys, tiny_ckpt, tmp_path):
    rc, out, err = run_cli(capsys, "predict", tiny_ckpt, tmp_path / "nope.png")
    assert_one_line_error(rc, err, "no such image")


def test_predict_not_an_image(capsys, tiny_ckpt, tmp_path):
    p = tmp_path / "x.png"
    p.write_text("not a png")
    rc, out, err = run_cli(capsys, "predict", tiny_ckpt, p)
    assert_one_line_error(rc, err, "not a readable image")


def test_predict_from_a_foreign_npz(capsys, tmp_path):
    p = tmp_path / "w.npz"
    np.savez(p, w=np.zeros(2))
    rc, out, err = run_cli(capsys, "predict", p, p)
    assert_one_line_error(rc, err, "not a numbacnn checkpoint")


@pytest.mark.parametrize("argv,needles", [
    (["--model", "nope"], ["unknown model"]),
    (["--model", "mnist_cnn", "--input", "1x4x4"], ["does not fit", "1x4x4"]),
    (["--model", "mnist_cnn", "--input", "abc"], ["--input"]),
    ([], ["--model"]),
])
def test_summary_errors(capsys, argv, needles):
    rc, out, err = run_cli(capsys, "summary", *argv)
    assert_one_line_error(rc, err, *needles)


def test_summary_and_models(capsys):
    rc, out, err = run_cli(capsys, "summary", "--model", "resnet20", "--input", "3x32x32")
    assert rc == 0 and "Total parameters: 272,474" in out
    rc, out, err = run_cli(capsys, "models")
    assert rc == 0
    for name in engine.models.names():
        assert name in out
    assert "6,422" in out


def test_no_command_prints_help(capsys):
    rc, out, err = run_cli(capsys)
    assert rc == 2 and "train" in out


# --- bench ------------------------------------------------------------------------------------
def test_bench_is_a_command_with_its_own_help(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["bench", "--help"])
    assert info.value.code == 0 and "--ops" in capsys.readouterr().out


def test_bench_settings_that_cannot_run_are_one_line(capsys):
    rc, out, err = run_cli(capsys, "bench", "--device", "tpu")
    assert_one_line_error(rc, err, "unknown device 'tpu'")
    rc, out, err = run_cli(capsys, "bench", "--device", "cpu", "--ops", "convolution")
    assert_one_line_error(rc, err, "unknown op(s) convolution")


# --- the real entry point -------------------------------------------------------------------------
def test_python_m_engine_exits_cleanly_on_user_error():
    r = subprocess.run([sys.executable, "-m", "engine", "train", "--batch-size", "0"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "--batch-size" in r.stderr


def test_resume_one_cycle_with_other_epochs(capsys, tmp_path):
    engine.manual_seed(0)
    p = tmp_path / "oc.npz"
    save_checkpoint(p, engine.models.get("mnist_cnn"),
                    {"metadata": {"args": {"model": "mnist_cnn", "schedule": "onecycle", "epochs": 3}}})
    rc, out, err = run_cli(capsys, "train", "--resume", p, "--epochs", "5")
    assert_one_line_error(rc, err, "planned for 3 epochs", "--epochs 3")


def test_folder_dataset_trains_with_image_size(capsys, folders):
    out_dir = folders["base"] / "folder_run"
    rc, out, err = run_cli(capsys, "train", "--dataset", folders["rgb"], "--model", "mnist_cnn", "--image-size", "28",
                           "--batch-size", "2", "--epochs", "1", "--workers", "0", "--quiet", "--out", out_dir)
    assert rc == 0, err
    assert "held-out validation accuracy" in out and (out_dir / "last.npz").is_file()
    rc, out, err = run_cli(capsys, "evaluate", out_dir / "last.npz")      # dataset and size from the checkpoint
    assert rc == 0, err
    assert "samples: 2" in out


def test_model_that_does_not_fit_the_images(capsys, folders):
    rc, out, err = run_cli(capsys, "train", "--dataset", folders["rgb"], "--model", "cifar_cnn", "--batch-size", "2",
                           "--out", folders["base"] / "nofit")
    assert_one_line_error(rc, err, "cifar_cnn", "3x8x8")


def test_image_size_on_a_named_dataset(capsys, shared_data, tmp_path):
    rc, out, err = run_cli(capsys, "train", "--dataset", "mnist", "--data-root", shared_data, "--image-size", "32",
                           "--out", tmp_path / "x")
    assert_one_line_error(rc, err, "--image-size")


# --- schedules, bench, predict's limits ----------------------------------------------------------------
@pytest.mark.parametrize("schedule,needles", [
    ("step:nan", ["--schedule step:nan", "EPOCHS must be a whole number"]),
    ("step:1:nan", ["--schedule step:1:nan", "value must be a finite number"]),
    ("plateau:-3", ["--schedule plateau:-3", "PATIENCE must be a whole number >= 0"]),
    ("plateau:2.5", ["PATIENCE must be a whole number"]),
    ("exp:inf", ["--schedule exp:inf", "finite number"]),
    ("multistep:0,2", ["milestones must be epochs >= 1"]),
])
def test_schedule_values_are_checked_before_any_data_is_read(capsys, tmp_path, schedule, needles):
    rc, out, err = run_cli(capsys, "train", "--schedule", schedule, "--data-root", tmp_path / "nothing-here")
    assert_one_line_error(rc, err, *needles)


@pytest.mark.parametrize("schedule,needles", [
    ("step:1:-0.5", ["--schedule step:1:-0.5", "gamma must be a finite number >= 0"]),
    ("plateau:2:1.5", ["--schedule plateau", "factor must be in (0, 1)"]),
])
def test_schedule_values_out_of_range(capsys, folders, schedule, needles):
    rc, out, err = run_cli(capsys, "train", "--dataset", folders["rgb"], "--image-size", "28", "--batch-size", "2",
                           "--schedule", schedule, "--out", folders["base"] / "sched")
    assert_one_line_error(rc, err, *needles)


@pytest.mark.parametrize("argv,needles", [
    (["--batch-size", "0"], ["--batch-size", "at least 1"]),
    (["--repeats", "0"], ["--repeats", "at least 1"]),
    (["--steps", "-1"], ["--steps"]),
    (["--warmup", "x"], ["--warmup", "whole number"]),
])
def test_bench_argument_errors(capsys, argv, needles):
    rc, out, err = run_cli(capsys, "bench", *argv)
    assert_one_line_error(rc, err, *needles)


def test_bench_json_that_cannot_be_written_is_refused_before_running(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for target, needle in ((blocker / "out.json", "is a file, not a folder"), (tmp_path, "is a folder")):
        rc, out, err = run_cli(capsys, "bench", "--ops", "relu", "--device", "cpu", "--json", target)
        assert_one_line_error(rc, err, f"--json {target}", needle)
        assert out == ""                                       # nothing was benchmarked


def _png(path, width, height):
    """A PNG whose header declares width x height (its pixel data is not there: only the
    header is read before the size is checked)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("size,needle", [
    ((9000, 8000), "more than numbacnn decodes"),                # our limit, below Pillow's warning
    ((10000, 10000), "refused as a decompression bomb"),        # Pillow's warning, made an error
    ((40000, 40000), "refused as a decompression bomb"),        # Pillow's error
])
def test_predict_refuses_decompression_bombs(capsys, tiny_ckpt, tmp_path, size, needle):
    bomb = _png(tmp_path / "bomb.png", *size)
    rc, out, err = run_cli(capsys, "predict", tiny_ckpt, bomb)
    assert_one_line_error(rc, err, str(bomb), needle)


def test_predict_refuses_a_checkpoint_of_implausible_input_size(capsys, tmp_path):
    engine.manual_seed(0)
    p = tmp_path / "huge.npz"
    save_checkpoint(p, engine.models.get("mnist_cnn"), {"input_shape": [1, 100000, 100000]})
    img = tmp_path / "x.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(img)
    rc, out, err = run_cli(capsys, "predict", p, img)
    assert_one_line_error(rc, err, f"checkpoint {p} is damaged: input_shape 1x100000x100000 is beyond")


def test_predict_refuses_a_model_too_big_for_memory(capsys, tmp_path, monkeypatch):
    from engine import nn
    engine.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 64, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 2))
    p = tmp_path / "wide.npz"
    save_checkpoint(p, model, {"input_shape": [1, 8192, 8192]})
    monkeypatch.setattr(cli_evaluate, "_memory_budget", lambda: 1 << 30)
    img = tmp_path / "x.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(img)
    rc, out, err = run_cli(capsys, "predict", p, img)
    assert_one_line_error(rc, err, "needs 16.0 GiB for 1x8192x8192 images")


def test_predict_refuses_a_four_channel_model(capsys, tmp_path):
    from engine import nn
    engine.manual_seed(0)
    p = tmp_path / "rgba.npz"
    save_checkpoint(p, nn.Sequential(nn.Conv2d(4, 2, 3), nn.Flatten(), nn.Linear(72, 2)), {"input_shape": [4, 8, 8]})
    img = tmp_path / "x.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(img)
    rc, out, err = run_cli(capsys, "predict", p, img)
    assert_one_line_error(rc, err, "takes 4-channel images")
