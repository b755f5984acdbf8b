"""A model written as a custom nn.Module (a PyTorch-style forward) trains, summarises and
checkpoints through the same Trainer path as the zoo's Sequential models."""
import numpy as np
import pytest

import engine
import engine.nn.functional as F
from engine import nn, optim
from engine.train import CheckpointError, ModelCheckpoint, Trainer, load_checkpoint
from helpers.train import make_loaders


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(4 * 4 * 4, 4)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        return self.head(x.flatten(1))


def test_trainer_fits_a_custom_module_and_restores_it_exactly(tmp_path):
    engine.manual_seed(0)
    train, val = make_loaders()
    model = Net()
    t = Trainer(model, optim.SGD(model.parameters(), lr=0.05, momentum=0.9), nn.CrossEntropyLoss(), train, val,
                callbacks=[ModelCheckpoint(tmp_path)])
    done = t.fit(2)
    assert done.reason == "completed" and t.history[-1]["val_accuracy"] > 0.5
    ckpt = load_checkpoint(tmp_path / "last.npz")
    assert ckpt.spec == {"type": "Net", "python_class": f"{__name__}.Net"}
    with pytest.raises(CheckpointError, match="defined in Python.*load_state_dict"):
        ckpt.build_model()
    again = Net()
    again.load_state_dict(engine.load(tmp_path / "last.npz"))
    for (k, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    t2 = Trainer(again, optim.SGD(again.parameters(), lr=0.05, momentum=0.9), nn.CrossEntropyLoss(), train, val)
    t2.restore(tmp_path / "last.npz")
    assert (t2.epoch, t2.step) == (t.epoch, t.step)


def test_summary_traces_a_custom_forward():
    s = engine.summary(Net(), (1, 8, 8))
    assert [r[0] for r in s.rows] == ["conv", "bn", "head"]
    assert s.rows[0][2] == (4, 8, 8) and s.output_shape == (4,)
    assert s.total_params == sum(p.numel() for p in Net().parameters())
    assert s.rows[0][4] == 4 * 8 * 8 * 1 * 9


def test_summary_names_the_layer_that_does_not_fit_inside_a_custom_forward():
    with pytest.raises(nn.ShapeError, match="layer 'head'"):
        engine.summary(Net(), (1, 10, 10))
