"""``numbacnn import-weights`` and ``numbacnn export``: a torch file in, a checkpoint that the
other commands take out, safetensors and ONNX files out; mistakes end in one line."""
import json
import os

import numpy as np
import pytest

import engine
from engine import cli, nn
from engine.interop import read_safetensors
from engine.train import load_checkpoint, save_checkpoint
from torch_files import ODict, write_pt


def run_cli(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(rc, err, *needles):
    assert rc == 2, err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n.lower() in lines[0].lower(), lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A torch.save-style file of an mnist_cnn with 7 classes, wrapped and DataParallel-prefixed."""
    engine.manual_seed(4)
    m = engine.models.get("mnist_cnn", num_classes=7)
    path = tmp_path_factory.mktemp("w") / "mnist7.pth"
    write_pt(path, {"net": ODict({f"module.{k}": v for k, v in m.state_dict().items()}), "acc": 97.5, "epoch": 12})
    return m, path


def test_import_weights_writes_a_checkpoint_the_other_commands_take(tmp_path, capsys, trained):
    m, src = trained
    out = tmp_path / "run.npz"
    rc, stdout, err = run_cli(capsys, "import-weights", src, "--model", "mnist_cnn", "--dataset", "mnist", "-o", out)
    assert rc == 0, err
    assert "8 tensors into mnist_cnn" in stdout
    c = load_checkpoint(out)
    assert c.input_shape == (1, 28, 28) and c.metadata["dataset"] == "mnist"
    assert c.metadata["normalize"] == {"mean": [0.1307], "std": [0.3081]}
    model = c.build_model()     # 7 classes, read off the file's last Linear
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[k], v)
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    with nn.inference_mode():
        np.testing.assert_array_equal(model(x), m.eval()(x))
    rc, stdout, err = run_cli(capsys, "summary", "--checkpoint", out)
    assert rc == 0 and "Linear" in stdout, err


def test_evaluate_on_real_mnist(tmp_path, capsys, shared_data):
    engine.manual_seed(0)
    m = engine.models.get("mnist_cnn")
    src = write_pt(tmp_path / "m.pt", {"model_state_dict": ODict(m.state_dict())})
    out = tmp_path / "run.npz"
    assert run_cli(capsys, "import-weights", src, "--model", "mnist_cnn", "--dataset", "mnist", "-o", out)[0] == 0
    rc, stdout, err = run_cli(capsys, "evaluate", out, "--data-root", shared_data, "--json")
    assert rc == 0, err
    assert json.loads(stdout)["num_samples"] == 10_000


def test_export_safetensors_and_onnx_then_import_again(tmp_path, capsys):
    pytest.importorskip("safetensors")
    onnx = pytest.importorskip("onnx")
    engine.manual_seed(1)
    m = engine.models.get("resnet20")
    ckpt = save_checkpoint(tmp_path / "r.npz", m, {"input_shape": [3, 32, 32]})
    rc, stdout, err = run_cli(capsys, "export", ckpt, "-o", tmp_path / "r.safetensors")
    assert rc == 0 and "safetensors" in stdout, err
    arrays, meta = read_safetensors(tmp_path / "r.safetensors")
    assert sorted(arrays) == sorted(m.state_dict()) and json.loads(meta["numbacnn.spec"]) == m.spec()
    rc, stdout, err = run_cli(capsys, "export", ckpt, "--format", "onnx", "-o", tmp_path / "r.model", "--opset", 18)
    assert rc == 0, err
    proto = onnx.load(tmp_path / "r.model")
    assert proto.opset_import[0].version == 18
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim[1:]] == [3, 32, 32]
    # a numbacnn safetensors file carries its spec: no --model needed
    rc, stdout, err = run_cli(capsys, "import-weights", tmp_path / "r.safetensors", "-o", tmp_path / "back.npz")
    assert rc == 0, err
    back = load_checkpoint(tmp_path / "back.npz").build_model()
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[k], v)


def test_nothing_is_overwritten_without_force(tmp_path, capsys, trained):
    _, src = trained
    out = tmp_path / "run.npz"
    out.write_bytes(b"mine")
    rc, _, err = run_cli(capsys, "import-weights", src, "--model", "mnist_cnn", "-o", out)
    assert_one_line_error(rc, err, "already exists", "--force")
    assert out.read_bytes() == b"mine"
    assert run_cli(capsys, "import-weights", src, "--model", "mnist_cnn", "-o", out, "--force")[0] == 0
    assert load_checkpoint(out).build_model() is not None
    target = tmp_path / "m.onnx"
    target.write_bytes(b"mine")
    rc, _, err = run_cli(capsys, "export", out, "-o", target)
    assert_one_line_error(rc, err, "already exists")
    assert target.read_bytes() == b"mine"


def test_user_mistakes_end_in_one_line(tmp_path, capsys, trained):
    _, src = trained
    out = tmp_path / "o.npz"
    ckpt = save_checkpoint(tmp_path / "c.npz", engine.models.get("mnist_cnn"))      # no input shape recorded
    hostile = write_pt(tmp_path / "evil.pt", pickle_bytes=b"cos\nsystem\n(X\x04\x00\x00\x00trueR.")
    (tmp_path / "junk.pt").write_bytes(b"\x00" * 64)
    cases = [
        (["import-weights", tmp_path / "none.pt", "--model", "mnist_cnn", "-o", out], ["does not exist"]),
        (["import-weights", tmp_path / "junk.pt", "--model", "mnist_cnn", "-o", out], ["not a PyTorch checkpoint"]),
        (["import-weights", hostile, "--model", "mnist_cnn", "-o", out], ["os.system", "may not use"]),
        (["import-weights", src, "--model", "cifar_cnn", "-o", out], ["does not fit the model", "missing keys"]),
        (["import-weights", src, "--model", "nonet", "-o", out], ["unknown model 'nonet'"]),
        (["import-weights", src, "--model", "mnist_cnn", "--key", "opt", "-o", out], ["no entry 'opt'"]),
        (["import-weights", src, "-o", out], ["carries no numbacnn model spec", "--model"]),
        (["import-weights", src, "--model", "mnist_cnn", "-o", tmp_path], ["is a folder"]),
        (["import-weights", src, "--model", "mnist_cnn", "--dataset", "imagenet", "-o", out], ["invalid choice"]),
        (["export", ckpt, "-o", tmp_path / "m.bin"], ["cannot tell the format", "--format"]),
        (["export", ckpt, "-o", tmp_path / "m.onnx"], ["does not record its input shape", "--input"]),
        (["export", ckpt, "-o", tmp_path / "m.onnx", "--input", "3x32x32"], ["does not take inputs of shape"]),
        (["export", ckpt, "-o", tmp_path / "m.onnx", "--input", "1x28x28", "--opset", "9"],
         ["opset must be an integer"]),
        (["export", tmp_path / "none.npz", "-o", tmp_path / "m.safetensors"], ["does not exist"]),
    ]
    for argv, needles in cases:
        rc, _, err = run_cli(capsys, *argv)
        assert_one_line_error(rc, err, *needles)
    assert not out.exists() and not any(p.suffix in (".onnx", ".safetensors", ".bin") for p in tmp_path.iterdir())
    assert not os.path.exists("true")
