"""ImageFolder: folders and archives of class folders, decoding rules, and the decode cache."""

import os
import time
import zipfile

import numpy as np
import pytest

import datasets
from helpers.dataset_files import encode, tar_bytes, write_tree, zip_bytes
from datasets import folder as folder_module


def _tree(rgb=True, size=(6, 5)):
    """{relative path: (bytes, array)}: 2 classes, lossless formats only."""
    rng = np.random.default_rng(0)
    shape = size + (3,) if rgb else size
    files = {}
    for cls, fmts in (("cat", ["PNG", "BMP", "PNG"]), ("dog", ["PNG", "PNG"])):
        for k, fmt in enumerate(fmts):
            a = rng.integers(0, 256, shape, dtype=np.uint8)
            files[f"{cls}/{k:02d}.{fmt.lower()}"] = (encode(a, fmt), a)
    return files


def _blobs(files):
    return {rel: blob for rel, (blob, _) in files.items()}


def _write_dir(root, files):
    return write_tree(root, _blobs(files))


def _write_tar(path, files, prefix="", gz=True):
    path.write_bytes(tar_bytes(_blobs(files), prefix, gz))
    return path


def _write_zip(path, files, prefix=""):
    path.write_bytes(zip_bytes(_blobs(files), prefix))
    return path


def _check(ds, files):
    names = sorted(files)
    assert ds.classes == ["cat", "dog"]
    assert [s[0].split("/")[-2:] for s in ds.samples] == [n.split("/") for n in names]
    assert ds.targets.tolist() == [0, 0, 0, 1, 1] and ds.targets.dtype == np.int64
    np.testing.assert_array_equal(ds.data, np.stack([files[n][1] for n in names]))
    assert ds.data.dtype == np.uint8


def test_folder(tmp_path, cache_dir):
    files = _tree()
    ds = datasets.ImageFolder(_write_dir(tmp_path / "tree", files))
    _check(ds, files)
    assert ds.data.shape == (5, 6, 5, 3)
    assert [s[0] for s in ds.samples] == sorted(files)
    assert ds.class_to_idx == {"cat": 0, "dog": 1}


@pytest.mark.parametrize("kind", ["tar", "tar.gz", "tgz", "zip"])
@pytest.mark.parametrize("prefix", ["", "train/", "./outer/inner/"])
def test_archives_with_or_without_wrapping_folders(tmp_path, cache_dir, kind, prefix):
    files = _tree()
    path = tmp_path / f"images.{kind}"
    if kind == "zip":
        _write_zip(path, files, prefix)
    else:
        _write_tar(path, files, prefix, gz=kind != "tar")
    _check(datasets.ImageFolder(path), files)


def test_grayscale_inferred_forced_and_mixed(tmp_path, cache_dir):
    gray = _tree(rgb=False)
    root = _write_dir(tmp_path / "gray", gray)
    ds = datasets.ImageFolder(root)
    assert ds.data.shape == (5, 6, 5)
    assert datasets.ImageFolder(root, grayscale=False).data.shape == (5, 6, 5, 3)
    rgb = datasets.ImageFolder(_write_dir(tmp_path / "rgb", _tree()), grayscale=True)
    assert rgb.data.shape == (5, 6, 5)
    mixed = dict(gray)
    mixed["dog/rgb.png"] = (encode(np.full((6, 5, 3), 9, np.uint8)), None)
    ds = datasets.ImageFolder(_write_dir(tmp_path / "mixed", mixed))
    assert ds.data.shape == (6, 6, 5, 3)
    first = gray["cat/00.png"][1]
    np.testing.assert_array_equal(ds.data[0], np.repeat(first[..., None], 3, axis=2))


