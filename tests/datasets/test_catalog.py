"""datasets.get, default_root and the fixed CIFAR-10 / ImageFolder hold-out."""

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import datasets
from helpers.dataset_files import cifar_files, write_cifar_folder, write_mnist


def test_default_root(monkeypatch):
    monkeypatch.delenv("NUMBACNN_DATA", raising=False)
    assert datasets.default_root() == Path("data")
    monkeypatch.setenv("NUMBACNN_DATA", "/some/where")
    assert datasets.default_root() == Path("/some/where")
    assert datasets.default_root("/explicit") == Path("/explicit")


def _jpeg_archive(path, per_class=10, classes=("a", "b", "c")):
    with tarfile.open(path, "w:gz") as tar:
        for c in classes:
            for k in range(per_class):
                buf = io.BytesIO()
                Image.fromarray(np.full((4, 4, 3), k * 20, np.uint8)).save(buf, format="JPEG")
                info = tarfile.TarInfo(f"train/{c}/{k:04d}.jpg")
                info.size = buf.tell()
                buf.seek(0)
                tar.addfile(info, buf)
    return path


def test_cifar10_falls_back_to_the_jpeg_archive_with_a_fixed_holdout(tmp_path, cache_dir):
    _jpeg_archive(tmp_path / "cifar10-train-jpg.tar.gz")
    train = datasets.get("cifar10", tmp_path, train=True)
    val = datasets.get("CIFAR-10", tmp_path, train=False)
    assert isinstance(train, datasets.ImageFolder) and (len(train), len(val)) == (27, 3)
    assert [s[0] for s in val.samples] == [f"train/{c}/0009.jpg" for c in "abc"]
    assert not {s[0] for s in val.samples} & {s[0] for s in train.samples}
    assert "validation" in val.split_note and "10%" in val.split_note and "training" in train.split_note
    assert train.data.shape == (27, 4, 4, 3) and train.targets.tolist() == [0] * 9 + [1] * 9 + [2] * 9


def test_holdout_of_the_real_archive_is_45000_5000(shared_data):
    val = datasets.get("cifar10", shared_data, train=False)
    assert len(val) == 5000 and np.bincount(val.targets).tolist() == [500] * 10
    assert val.samples[0] == ("train/airplane/4500.jpg", 0)
    assert len(datasets.get("cifar10", shared_data, train=True)) == 45000


def test_cifar10_official_layout_wins(tmp_path, cache_dir):
    _jpeg_archive(tmp_path / "cifar10-train-jpg.tar.gz")
    write_cifar_folder(tmp_path, cifar_files())
    with pytest.warns(datasets.ChecksumWarning):
        ds = datasets.get("cifar10", tmp_path, train=False)
    assert isinstance(ds, datasets.CIFAR10) and len(ds) == 4


def test_named_datasets(tmp_path):
    write_mnist(tmp_path / "mnist")
    write_mnist(tmp_path / "fashion-mnist")
    with pytest.warns(datasets.ChecksumWarning):
        assert isinstance(datasets.get("MNIST", tmp_path, train=False), datasets.MNIST)
        assert type(datasets.get("fashion_mnist", tmp_path)) is datasets.FashionMNIST


def test_paths_get_the_holdout(tmp_path, cache_dir):
    path = _jpeg_archive(tmp_path / "mine.tar.gz", per_class=4, classes=("x", "y"))
    assert (len(datasets.get(str(path), train=True)), len(datasets.get(path, train=False))) == (6, 2)


def test_unknown_name_and_misplaced_options(tmp_path):
    with pytest.raises(datasets.DatasetError, match="not a known dataset"):
        datasets.get("imagenet", tmp_path)
    with pytest.raises(TypeError, match="size"):
        datasets.get("mnist", tmp_path, size=32)


def test_cifar10_with_nothing_names_the_files(tmp_path):
    with pytest.raises(datasets.DatasetError, match="cifar-10-python.tar.gz"):
        datasets.get("cifar10", tmp_path)
