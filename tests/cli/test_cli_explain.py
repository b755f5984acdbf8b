"""numbacnn explain CKPT IMAGE [--layer NAME] [--class K] -o out.png: the top-3 classes,
a PNG of the Grad-CAM heat map over the image (the same map as engine.explain), and one
line on stderr for every mistake."""
import numpy as np
import pytest
from PIL import Image

import engine
from engine import cli
from engine.data import transforms as T
from engine.explain import explain, heatmap, overlay
from engine.train import save_checkpoint

NAMES = [f"digit{i}" for i in range(10)]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    engine.manual_seed(0)
    m = engine.models.get("mnist_cnn")
    path = tmp_path_factory.mktemp("ckpt") / "m.npz"
    save_checkpoint(path, m, {"input_shape": [1, 28, 28],
                              "metadata": {"dataset": "mnist", "class_names": NAMES, "input_shape": [1, 28, 28],
                                           "normalize": {"mean": [0.1307], "std": [0.3081]}}})
    return path


@pytest.fixture(scope="module")
def digit(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "digit.png"
    a = np.zeros((28, 28), np.uint8)
    a[6:22, 12:16] = 255
    Image.fromarray(a).save(path)
    return path


def run_cli(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_explain_writes_the_heat_map_over_the_image(capsys, ckpt, digit, tmp_path):
    out_png = tmp_path / "why.png"
    rc, out, err = run_cli(capsys, "explain", ckpt, digit, "--class", "digit7", "--layer", "0", "-o", out_png)
    assert rc == 0, err
    img = np.asarray(Image.open(digit))[..., None]
    x = T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))])(img)
    e = explain(engine.train.load_checkpoint(ckpt).build_model(), np.asarray(x, np.float32), layer="0", target=7,
                class_names=NAMES)
    lines = out.strip().splitlines()
    assert lines[0] == f"{digit}: " + ", ".join(f"{n} {100 * p:.1f}%" for _, n, p in e.top(3))
    assert lines[1] == f"wrote {out_png}: Grad-CAM of class digit7 at layer 0 (Conv2d, 24x24 map)"
    png = np.asarray(Image.open(out_png))
    big = np.repeat(np.repeat(img, 10, axis=0), 10, axis=1)             # 28 * 10 >= 256
    np.testing.assert_array_equal(png, overlay(big, heatmap(e.cam, (280, 280))))


def test_explain_defaults_to_the_predicted_class_at_the_last_conv(capsys, ckpt, digit, tmp_path):
    rc, out, err = run_cli(capsys, "explain", ckpt, digit, "-o", tmp_path / "a.png")
    assert rc == 0, err
    top = out.splitlines()[0].split(": ", 1)[1].split(",")[0].split()[0]
    assert out.splitlines()[1].endswith(f"class {top} at layer 3 (Conv2d, 8x8 map)")
    rc, out, err = run_cli(capsys, "explain", ckpt, digit, "--class", "4", "-o", tmp_path / "b.png")
    assert rc == 0 and "class digit4 at layer 3" in out


@pytest.mark.parametrize("args,needles", [
    (["--class", "cat"], ["--class 'cat' is not a class", "digit0, digit1"]),
    (["--class", "10"], ["target class must be a whole number in [0, 10), got 10"]),
    (["--layer", "9"], ["layer '9' outputs (1, 10), not feature maps"]),
    (["--layer", "x"], ["no layer named 'x'; its convolutions are: 0, 3"]),
])
def test_explain_errors(capsys, ckpt, digit, tmp_path, args, needles):
    out_png = tmp_path / "e.png"
    rc, out, err = run_cli(capsys, "explain", ckpt, digit, *args, "-o", out_png)
    assert rc == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for n in needles:
        assert n in err, err
    assert not out_png.exists()


def test_explain_keeps_what_is_there(capsys, ckpt, digit, tmp_path):
    kept = tmp_path / "kept.png"
    kept.write_bytes(b"mine")
    rc, out, err = run_cli(capsys, "explain", ckpt, digit, "-o", kept)
    assert rc == 2 and "already exists" in err and kept.read_bytes() == b"mine"
    rc, out, err = run_cli(capsys, "explain", ckpt, digit, "-o", tmp_path / "x.jpg")
    assert rc == 2 and "explain writes a PNG" in err
    rc, out, err = run_cli(capsys, "explain", ckpt, tmp_path / "none.png", "-o", tmp_path / "y.png")
    assert rc == 2 and "no such image" in err and not (tmp_path / "y.png").exists()
