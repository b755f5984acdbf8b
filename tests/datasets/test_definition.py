"""Dataset definitions (datasets.definition): made from a folder's file listing, saved
atomically and never over a file, loaded back the same, opened with their size, resize
mode, colour and seeded per-class split; every broken file or setting is one sentence
naming the file."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import datasets
from datasets import definition as D
from datasets import folder as folder_module
from helpers.dataset_files import tar_bytes, zip_bytes
from helpers.photo_folders import photo_arrays, write_photos


def _made(tmp_path, **options):
    args = {"size": (12, 16), "resize": "crop", "color": "color", "val_fraction": 0.25, "seed": 3} | options
    return D.create(write_photos(tmp_path / "photos"), **args)


def _one_sentence(e, where):
    msg = str(e.value)
    assert str(where) in msg and "\n" not in msg and "Traceback" not in msg, msg
    return msg


@pytest.mark.parametrize("kind", ["folder", "archive"])
def test_scan_counts_classes_without_decoding(tmp_path, monkeypatch, kind):
    source = write_photos(tmp_path / "photos")
    if kind == "archive":
        blobs = {rel: (source / rel).read_bytes() for rel in photo_arrays()}
        source = tmp_path / "photos.tar.gz"
        source.write_bytes(tar_bytes(blobs, "train/", gz=True))

    def no_decoding(*args):
        raise AssertionError("decoded an image")

    monkeypatch.setattr(folder_module, "decode_image", no_decoding)
    found = D.scan(source)
    assert (found.source, found.classes, found.counts) == (str(source.resolve()), ["cat", "dog"], [3, 4])
    assert [(c, n) for c, n, _ in found.examples] == [("cat", "cat/0.png" if kind == "folder" else "train/cat/0.png"),
                                                     ("dog", "dog/0.png" if kind == "folder" else "train/dog/0.png")]
    assert D.scan(source, examples=1).examples[0][0] == "cat" and len(D.scan(source, examples=1).examples) == 1


@pytest.mark.parametrize("resize", ["squash", "crop", "fill"])
def test_preview_decodes_the_examples_as_the_dataset_will(tmp_path, cache_dir, resize):
    found = D.scan(write_photos(tmp_path / "photos"))
    shown = found.preview((10, 10), resize, "color")
    assert [c for c, _ in shown] == ["cat", "dog"] and all(a.shape == (10, 10, 3) for _, a in shown)
    d = found.definition((10, 10), resize, "color", 0.5, 0)
    loaded = {name: image for part in (d.open(train=True), d.open(train=False))
              for (name, _), image in zip(part.samples, part.data)}
    np.testing.assert_array_equal(loaded["cat/0.png"], shown[0][1])
    np.testing.assert_array_equal(loaded["dog/0.png"], shown[1][1])
    assert found.preview((6, 8), resize, "grayscale")[1][1].shape == (6, 8)


def test_create_counts_classes_from_the_listing(tmp_path):
    d = _made(tmp_path)
    assert d.classes == ["cat", "dog"] and d.counts == [3, 4]
    assert d.source == str((tmp_path / "photos").resolve()) and d.size == (12, 16) and d.name == ""
    assert "12×16 centre crop, colour, 2 classes, 7 images, 25% validation, from" in d.summary()


def test_round_trip(tmp_path):
    d = _made(tmp_path, color="grayscale", resize="fill")
    saved = d.save(tmp_path / "defs" / "pets.json")
    assert saved.path == str(tmp_path / "defs" / "pets.json") and saved.name == "pets"
    back = D.load(tmp_path / "defs" / "pets.json")
    assert back == d and back.path == saved.path
    obj = json.loads((tmp_path / "defs" / "pets.json").read_text())
    assert obj == {"format": "numbacnn-dataset", "version": 1, "source": d.source, "size": [12, 16], "resize": "fill",
                   "color": "grayscale", "val_fraction": 0.25, "seed": 3, "classes": ["cat", "dog"], "counts": [3, 4]}
    assert [p.name for p in (tmp_path / "defs").iterdir()] == ["pets.json"]          # no temporary file left


def test_save_never_replaces_a_file(tmp_path):
    d = _made(tmp_path)
    target = tmp_path / "pets.json"
    target.write_text("the user's own notes")
    with pytest.raises(datasets.DatasetError) as e:
        d.save(target)
    assert "already exists; choose another name" in _one_sentence(e, target)
    assert target.read_text() == "the user's own notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pets.json", "photos"]
    with pytest.raises(datasets.DatasetError, match=r"file name ends in \.json"):
        d.save(tmp_path / "pets.txt")


def test_open_gives_the_size_colour_and_a_seeded_per_class_split(tmp_path, cache_dir):
    d = _made(tmp_path).save(tmp_path / "pets.json")
    train, val = d.open(train=True), d.open(train=False)
    assert train.data.shape == (5, 12, 16, 3) and val.data.shape == (2, 12, 16, 3) and d.parts() == (5, 2)
    assert np.bincount(val.targets).tolist() == [1, 1]                          # per class: round(0.25 * n)
    names = sorted(s for s, _ in train.samples) + sorted(s for s, _ in val.samples)
    assert sorted(names) == sorted(set(names)) and len(names) == 7               # disjoint, complete
    again = D.load(tmp_path / "pets.json").open(train=False)
    assert again.samples == val.samples and "hold-out" in val.split_note and "seed 3" in val.split_note
    gray = _made(tmp_path, color="grayscale", seed=3).open(train=True)
    assert gray.data.shape == (5, 12, 16)


def test_datasets_get_opens_a_definition(tmp_path, cache_dir):
    path = _made(tmp_path).save(tmp_path / "pets.json").path
    assert len(datasets.get(path, train=True)) == 5 and len(datasets.get(path, train=False)) == 2
    with pytest.raises(TypeError, match="sets its images' size and colour itself"):
        datasets.get(path, size=(8, 8))


def test_a_relative_source_is_read_beside_the_file(tmp_path, cache_dir):
    write_photos(tmp_path / "photos")
    obj = _made(tmp_path).to_json() | {"source": "photos"}
    (tmp_path / "rel.json").write_text(json.dumps(obj))
    d = D.load(tmp_path / "rel.json")
    assert d.source == str(tmp_path / "photos") and len(d.open()) == 5


def test_missing_folder(tmp_path, cache_dir):
    with pytest.raises(datasets.DatasetError) as e:
        D.create(tmp_path / "nowhere", size=(8, 8))
    assert "no such folder or archive" in _one_sentence(e, tmp_path / "nowhere")
    d = _made(tmp_path).save(tmp_path / "pets.json")
    (tmp_path / "photos").rename(tmp_path / "moved")
    with pytest.raises(datasets.DatasetError) as e:
        D.load(d.path).open()
    assert "no longer exists: put them back there, or create the dataset again" in _one_sentence(e, d.path)


def test_changed_classes_are_named(tmp_path, cache_dir):
    d = _made(tmp_path).save(tmp_path / "pets.json")
    (tmp_path / "photos" / "dog").rename(tmp_path / "photos" / "wolf")
    with pytest.raises(datasets.DatasetError) as e:
        d.open()
    assert "now has the classes [cat, wolf], not the [cat, dog]" in _one_sentence(e, d.path)


def test_one_class_is_not_a_dataset(tmp_path):
    write_photos(tmp_path / "photos")
    (tmp_path / "photos" / "cat").rename(tmp_path / "cat")
    with pytest.raises(datasets.DatasetError) as e:
        D.create(tmp_path / "photos", size=(8, 8))
    assert "only one class folder (dog)" in _one_sentence(e, tmp_path / "photos")


@pytest.mark.parametrize("text, expected", [
    ("{not json", "not a dataset definition (not valid JSON: Expecting property name enclosed in double quotes at line 1)"),
    ("[1, 2]", "not a dataset definition (no \"format\": \"numbacnn-dataset\")"),
    ('{"format": "numbacnn-dataset", "version": 7}', "dataset definition version 7; this numbacnn reads version 1"),
    ("[" * 100_000, "not a dataset definition (JSON nested too deeply)"),
    ('{"format": "numbacnn-dataset", "version": 1, "source": "x"}',
     "the dataset definition has no size, resize, color, val_fraction, seed, classes, counts"),
])
def test_broken_files_are_one_sentence(tmp_path, text, expected):
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(datasets.DatasetError) as e:
        D.load(path)
    assert _one_sentence(e, path) == f"{path}: {expected}"


@pytest.mark.parametrize("key, value, expected", [
    ("resize", "zoom", "resize must be one of squash, crop, fill, got 'zoom'"),
    ("color", "sepia", "color must be one of color, grayscale, got 'sepia'"),
    ("size", [0, 8], "size must be [height, width], two whole numbers from 1 to 8192, got [0, 8]"),
    ("size", [8.0, 8], "size must be [height, width], two whole numbers from 1 to 8192, got [8.0, 8]"),
    ("val_fraction", 1, "val_fraction must be a number more than 0 and less than 1, got 1"),
    ("seed", -1, "seed must be a whole number from 0 to 4294967295, got -1"),
    ("classes", ["cat", "cat"], "classes must be a list of two or more different class names, got ['cat', 'cat']"),
    ("counts", [3], "counts must be a list of 2 whole numbers (images per class), got [3]"),
])
def test_bad_fields_are_named(tmp_path, key, value, expected):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_made(tmp_path).to_json() | {key: value}))
    with pytest.raises(datasets.DatasetError) as e:
        D.load(path)
    assert _one_sentence(e, path) == f"{path}: {expected}"


def test_saved_lists_definitions_and_broken_files(tmp_path):
    folder = tmp_path / "defs"
    assert D.saved(folder) == []
    _made(tmp_path).save(folder / "b.json")
    (folder / "a.json").write_text("{")
    (folder / "notes.txt").write_text("x")
    listed = D.saved(folder)
    assert [p.name for p, _ in listed] == ["a.json", "b.json"]
    assert isinstance(listed[0][1], datasets.DatasetError) and listed[1][1].classes == ["cat", "dog"]
    assert D.saved(folder / "b.json") == []                       # not a folder: nothing to list


@pytest.mark.parametrize("name", ["", "  ", ".hidden", "a/b", "a\\b", "x" * 101])
def test_file_for_refuses_names_that_are_not_file_names(tmp_path, name):
    with pytest.raises(datasets.DatasetError, match="dataset name"):
        D.file_for(tmp_path, name)
    assert D.file_for(tmp_path, " flowers ") == tmp_path / "flowers.json"


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=10)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(D._KEYS + ("format", "version")), value=JSON, raw=st.binary(max_size=64))
def test_fuzzed_files_load_or_say_why(tmp_path, key, value, raw):
    good = D.DatasetDefinition("/data/x", (8, 8), classes=["a", "b"], counts=[1, 2]).to_json()
    for i, blob in enumerate((json.dumps(good | {key: value}).encode(), raw)):
        path = tmp_path / f"f{i}.json"
        path.write_bytes(blob)
        try:
            d = D.load(path)
        except datasets.DatasetError as e:
            assert str(path) in str(e) and "\n" not in str(e)
        else:
            assert d.checked() == d


def test_a_number_too_long_to_convert_is_one_sentence(tmp_path):
    path = tmp_path / "long.json"
    path.write_text('{"format": "numbacnn-dataset", "version": ' + "9" * 5000 + "}")
    with pytest.raises(datasets.DatasetError) as e:
        D.load(path)
    assert _one_sentence(e, path).startswith(f"{path}: not a dataset definition (")


def test_an_archive_is_a_source_too(tmp_path, cache_dir):
    photos = write_photos(tmp_path / "photos")
    archive = tmp_path / "photos.zip"
    archive.write_bytes(zip_bytes({rel: (photos / rel).read_bytes() for rel in photo_arrays()}, "photos/"))
    d = D.create(archive, size=(9, 7), resize="fill", val_fraction=0.5).save(tmp_path / "zipped.json")
    assert d.source == str(archive.resolve()) and d.counts == [3, 4]
    train, val = d.open(train=True), d.open(train=False)
    assert train.data.shape == (3, 9, 7, 3) and val.data.shape == (4, 9, 7, 3)
