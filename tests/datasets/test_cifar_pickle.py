"""CIFAR-10 from small official-layout batch files, the restricted unpickler, and broken files."""

import io
import pickle
import tarfile
import warnings

import numpy as np
import pytest

import datasets
from helpers.dataset_files import (CIFAR_CLASSES, cifar_batch, cifar_files, expected_cifar, write_cifar_folder,
                                   write_cifar_tar)
from datasets import safepickle

pytestmark = pytest.mark.filterwarnings("ignore::datasets.ChecksumWarning")
TRAIN = [f"data_batch_{k}" for k in range(1, 6)]


@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize("layout", ["folder", "tar.gz"])
def test_official_layout(tmp_path, protocol, layout):
    files = cifar_files(protocol=protocol)
    (write_cifar_folder if layout == "folder" else write_cifar_tar)(tmp_path, files)
    train = datasets.CIFAR10(tmp_path, train=True)
    test = datasets.CIFAR10(tmp_path, train=False)
    data, labels = expected_cifar(files, TRAIN)
    assert train.data.shape == (20, 32, 32, 3) and train.data.dtype == np.uint8 and train.data.flags.c_contiguous
    np.testing.assert_array_equal(train.data, data)
    np.testing.assert_array_equal(train.targets, labels)
    assert train.targets.dtype == np.int64 and train.classes == CIFAR_CLASSES
    np.testing.assert_array_equal(test.data, expected_cifar(files, ["test_batch"])[0])
    img, target = train[0]
    assert img.shape == (32, 32, 3) and target == labels[0]


def test_rgb_planes_become_hwc(tmp_path):
    files = cifar_files()
    batch = cifar_batch(4, 1)
    batch[b"data"][0, :1024] = 200  # red plane of the first image
    batch[b"data"][0, 1024:] = 7
    files["data_batch_1"] = pickle.dumps(batch, protocol=2)
    write_cifar_folder(tmp_path, files)
    img = datasets.CIFAR10(tmp_path).data[0]
    assert (img[..., 0] == 200).all() and (img[..., 1:] == 7).all()


def test_differing_checksum_warns_but_loads(tmp_path):
    write_cifar_folder(tmp_path, cifar_files())
    with pytest.warns(datasets.ChecksumWarning, match="data_batch_1"):
        datasets.CIFAR10(tmp_path)


def test_missing_dataset_names_the_files(tmp_path):
    with pytest.raises(datasets.DatasetError) as e:
        datasets.CIFAR10(tmp_path)
    msg = str(e.value)
    assert "cifar-10-python.tar.gz" in msg and "cifar-10-batches-py" in msg and str(tmp_path.resolve()) in msg


# -- the restricted unpickler -------------------------------------------------

class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_crafted_pickle_cannot_run_code(tmp_path):
    victim = tmp_path / "pwned"
    files = cifar_files()
    files["data_batch_1"] = pickle.dumps({b"data": _Evil(str(victim)), b"labels": []}, protocol=2)
    write_cifar_folder(tmp_path, files)
    with pytest.raises(datasets.DatasetError, match="forbidden global"):
        datasets.CIFAR10(tmp_path)
    assert not victim.exists()


@pytest.mark.parametrize("global_", [b"cos\nsystem\n", b"cbuiltins\neval\n", b"cnumpy\nload\n"])
def test_unpickler_refuses_other_globals(global_):
    with pytest.raises(pickle.UnpicklingError, match="forbidden global"):
        safepickle.loads(global_ + b"(S'echo hi'\ntR.")


def test_unpickler_refuses_object_arrays():
    for protocol in (2, 5):
        blob = pickle.dumps(np.array([1, "x"], dtype=object), protocol=protocol)
        with pytest.raises(pickle.UnpicklingError, match="object dtypes|forbidden global"):
            safepickle.loads(blob)


def test_unpickler_reads_numpy_and_containers():
    value = {b"a": [1, 2.5, (b"x", "y")], b"data": np.arange(6, dtype=np.uint8).reshape(2, 3)}
    for protocol in (2, 3, 4, 5):
        out = safepickle.loads(pickle.dumps(value, protocol=protocol))
        assert out[b"a"] == value[b"a"]
        np.testing.assert_array_equal(out[b"data"], value[b"data"])


