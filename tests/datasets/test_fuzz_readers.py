"""Property-based fuzzing of every reader: random bytes, bit flips and
truncations of small valid files end in the documented DatasetError (naming
the file) or in a correct load -- identical to the original where the format
can tell damage (gzip, zip and PNG CRCs, tar header checksums, the decode
cache), complete and in the documented layout where it cannot (raw IDX,
pickles, JPEG: a flipped pixel byte is just another pixel)."""

import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

import datasets
from helpers.dataset_files import (cifar_files, damaged, encode, idx_bytes, mnist_arrays, png_tree,
                           py2_cifar_files, tar_bytes, write_bytes, write_cifar_folder, write_tree, zip_bytes)
from datasets import safepickle

pytestmark = pytest.mark.filterwarnings("ignore::datasets.ChecksumWarning")
FUZZ = settings(max_examples=100, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
DAMAGE = st.tuples(st.sampled_from(["flip", "truncate", "random"]), st.floats(0, 1, exclude_max=True),
                   st.integers(0, 7), st.binary(max_size=600))


def _case_dir(tmp_path):
    return Path(tempfile.mkdtemp(dir=tmp_path))


def _outcome(load, where):
    """The dataset ``load()`` returns, or None for a DatasetError, which must name ``where``."""
    try:
        return load()
    except datasets.DatasetError as e:
        assert str(where) in str(e), str(e)
        return None


# -- IDX --------------------------------------------------------------------------------

IMAGES, LABELS = mnist_arrays(12)
IDX_SEEDS = {"images.gz": ("train-images-idx3-ubyte", idx_bytes(IMAGES), True),
             "labels.gz": ("train-labels-idx1-ubyte", idx_bytes(LABELS), True),
             "images": ("train-images-idx3-ubyte", idx_bytes(IMAGES), False)}


@FUZZ
@given(seed=st.sampled_from(sorted(IDX_SEEDS)), damage=DAMAGE)
def test_idx_files(tmp_path, seed, damage):
    root = _case_dir(tmp_path)
    stem, raw, gz = IDX_SEEDS[seed]
    for other, blob in (("train-images-idx3-ubyte", idx_bytes(IMAGES)), ("train-labels-idx1-ubyte", idx_bytes(LABELS))):
        if other != stem:
            write_bytes(root / "mnist" / other, blob, gz=True)
    path = write_bytes(root / "mnist" / stem, raw, gz=gz)
    path.write_bytes(damaged(path.read_bytes(), *damage))
    ds = _outcome(lambda: datasets.MNIST(root), path)
    if ds is not None and gz:  # the gzip CRC tells any change of the data
        np.testing.assert_array_equal(ds.data, IMAGES)
        np.testing.assert_array_equal(ds.targets, LABELS)
    elif ds is not None:
        assert ds.data.shape == IMAGES.shape and ds.data.dtype == np.uint8
        np.testing.assert_array_equal(ds.targets, LABELS)


# -- CIFAR-10 pickles --------------------------------------------------------------------

CIFAR_SEEDS = {"python 2 cPickle": py2_cifar_files(3), "protocol 2": cifar_files(3, protocol=2),
               "protocol 5": cifar_files(3, protocol=5)}


@FUZZ
@given(seed=st.sampled_from(sorted(CIFAR_SEEDS)), member=st.sampled_from(["data_batch_2", "batches.meta"]),
       damage=DAMAGE)
def test_cifar_pickles(tmp_path, seed, member, damage):
    files = dict(CIFAR_SEEDS[seed])
    files[member] = damaged(files[member], *damage)
    folder = write_cifar_folder(_case_dir(tmp_path), files)
    ds = _outcome(lambda: datasets.CIFAR10(folder.parent), folder / member)
    if ds is not None:  # a pickle has no checksum: complete, in the documented layout
        assert ds.data.shape == (15, 32, 32, 3) and ds.data.dtype == np.uint8
        assert ds.targets.dtype == np.int64 and ds.targets.min() >= 0 and ds.targets.max() < len(ds.classes)


@settings(max_examples=200, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(protocol=st.integers(0, 5), body=st.binary(max_size=300))
def test_unpickler_builds_only_plain_data(protocol, body):
    try:
        value = safepickle.loads(b"\x80" + bytes([protocol]) + body if protocol >= 2 else body)
    except pickle.UnpicklingError:
        return
    stack = [value]
    while stack:  # walk it: nothing but plain data and numeric arrays
        item = stack.pop()
        if isinstance(item, np.ndarray):
            assert item.dtype.kind in "biuf" and not item.dtype.hasobject
        elif isinstance(item, dict):
            stack.extend(item.items())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
        else:
            assert isinstance(item, (int, float, complex, str, bytes, bytearray, type(None)))


# -- archives and image folders ----------------------------------------------------------

TREE, TREE_DATA, TREE_TARGETS = png_tree()
NAMES = sorted(TREE)
ARCHIVES = {"tar": tar_bytes(TREE, "train/"), "tar.gz": tar_bytes(TREE, gz=True), "zip": zip_bytes(TREE, "train/")}


@FUZZ
@given(kind=st.sampled_from(sorted(ARCHIVES)), damage=DAMAGE)
def test_archives(tmp_path, cache_dir, kind, damage):
    path = write_bytes(_case_dir(tmp_path) / f"images.{kind}", damaged(ARCHIVES[kind], *damage))
    ds = _outcome(lambda: datasets.ImageFolder(path), path)
    if ds is not None:  # tar header checksums, gzip and zip CRCs, PNG CRCs: all or nothing
        np.testing.assert_array_equal(ds.data, TREE_DATA)
        np.testing.assert_array_equal(ds.targets, TREE_TARGETS)
        assert ["/".join(s[0].split("/")[-2:]) for s in ds.samples] == NAMES  # less any "train/" prefix


SMOOTH = (np.add.outer(np.arange(16), np.arange(16))[..., None] * np.array([7, 5, 3])).astype(np.uint8)
IMAGES_BY_FORMAT = {fmt: encode(SMOOTH, fmt) for fmt in ("PNG", "JPEG", "GIF", "BMP", "WEBP")}


@FUZZ
@given(fmt=st.sampled_from(sorted(IMAGES_BY_FORMAT)), damage=DAMAGE)
@example(fmt="PNG", damage=("flip", 0.6508218470034028, 3, b"\xe3"))  # inside the pixel data: decoded wrong before
def test_images(tmp_path, cache_dir, fmt, damage):
    root = write_tree(_case_dir(tmp_path), {f"cat/x.{fmt.lower()}": damaged(IMAGES_BY_FORMAT[fmt], *damage)})
    ds = _outcome(lambda: datasets.ImageFolder(root), root)
    if ds is not None:
        assert len(ds) == 1 and ds.data.dtype == np.uint8 and ds.data.ndim in (3, 4)
        if fmt == "PNG":  # PNG chunks carry CRCs
            np.testing.assert_array_equal(ds.data[0], SMOOTH)


@FUZZ
@given(damage=st.tuples(st.sampled_from(["flip", "truncate"]), st.floats(0, 1, exclude_max=True), st.integers(0, 7)))
def test_decode_cache(tmp_path, cache_dir, damage):
    root = write_tree(_case_dir(tmp_path), TREE)
    datasets.ImageFolder(root)
    (cache_file,) = [p for p in cache_dir.glob("*.npz") if root.name in p.name]
    cache_file.write_bytes(damaged(cache_file.read_bytes(), *damage))
    ds = datasets.ImageFolder(root)  # a damaged cache is rebuilt, never served and never an error
    np.testing.assert_array_equal(ds.data, TREE_DATA)
    np.testing.assert_array_equal(ds.targets, TREE_TARGETS)
    assert [s[0] for s in ds.samples] == NAMES
