"""MNIST / Fashion-MNIST: real files, small official-layout files, and every broken-file case."""

import gzip
import hashlib
import struct
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import datasets
from helpers.dataset_files import idx_bytes, mnist_arrays, write_bytes, write_mnist
from datasets.idx import parse_idx


# -- the real files ----------------------------------------------------------

def test_real_mnist_train(shared_data):
    ds = datasets.MNIST(shared_data, train=True)
    assert ds.data.shape == (60000, 28, 28) and ds.data.dtype == np.uint8
    assert ds.targets.dtype == np.int64 and len(ds) == 60000
    assert np.bincount(ds.targets).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert ds.targets[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert hashlib.md5(ds.data[0].tobytes()).hexdigest() == "2ce86e4daeeff3a0cdebce6897c784ba"
    assert ds.data.min() == 0 and ds.data.max() == 255
    assert abs(ds.data.mean() / 255 - 0.1307) < 1e-3 and abs(ds.data.std() / 255 - 0.3081) < 1e-3
    img, target = ds[0]
    assert img.shape == (28, 28) and target == 5
    assert ds.classes[5] == "5 - five" and "training" in ds.split_note


def test_real_mnist_test_split_loads_without_checksum_warning(shared_data):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the shared gzip files are re-compressed but their bytes are official
        ds = datasets.MNIST(shared_data, train=False)
    assert len(ds) == 10000
    assert np.bincount(ds.targets).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert hashlib.md5(ds.data[0].tobytes()).hexdigest() == "1081cd3611ed4bea23c5769d20d414e5"


# -- small files in the official layout --------------------------------------

@pytest.mark.parametrize("gz", [True, False])
def test_small_files_gzip_or_not(tmp_path, gz):
    written = write_mnist(tmp_path / "mnist", gz=gz)
    with pytest.warns(datasets.ChecksumWarning, match="differ from the official"):
        ds = datasets.MNIST(tmp_path, train=False)
    images, labels = written["t10k"]
    np.testing.assert_array_equal(ds.data, images)
    np.testing.assert_array_equal(ds.targets, labels)


def test_torchvision_layout_and_env_root(tmp_path, monkeypatch):
    write_mnist(tmp_path / "MNIST" / "raw")
    monkeypatch.setenv("NUMBACNN_DATA", str(tmp_path))
    with pytest.warns(datasets.ChecksumWarning):
        ds = datasets.MNIST(train=True)
    assert len(ds) == 12


def test_fashion_mnist_from_system_dir(tmp_path, monkeypatch):
    system = tmp_path / "usr-share"
    write_mnist(system)
    monkeypatch.setattr(datasets.FashionMNIST, "system_dirs", (str(system),))
    with pytest.warns(datasets.ChecksumWarning):
        ds = datasets.FashionMNIST(tmp_path / "empty-root")
    assert len(ds) == 12 and ds.classes[9] == "Ankle boot"
    assert datasets.FashionMNIST.system_dirs != datasets.MNIST.system_dirs


def test_default_system_dir_is_debians():
    assert "/usr/share/datasets/fashion-mnist" in datasets.FashionMNIST.system_dirs


def test_transforms_are_applied(tmp_path):
    write_mnist(tmp_path / "mnist")
    with pytest.warns(datasets.ChecksumWarning):
        ds = datasets.MNIST(tmp_path, transform=lambda im: im.astype(np.float32) / 255,
                            target_transform=lambda t: t + 100)
    img, target = ds[3]
    assert img.dtype == np.float32 and target == ds.targets[3] + 100


def test_missing_files_name_the_files_and_folder(tmp_path):
    with pytest.raises(datasets.DatasetError) as e:
        datasets.MNIST(tmp_path, train=False)
    msg = str(e.value)
    assert "t10k-images-idx3-ubyte.gz" in msg and "t10k-labels-idx1-ubyte.gz" in msg
    assert str((tmp_path / "mnist").resolve()) in msg and "download=True" in msg


# -- broken files -----------------------------------------------------------

def _broken(tmp_path, images_raw=None, labels_raw=None):
    images, labels = mnist_arrays(6)
    write_bytes(tmp_path / "mnist" / "train-images-idx3-ubyte", images_raw or idx_bytes(images))
    write_bytes(tmp_path / "mnist" / "train-labels-idx1-ubyte", labels_raw or idx_bytes(labels))


def _header(type_code, dims):
    return bytes([0, 0, type_code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


@pytest.mark.parametrize("which, raw, message", [
    ("images", b"\x08\x03\x00\x00" + bytes(100), "bad magic"),
    ("images", _header(0x0D, (6, 28, 28)) + bytes(6 * 784), "not unsigned byte"),
    ("images", _header(0x08, (6, 784)) + bytes(6 * 784), "2 dimensions where 3"),
    ("images", _header(0x08, (6, 28, 28)) + bytes(5 * 784), "truncated"),
    ("images", _header(0x08, (6, 28, 28))[:9], "truncated IDX header"),
    ("images", _header(0x08, (6, 28, 28)) + bytes(6 * 784 + 3), "3 bytes follow"),
    ("images", _header(0x08, (0, 28, 28)), "holds 0 images but"),
    ("labels", _header(0x08, (0,)), "holds no data"),
    ("images", b"\x00\x00", "too short"),
    ("images", gzip.compress(idx_bytes(np.zeros((6, 28, 28))))[:-20], "broken gzip"),
    ("labels", idx_bytes(np.arange(5)), "6 images but"),
    ("labels", idx_bytes([1, 2, 3, 10, 4, 5]), "label 10 at index 3"),
])
def test_broken_files_raise_dataset_error_naming_the_file(tmp_path, which, raw, message):
    _broken(tmp_path, **{f"{which}_raw": raw})
    with pytest.raises(datasets.DatasetError, match=message) as e:
        datasets.MNIST(tmp_path)
    assert f"{tmp_path}/mnist/train-{which}-idx" in str(e.value)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.binary(min_size=0, max_size=24), dims=st.lists(st.integers(0, 2 ** 32 - 1), max_size=4),
       ndim=st.sampled_from([1, 3]), payload=st.integers(0, 300), use_dims=st.booleans())
def test_fuzzed_idx_headers_never_escape_as_other_errors(header, dims, ndim, payload, use_dims):
    raw = header
    if use_dims:  # a plausible magic with arbitrary sizes
        raw = bytes([0, 0, 8, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    raw += bytes(payload)
    try:
        array = parse_idx(raw, "fuzz.idx", ndim)
    except datasets.DatasetError as e:
        assert str(e).startswith("fuzz.idx:")
    else:
        assert array.ndim == ndim and array.dtype == np.uint8 and array.size > 0
        assert 4 + 4 * ndim + array.size == len(raw)
