"""PyTorch scripts that run on numbacnn with their imports renamed and nothing else changed
(``port_imports.rename_imports``), each in a child process whose working folder holds a ``data/``
folder in torchvision's layout; and, where torch and torchvision import, the same scripts
unchanged under PyTorch, which keeps them honest PyTorch code.

- ``cifar10_classifier.py``: the course's CIFAR-10 exercise as PyTorch code in the style of
  PyTorch's "Training a classifier" tutorial (CIFAR10 with ToTensor + Normalize, DataLoader
  with workers, a 2-conv 3-fc network, SGD with momentum, torch.save/torch.load of the
  state_dict, torch.max predictions, overall and per-class accuracy), on 500 training and
  100 test images of real CIFAR-10.
- ``mnist_fc_vs_cnn.py``: a fully connected network vs a CNN of about the same size on
  MNIST, then both on a fixed pixel permutation.

The README's "Coming from PyTorch" example runs too.
"""
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import engine
from port_imports import rename_imports, rename_line

HERE = Path(__file__).resolve().parent
TIMEOUT = 300  # seconds: a cold Numba cache compiles the kernels first
CLASSES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _run(argv, cwd: Path) -> subprocess.CompletedProcess:
    """The script as a user runs it on this machine: without the test suite's CUDA simulator."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    return subprocess.run([sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, stdin=subprocess.DEVNULL)


def _on_numbacnn(script: str, cwd: Path, *args) -> str:
    """stdout of ``script`` run on numbacnn (imports renamed) in ``cwd``; fails on an error."""
    renamed = cwd / script
    renamed.write_text(rename_imports((HERE / script).read_text(encoding="utf-8")), encoding="utf-8")
    done = _run([str(renamed), *args], cwd)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    return done.stdout


def _torch_ready():
    """Skips unless torch and torchvision both import (PyPI's torchvision does not beside a
    CPU build of torch)."""
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("torchvision") is None:
        pytest.skip("torch and torchvision are not both installed")
    probe = subprocess.run([sys.executable, "-c", "import torch, torchvision"], capture_output=True, text=True,
                           timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    if probe.returncode != 0:
        pytest.skip(f"torchvision does not import: {(probe.stderr.strip().splitlines() or ['?'])[-1]}")


def _on_torch(runner: str, cwd: Path) -> str:
    done = _run(["-c", runner], cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _workdir(tmp_path: Path, root: Path) -> Path:
    (tmp_path / "data").symlink_to(root / "data", target_is_directory=True)
    return tmp_path


# --- the renaming ----------------------------------------------------------------------------
@pytest.mark.parametrize("line, renamed", [
    ("import torch", "import engine as torch"),
    ("import torch.nn as nn", "import engine.nn as nn"),
    ("import torch.nn.functional as F", "import engine.nn.functional as F"),
    ("import torch.optim as optim", "import engine.optim as optim"),
    ("import torch.nn.init as init", "import engine.nn.init as init"),
    ("import torchvision", "import engine.vision as torchvision"),
    ("import torchvision.transforms as transforms", "import engine.vision.transforms as transforms"),
    ("from torchvision import datasets, transforms", "from engine.vision import datasets, transforms"),
    ("    from torch.utils.data import DataLoader", "    from engine.utils.data import DataLoader"),
    ("import torch.backends.cudnn as cudnn", None),
    ("import torchaudio", "import torchaudio"),
    ("x = torch.flatten(x, 1)", "x = torch.flatten(x, 1)"),
])
def test_rename_line(line, renamed):
    assert rename_line(line) == renamed


def test_rename_refuses_an_import_it_cannot_rename():
    with pytest.raises(ValueError, match="import torch.nn as NAME"):
        rename_line("import torch.nn")


@pytest.mark.parametrize("script", ["cifar10_classifier.py", "mnist_fc_vs_cnn.py"])
def test_only_import_lines_change(script):
    before = (HERE / script).read_text(encoding="utf-8").splitlines()
    after = rename_imports("\n".join(before)).splitlines()
    assert len(after) == len(before)
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert changed and all(re.match(r"\s*(import|from) ", a) for a, _ in changed)
    assert not any(re.match(r"\s*(import|from) torch", b) for b in after)


# --- the CIFAR-10 classifier ---------------------------------------------------------------------
def _check_classifier_output(out: str) -> None:
    lines = out.splitlines()
    assert "training done" in lines
    batch = re.search(r"^a training batch: (\w+) (\w+) (\w+) (\w+) \| grid \(3, 36, 138\)$", out, re.M)
    assert batch and set(batch.groups()) <= set(CLASSES)
    assert len(re.findall(r"^epoch [12], batch +\d+: mean loss \d+\.\d{3}$", out, re.M)) == 4  # 125 batches
    overall = re.search(r"^test accuracy: (\d+\.\d) % of 100 images$", out, re.M)
    assert overall and 0 <= float(overall.group(1)) <= 100
    per_class = re.findall(r"^  (\w+)\s+(\d+\.\d) %$", out, re.M)
    assert [c for c, _ in per_class] == list(CLASSES)
    # 100 test images, 10 per class: the overall figure is the mean of the per-class ones
    assert abs(float(overall.group(1)) - sum(float(a) for _, a in per_class) / 10) < 0.051
    assert lines[-1] in ("cpu", "cuda:0")


def test_cifar10_classifier_on_numbacnn(cifar_root, tmp_path):
    cwd = _workdir(tmp_path, cifar_root)
    _check_classifier_output(_on_numbacnn("cifar10_classifier.py", cwd))
    state = engine.load(cwd / "cifar_net.pth")
    assert {k: tuple(v.shape) for k, v in state.items()} == {
        "features.0.weight": (6, 3, 5, 5), "features.0.bias": (6,), "features.3.weight": (16, 6, 5, 5),
        "features.3.bias": (16,), "fc1.weight": (120, 400), "fc1.bias": (120,), "fc2.weight": (84, 120),
        "fc2.bias": (84,), "fc3.weight": (10, 84), "fc3.bias": (10,)}
    assert all(np.isfinite(v.numpy()).all() for v in state.values())


def test_cifar10_classifier_on_pytorch(cifar_root, tmp_path):
    _torch_ready()
    # the small batch files cannot have the official MD5s, which torchvision's download=True
    # checks before it would download: that check alone is switched off
    runner = ("import runpy, torchvision.datasets as d; d.CIFAR10._check_integrity = lambda self: True; "
              f"runpy.run_path({str(HERE / 'cifar10_classifier.py')!r}, run_name='__main__')")
    _check_classifier_output(_on_torch(runner, _workdir(tmp_path, cifar_root)))


# --- the MNIST comparison ----------------------------------------------------------------------
MNIST_ARGS = ("--epochs", "1", "--test-size", "2000")


def _accuracies(out: str) -> dict:
    found = re.findall(r"^  (fully connected|convolutional)\s+(original|permuted)\s+(\d+\.\d)$", out, re.M)
    return {(model, pixels): float(a) for model, pixels, a in found}


def _check_mnist_output(out: str) -> None:
    assert "fully connected, original pixels: 6442 parameters" in out
    assert "convolutional, original pixels: 6422 parameters" in out
    acc = _accuracies(out)
    assert set(acc) == {(m, p) for m in ("fully connected", "convolutional") for p in ("original", "permuted")}
    assert all(0 <= a <= 100 for a in acc.values())
    assert acc["fully connected", "original"] > 80 and acc["convolutional", "original"] > 80, acc
    assert len(re.findall(r"accuracy \d+/2000 ", out)) == 4


def test_mnist_fc_vs_cnn_on_numbacnn(mnist_root, tmp_path):
    _check_mnist_output(_on_numbacnn("mnist_fc_vs_cnn.py", _workdir(tmp_path, mnist_root), *MNIST_ARGS))


def test_mnist_fc_vs_cnn_on_pytorch(mnist_root, tmp_path):
    _torch_ready()
    cwd = _workdir(tmp_path, mnist_root)
    done = _run([str(HERE / "mnist_fc_vs_cnn.py"), *MNIST_ARGS], cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    _check_mnist_output(done.stdout)


# --- the README's example ----------------------------------------------------------------------
def test_readme_example_runs(mnist_root, tmp_path):
    readme = (HERE.parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Coming from PyTorch", 1)[1].split("\n## ", 1)[0]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    cwd = _workdir(tmp_path, mnist_root)
    (cwd / "example.py").write_text(example, encoding="utf-8")
    done = _run(["example.py"], cwd)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    state = engine.load(cwd / "net.pth")
    assert {k: tuple(v.shape) for k, v in state.items()} == {"conv.weight": (8, 1, 5, 5), "conv.bias": (8,),
                                                            "fc.weight": (10, 1152), "fc.bias": (10,)}