def test_jpeg_and_gif_decode(tmp_path, cache_dir):
    y, x = np.mgrid[0:8, 0:8]
    a = np.stack([y * 30, x * 30, np.full((8, 8), 128)], axis=2).astype(np.uint8)  # smooth: JPEG keeps it close
    files = {"a/x.jpg": (encode(a, "JPEG"), None), "b/y.gif": (encode(a, "GIF"), None),
             "b/z.jpeg": (encode(a, "JPEG"), None)}
    ds = datasets.ImageFolder(_write_dir(tmp_path / "t", files))
    assert ds.data.shape == (3, 8, 8, 3) and ds.classes == ["a", "b"]
    assert np.abs(ds.data[0].astype(int) - a).mean() < 8


def test_size_mismatch_and_resize(tmp_path, cache_dir):
    files = _tree()
    files["dog/big.png"] = (encode(np.zeros((10, 12, 3), np.uint8)), None)
    root = _write_dir(tmp_path / "t", files)
    with pytest.raises(datasets.DatasetError, match=r"images differ in size.*dog/big.png is 10x12.*size="):
        datasets.ImageFolder(root)
    ds = datasets.ImageFolder(root, size=(4, 7))
    assert ds.data.shape == (6, 4, 7, 3)
    assert datasets.ImageFolder(root, size=3).data.shape == (6, 3, 3, 3)


def test_ignores_non_images_hidden_files_and_root_files(tmp_path, cache_dir):
    files = _tree()
    root = _write_dir(tmp_path / "t", files)
    (root / "README.txt").write_text("hi")
    (root / "stray.png").write_bytes(files["cat/00.png"][0])
    (root / "cat" / "notes.txt").write_text("hi")
    (root / "cat" / ".hidden.png").write_bytes(b"junk")
    (root / ".git").mkdir()
    (root / ".git" / "x.png").write_bytes(b"junk")
    _check(datasets.ImageFolder(root), files)


def test_broken_image_is_named(tmp_path, cache_dir):
    files = _tree()
    files["dog/broken.png"] = (files["dog/00.png"][0][:30], None)
    path = _write_tar(tmp_path / "t.tar.gz", files, "train/")
    with pytest.raises(datasets.DatasetError, match=r"t.tar.gz: train/dog/broken.png is not a readable image"):
        datasets.ImageFolder(path)


def _idat_at(png):
    """The offset of the first IDAT chunk's data in a PNG file."""
    return png.index(b"IDAT") + 4


@pytest.mark.parametrize("damage,says", [
    (lambda png: png[:_idat_at(png) + 3] + bytes([png[_idat_at(png) + 3] ^ 8]) + png[_idat_at(png) + 4:],
     "checksum of its IDAT chunk does not match"),          # PIL would decode this to wrong pixels
    (lambda png: png[:_idat_at(png) + 5], "runs past the end of the file"),
    (lambda png: png[:png.index(b"IEND") - 4], "ends before its IEND chunk")])
def test_a_png_whose_chunks_fail_their_crcs_is_named(tmp_path, cache_dir, damage, says):
    image = (np.arange(16 * 16 * 3) % 251).reshape(16, 16, 3).astype(np.uint8)
    png = encode(image, "PNG")
    assert folder_module.png_damage(png) is None and folder_module.png_damage(encode(image, "JPEG")) is None
    write_tree(tmp_path / "root", {"cat/x.png": damage(png)})
    with pytest.raises(datasets.DatasetError, match=f"cat/x.png is not a readable image: .*{says}"):
        datasets.ImageFolder(tmp_path / "root")


@pytest.mark.parametrize("make", ["empty_dir", "no_class_dirs", "missing", "bad_archive", "not_archive"])
def test_no_images_or_unreadable_sources(tmp_path, cache_dir, make):
    path = tmp_path / "src"
    if make == "empty_dir":
        path.mkdir()
    elif make == "no_class_dirs":
        path.mkdir()
        (path / "a.png").write_bytes(encode(np.zeros((2, 2), np.uint8)))
    elif make == "bad_archive":
        path = tmp_path / "x.tar.gz"
        path.write_bytes(b"\x1f\x8bnot really")
    elif make == "not_archive":
        path = tmp_path / "x.txt"
        path.write_text("hello")
    with pytest.raises(datasets.DatasetError, match=str(path)):
        datasets.ImageFolder(path)