# -- broken files --------------------------------------------------------------

def _batch_with(**changes):
    batch = cifar_batch(4, 1)
    for key, value in changes.items():
        if value is None:
            del batch[key.encode()]
        else:
            batch[key.encode()] = value
    return pickle.dumps(batch, protocol=2)


@pytest.mark.parametrize("blob, message", [
    (_batch_with(labels=None), "lacks the key.*labels"),
    (_batch_with(data=None), "lacks the key.*data"),
    (_batch_with(labels=[1, 2, 3]), "4 images but 3 labels"),
    (pickle.dumps(cifar_batch(3, 1), protocol=2), "3 images where .*batches.meta says 4 per batch"),
    (_batch_with(labels=[1, 2, 10, 3]), "label 10 at index 2"),
    (_batch_with(labels=[1, 2, -1, 3]), "label -1 at index 2"),
    (_batch_with(labels=["a", "b", "c", "d"]), "not a list of integers"),
    (_batch_with(data=np.zeros((4, 100), np.uint8)), "not uint8 N x 3072"),
    (_batch_with(data=np.zeros((4, 3072), np.float32)), "not uint8 N x 3072"),
    (_batch_with(data=[1, 2, 3]), "'data' is list"),
    (pickle.dumps([1, 2, 3], protocol=2), "holds a list, not a dict"),
    (_batch_with()[:-40], "not a valid CIFAR-10 pickle"),
    (b"", "not a valid CIFAR-10 pickle"),
    (b"\x80\x02garbage", "not a valid CIFAR-10 pickle"),
])
def test_broken_batch_raises_dataset_error_naming_the_file(tmp_path, blob, message):
    files = cifar_files()
    files["data_batch_3"] = blob
    write_cifar_folder(tmp_path, files)
    with pytest.raises(datasets.DatasetError, match=message) as e:
        datasets.CIFAR10(tmp_path)
    assert str(tmp_path / "cifar-10-batches-py" / "data_batch_3") in str(e.value)


def test_broken_meta(tmp_path):
    files = cifar_files()
    files["batches.meta"] = pickle.dumps({b"num_vis": 3072}, protocol=2)
    write_cifar_folder(tmp_path, files)
    with pytest.raises(datasets.DatasetError, match="batches.meta.*label_names"):
        datasets.CIFAR10(tmp_path)


def test_missing_batch_file(tmp_path):
    files = cifar_files()
    del files["data_batch_5"]
    write_cifar_folder(tmp_path, files)
    with pytest.raises(datasets.DatasetError, match="data_batch_5: cannot be read"):
        datasets.CIFAR10(tmp_path)


def test_archive_missing_member(tmp_path):
    files = cifar_files()
    del files["test_batch"]
    write_cifar_tar(tmp_path, files)
    with pytest.raises(datasets.DatasetError, match="test_batch: missing from the archive"):
        datasets.CIFAR10(tmp_path, train=False)


def test_truncated_archive(tmp_path):
    path = write_cifar_tar(tmp_path, cifar_files())
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(datasets.DatasetError, match="cifar-10-python.tar.gz: broken gzip stream"):
        datasets.CIFAR10(tmp_path)


def test_not_an_archive(tmp_path):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"hello")
    with pytest.raises(datasets.DatasetError, match="cifar-10-python.tar.gz: not a readable tar archive"):
        datasets.CIFAR10(tmp_path)


def test_official_archive_checksum_skips_member_checks(tmp_path, monkeypatch):
    path = write_cifar_tar(tmp_path, cifar_files())
    monkeypatch.setattr(datasets.CIFAR10, "tgz_md5", datasets.download.md5_file(path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(datasets.CIFAR10(tmp_path)) == 20


def test_archive_with_extra_members_is_fine(tmp_path):
    files = cifar_files()
    path = write_cifar_tar(tmp_path, files)
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in list(files.items()) + [("readme.html", b"<html>")]:
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    assert len(datasets.CIFAR10(tmp_path, train=False)) == 4
