"""The recipe's parts that experiments use: drawn training and validation subsets, the
lighting augmentation, and an arm's own loaders over data opened once."""
from dataclasses import replace

import numpy as np
import pytest

from engine import models
from engine.data import Subset
from engine.data import transforms as T
from engine.train import recipe
from engine.train.recipe import RecipeError, Settings


@pytest.fixture(scope="module")
def mnist(shared_data):
    """Settings drawing 96 training and 40 validation images of MNIST with seed 5, and their data."""
    s = Settings(dataset="mnist", data_root=str(shared_data), train_size=96, val_size=40, subset_seed=5,
                 batch_size=16, epochs=1, workers=0, optimizer="sgd")
    return s, recipe.open_data(s)


def test_a_subset_seed_draws_the_images_in_dataset_order(mnist):
    s, data = mnist
    np.testing.assert_array_equal(data.train.indices, np.sort(np.random.default_rng(5).permutation(60000)[:96]))
    np.testing.assert_array_equal(data.val.indices, np.sort(np.random.default_rng(5).permutation(10000)[:40]))
    assert data.val_note.endswith("(10,000 images), 40 of them used")
    first = recipe.open_data(replace(s, subset_seed=None))
    np.testing.assert_array_equal(first.train.indices, np.arange(96))
    np.testing.assert_array_equal(first.val.indices, np.arange(40))


@pytest.mark.parametrize("changes, message", [
    ({"val_size": 0}, "--val-size must be a whole number >= 1, got 0"),
    ({"subset_seed": -1}, "--subset-seed must be a whole number >= 0, got -1"),
    ({"subset_seed": 1.5}, "--subset-seed must be a whole number >= 0, got 1.5"),
])
def test_bad_subset_settings_name_the_flag(changes, message):
    with pytest.raises(RecipeError, match=message):
        Settings(**changes).checked()


def test_a_validation_size_beyond_the_split_is_refused(mnist):
    s, _ = mnist
    with pytest.raises(RecipeError, match="--val-size 10001 is more than the 10,000 validation images"):
        recipe.open_data(replace(s, val_size=10001))


def test_lighting_needs_colour_images_and_runs_between_to_tensor_and_normalize(mnist, shared_data):
    s, _ = mnist
    with pytest.raises(RecipeError, match="--augment lighting needs colour \\(3-channel\\) images, not 1-channel"):
        recipe.open_data(replace(s, augment="lighting"))
    colour = Settings(dataset="cifar10", data_root=str(shared_data), train_size=32, val_size=8, batch_size=8,
                      workers=0, augment="flip,lighting")
    data = recipe.open_data(colour)
    steps = data.train_loader.transform.transforms
    assert [type(t) for t in steps] == [T.RandomHorizontalFlip, T.ToTensor, T.Lighting, T.Normalize]
    plain = recipe.open_data(replace(colour, augment="flip"))
    x, _ = next(iter(data.train_loader))
    y, _ = next(iter(plain.train_loader))
    assert not np.array_equal(np.asarray(x), np.asarray(y))


def test_an_arm_gets_fresh_loaders_for_its_settings_and_datasets(mnist):
    s, data = mnist
    by_class = Subset(data.train, np.argsort(data.train.targets, kind="stable"))
    arm = data.for_arm(replace(s, batch_size=32, shuffle=False), train=by_class)
    assert arm.train is by_class and arm.val is data.val and arm.full_train is data.full_train
    assert arm.train_loader is not data.train_loader and arm.train_loader.batch_size == 32
    _, y = next(iter(arm.train_loader))
    np.testing.assert_array_equal(np.asarray(y), np.sort(data.train.targets)[:32])
    with pytest.raises(RecipeError, match="--batch-size 128 is larger than the 96 training images"):
        data.for_arm(replace(s, batch_size=128))


def test_build_trains_on_the_data_it_is_given(mnist):
    s, data = mnist
    arm = data.for_arm(s)
    model = models.get("mnist_cnn")
    run = recipe.build(s, model=model, data=arm)
    assert run.data is arm and run.model is model and run.trainer().train_loader is arm.train_loader
    assert run.scheduler is None and run.optimizer.param_groups[0]["momentum"] == 0.9