# -- the cache ------------------------------------------------------------------

def test_second_open_reads_the_cache(tmp_path, cache_dir, monkeypatch):
    files = _tree()
    path = _write_tar(tmp_path / "t.tar.gz", files)
    first = datasets.ImageFolder(path)
    cached = list(cache_dir.glob("*.npz"))
    assert len(cached) == 1 and not list(tmp_path.glob("*.npz"))

    def no_decoding(*args):
        raise AssertionError("decoded again")

    monkeypatch.setattr(folder_module, "_decode_tree", no_decoding)
    second = datasets.ImageFolder(path)
    np.testing.assert_array_equal(first.data, second.data)
    assert second.samples == first.samples and second.classes == first.classes
    with zipfile.ZipFile(cached[0]) as zf:  # plain npz: arrays only, no pickles
        assert sorted(zf.namelist()) == ["classes.npy", "data.npy", "names.npy", "targets.npy"]
    assert not any(p.suffix == ".tmp" for p in cache_dir.iterdir())


def test_cache_is_keyed_by_mtime_and_parameters(tmp_path, cache_dir):
    files = _tree()
    path = _write_tar(tmp_path / "t.tar.gz", files)
    datasets.ImageFolder(path)
    datasets.ImageFolder(path, size=3)
    files["cat/00.png"] = (encode(np.zeros((6, 5, 3), np.uint8)), None)
    _write_tar(path, files)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    ds = datasets.ImageFolder(path)
    assert (ds.data[0] == 0).all()
    assert len(list(cache_dir.glob("*.npz"))) == 3


def test_folder_cache_sees_changed_files(tmp_path, cache_dir):
    files = _tree()
    root = _write_dir(tmp_path / "t", files)
    assert len(datasets.ImageFolder(root)) == 5
    (root / "dog" / "new.png").write_bytes(files["dog/00.png"][0])
    assert len(datasets.ImageFolder(root)) == 6


@pytest.mark.parametrize("damage", [lambda b: b[:len(b) // 2], lambda b: b"garbage",
                                    lambda b: b[:100] + bytes(50) + b[150:]])
def test_corrupt_cache_is_rebuilt(tmp_path, cache_dir, damage):
    files = _tree()
    path = _write_tar(tmp_path / "t.tar.gz", files)
    datasets.ImageFolder(path)
    (cache_file,) = cache_dir.glob("*.npz")
    cache_file.write_bytes(damage(cache_file.read_bytes()))
    _check(datasets.ImageFolder(path), files)
    _check(datasets.ImageFolder(path), files)


def test_unwritable_cache_warns_and_still_loads(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("NUMBACNN_CACHE", str(blocker / "cache"))
    files = _tree()
    with pytest.warns(UserWarning, match="could not write the dataset cache"):
        ds = datasets.ImageFolder(_write_dir(tmp_path / "t", files))
    _check(ds, files)


def test_real_cifar10_jpeg_archive(shared_data):
    """Decodes the 50,000 JPEGs once (then from the user's cache)."""
    ds = datasets.ImageFolder(shared_data / "cifar10-train-jpg.tar.gz")
    assert ds.data.shape == (50000, 32, 32, 3) and ds.data.dtype == np.uint8
    assert ds.classes == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    assert np.bincount(ds.targets).tolist() == [5000] * 10
    assert ds.samples[0] == ("train/airplane/0000.jpg", 0) and ds.samples[-1] == ("train/truck/4999.jpg", 9)
    mean = ds.data.reshape(-1, 3).mean(axis=0) / 255
    np.testing.assert_allclose(mean, [0.4914, 0.4822, 0.4465], atol=3e-3)
    assert ds.data.min() == 0 and ds.data.max() == 255
    t0 = time.perf_counter()
    again = datasets.ImageFolder(shared_data / "cifar10-train-jpg.tar.gz")
    assert time.perf_counter() - t0 < 5  # from the cache (well under 1 s on an idle machine)
    np.testing.assert_array_equal(again.data[:100], ds.data[:100])
