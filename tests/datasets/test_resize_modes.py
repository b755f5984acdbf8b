"""ImageFolder brings photos of different sizes to one size as the resize mode says
(squash, centre crop, fill) in colour or grayscale; a folder without class folders is
refused saying what to do."""

import numpy as np
import pytest

import datasets
from datasets import definition
from helpers.dataset_files import encode, tar_bytes, write_tree
from helpers.photo_folders import BLUE, GREEN, RED, stripes, write_photos


def test_differing_sizes_are_refused_in_the_users_words(tmp_path, cache_dir):
    root = write_photos(tmp_path / "photos")
    with pytest.raises(datasets.DatasetError) as e:
        datasets.ImageFolder(root)
    msg = str(e.value)
    assert "images differ in size" in msg and "New dataset" in msg and "squash, crop or fill" in msg
    assert "\n" not in msg


@pytest.mark.parametrize("resize", ["squash", "crop", "fill"])
@pytest.mark.parametrize("grayscale", [False, True])
def test_every_mode_gives_the_target_shape(tmp_path, cache_dir, resize, grayscale):
    ds = datasets.ImageFolder(write_photos(tmp_path / "photos"), size=(10, 14), grayscale=grayscale, resize=resize)
    assert ds.data.shape == ((7, 10, 14) if grayscale else (7, 10, 14, 3)) and ds.data.dtype == np.uint8
    assert ds.classes == ["cat", "dog"] and ds.targets.tolist() == [0, 0, 0, 1, 1, 1, 1]


def _only_stripes(tmp_path, size, resize, grayscale=False):
    root = write_tree(tmp_path / "s", {"a/0.png": encode(stripes(20, 40)), "b/0.png": encode(stripes(20, 40))})
    return datasets.ImageFolder(root, size=size, resize=resize, grayscale=grayscale).data[0]


def test_squash_keeps_the_whole_image(tmp_path, cache_dir):
    out = _only_stripes(tmp_path, (10, 10), "squash").astype(int)
    assert (out[:, 0] == RED).all() and (out[:, 5] == GREEN).all() and (out[:, 9] == BLUE).all()


def test_centre_crop_keeps_the_centre(tmp_path, cache_dir):
    out = _only_stripes(tmp_path, (10, 10), "crop").astype(int)
    # the 20x20 centre of the 20x40 image is the green half: no red or blue column survives
    assert (out[:, 1:-1] == GREEN).all()
    assert (out[..., 1] >= 128).all() and (out[..., 0] < 128).all() and (out[..., 2] < 128).all()


def test_fill_pads_with_black_around_the_whole_image(tmp_path, cache_dir):
    out = _only_stripes(tmp_path, (10, 10), "fill").astype(int)
    # 20x40 fits 10x10 as 5x10, centred: rows 2..6 hold the image, the rest is black
    assert (out[:2] == 0).all() and (out[7:] == 0).all()
    assert (out[2:7, 0] == RED).all() and (out[2:7, 5] == GREEN).all() and (out[2:7, 9] == BLUE).all()


def test_grayscale_converts_colour(tmp_path, cache_dir):
    out = _only_stripes(tmp_path, (10, 10), "squash", grayscale=True)
    assert out.shape == (10, 10)
    assert out[0, 5] == round(0.587 * 255)        # ITU-R 601 luma of pure green, as Pillow's "L"


def test_modes_are_cached_apart_and_a_bad_mode_is_named(tmp_path, cache_dir):
    root = write_photos(tmp_path / "photos")
    crop = datasets.ImageFolder(root, size=8, resize="crop").data
    fill = datasets.ImageFolder(root, size=8, resize="fill").data
    assert not np.array_equal(crop, fill) and len(list(cache_dir.glob("*.npz"))) == 2
    with pytest.raises(ValueError, match="resize 'zoom' is not one of squash, crop, fill"):
        datasets.ImageFolder(root, size=8, resize="zoom")


@pytest.mark.parametrize("kind", ["folder", "archive"])
def test_no_class_subfolders_says_what_to_do(tmp_path, cache_dir, kind):
    flat = {"0.png": encode(stripes(4, 4)), "1.png": encode(stripes(4, 4))}
    if kind == "folder":
        source = write_tree(tmp_path / "flat", flat)
    else:
        source = tmp_path / "flat.tar"
        source.write_bytes(tar_bytes(flat))
    for call in (definition.scan, datasets.ImageFolder):
        with pytest.raises(datasets.DatasetError) as e:
            call(source)
        assert str(e.value) == (f"{source}: this {kind} has no class subfolders with images: put each class's "
                                f"images (png, jpg, bmp, gif, ...) in a folder named after the class")
