"""The run recipe: settings are checked at the boundary with one sentence naming the
flag, the schedule text builds per-batch schedulers, and a run built from settings is
the same run every time."""
import numpy as np
import pytest

from engine.nn import Parameter
from engine.train import recipe
from engine.train.recipe import RecipeError, Settings


@pytest.mark.parametrize("changes, message", [
    ({"batch_size": 0}, "--batch-size must be a whole number >= 1, got 0"),
    ({"epochs": 2.5}, "--epochs must be a whole number >= 1"),
    ({"lr": float("nan")}, "--lr must be a finite number >= 0"),
    ({"val_split": 1.0}, "--val-split must be in [0, 1)"),
    ({"optimizer": "rmsprop"}, "--optimizer must be one of sgd, adam, adamw"),
    ({"device": "tpu"}, "--device must be one of cpu, cuda"),
    ({"augment": "crop,rotate"}, "unknown --augment rotate"),
    ({"image_size": (32, 32)}, "--image-size applies to image-folder datasets only"),
    ({"shuffle": 1}, "--shuffle must be True or False"),
    ({"model": ""}, "--model must be a non-empty string"),
])
def test_bad_settings_name_the_flag(changes, message):
    with pytest.raises(RecipeError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        Settings(**changes).checked()


def test_defaults_that_depend_on_the_optimizer():
    assert Settings(optimizer="sgd").checked().lr == 0.01
    assert Settings(optimizer="adam").checked().lr == 1e-3
    assert Settings(optimizer="adamw").checked().weight_decay == 0.01
    assert Settings(optimizer="adamw", weight_decay=0.0).checked().weight_decay == 0.0


def test_settings_round_trip_through_a_dict():
    s = Settings(dataset="/tmp/folder", image_size=(40, 30), schedule="cosine", warmup=0.5)
    d = s.to_dict()
    assert d["image_size"] == [40, 30]
    assert Settings.from_dict(d) == s
    with pytest.raises(RecipeError, match="ckpt: unknown setting colour"):
        Settings.from_dict({"colour": 1}, where="ckpt")


def _scheduler(text, epochs=4, spe=10, warmup=0, lr=0.1):
    opt = recipe.make_optimizer(Settings(optimizer="sgd", lr=lr).checked(), [Parameter(np.zeros(1, np.float32))])
    return recipe.make_scheduler(text, opt, epochs, spe, warmup, lr)


def test_every_schedule_but_plateau_steps_per_batch():
    for text in ("step:1", "multistep:1,3:0.5", "exp:0.5", "cosine", "onecycle"):
        assert _scheduler(text).interval == "step", text
    assert _scheduler("plateau").interval == "epoch"
    assert _scheduler("none") is None
    cosine = _scheduler("cosine")
    rates = [cosine.lr_at(t)[0] for t in range(40)]
    assert len(set(rates)) == 40                    # smooth within each epoch, not a staircase
    assert all(a > b for a, b in zip(rates, rates[1:]))


def test_warmup_in_fractions_of_an_epoch_then_the_schedule():
    s = _scheduler("cosine", warmup=0.5)
    assert s.lr_at(0)[0] == pytest.approx(0.001) and s.lr_at(5)[0] == pytest.approx(0.1)
    assert s.lr_at(39)[0] < 0.01


@pytest.mark.parametrize("text, message", [
    ("cosinus", "unknown --schedule 'cosinus'"),
    ("step", "--schedule step needs a value"),
    ("step:1:2:3", "too many ':' parts"),
    ("multistep:a", "milestones must be whole epochs"),
    ("exp:2", "GAMMA (per epoch) must be in (0, 1]"),
    ("onecycle:1.5", "pct_start must be in (0, 1)"),
    ("plateau:2:1.5", "factor must be in (0, 1)"),
])
def test_bad_schedules_name_the_flag(text, message):
    with pytest.raises(RecipeError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        _scheduler(text)


def test_warmup_does_not_combine_with_self_warming_schedules():
    with pytest.raises(RecipeError, match="--warmup cannot be combined with --schedule onecycle"):
        _scheduler("onecycle", warmup=1)
    with pytest.raises(RecipeError, match="--warmup 4 leaves no epochs"):
        _scheduler("cosine", warmup=4)


def test_a_built_run_is_the_same_every_time(shared_data, tmp_path):
    s = Settings(dataset="mnist", data_root=str(shared_data), train_size=256, val_split=0.25, batch_size=32,
                 epochs=1, workers=0, optimizer="sgd", schedule="cosine", augment="crop", seed=3)
    a, b = recipe.build(s, tmp_path / "a"), recipe.build(s, tmp_path / "b")
    for (name, p), (_, q) in zip(a.model.named_parameters(), b.model.named_parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=name)
    np.testing.assert_array_equal(a.data.val.indices, b.data.val.indices)
    xa, ya = next(iter(a.data.train_loader))
    xb, yb = next(iter(b.data.train_loader))
    np.testing.assert_array_equal(np.asarray(xa), np.asarray(xb))
    assert len(a.data.train) == 192 and len(a.data.val) == 64 and a.data.test is not None
    assert a.metadata["args"]["schedule"] == "cosine" and a.metadata["dataset"] == "mnist"
    assert [type(cb).__name__ for cb in a.callbacks] == ["CSVLogger", "JSONLogger", "ModelCheckpoint"]
    assert a.callbacks[-1].monitor == "val_accuracy"


def test_data_that_cannot_make_a_run(shared_data):
    base = dict(dataset="mnist", data_root=str(shared_data), workers=0)
    with pytest.raises(RecipeError, match="--train-size 70000 is more than the 60,000 training images"):
        recipe.open_data(Settings(train_size=70000, **base))
    with pytest.raises(RecipeError, match="--batch-size 64 is larger than the 50 training images"):
        recipe.open_data(Settings(train_size=50, batch_size=64, **base))
    with pytest.raises(RecipeError, match="--val-split 0.001 leaves no validation"):
        recipe.open_data(Settings(train_size=100, batch_size=8, val_split=0.001, **base))
