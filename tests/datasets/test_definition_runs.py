"""A saved dataset definition is a dataset for later runs: ``numbacnn train --dataset
def.json`` trains on its images at its size and colour and validates on its held-out
part, the checkpoint records it, ``evaluate`` reopens it; --image-size is refused."""

import pytest

from datasets import definition as D
from engine import cli
from engine.train import load_checkpoint, recipe
from helpers.photo_folders import write_photos


@pytest.fixture
def pets(tmp_path, cache_dir):
    return D.create(write_photos(tmp_path / "photos"), size=(28, 28), resize="fill", color="grayscale",
                    val_fraction=0.3).save(tmp_path / "pets.json")


def test_recipe_opens_a_definition(pets):
    data = recipe.open_data(recipe.Settings(dataset=pets.path, batch_size=2))
    assert data.shape == (1, 28, 28) and data.classes == ["cat", "dog"] and data.key == pets.path
    assert len(data.train) == 5 and len(data.val) == 2 and "held-out validation" in data.val_note


def test_cli_trains_and_evaluates_on_a_definition(pets, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "--dataset", pets.path, "--epochs", "1", "--batch-size", "2", "--workers", "0",
                     "--out", str(out)]) == 0
    ck = load_checkpoint(out / "best.npz")
    assert ck.metadata["dataset"] == pets.path and ck.input_shape == (1, 28, 28) and ck.class_names == ["cat", "dog"]
    assert "held-out validation accuracy" in capsys.readouterr().out
    assert cli.main(["evaluate", str(out / "best.npz")]) == 0
    assert "samples: 2 " in capsys.readouterr().out


def test_image_size_does_not_apply(pets, capsys):
    assert cli.main(["train", "--dataset", pets.path, "--image-size", "8"]) == 2
    assert capsys.readouterr().err.strip() == (f"numbacnn: error: --image-size does not apply to a dataset "
                                               f"definition ({pets.path} sets its own size)")
