"""engine.save / engine.load: torch.save-shaped, pickle-free, checked on reading."""
import os

import numpy as np
import pytest

import engine
from engine import nn, optim
from engine.serialization import SaveError


def _trained():
    engine.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))
    opt = optim.Adam(m.parameters(), lr=0.01)
    loss = nn.CrossEntropyLoss()(m(np.random.rand(4, 1, 4, 4).astype(np.float32)), np.array([0, 1, 2, 0]))
    loss.backward()
    opt.step()
    return m, opt


def test_state_dict_round_trip_restores_model_and_optimizer(tmp_path):
    m, opt = _trained()
    path = tmp_path / "ckpt.pth"
    engine.save({"net": m.state_dict(), "optimizer": opt.state_dict(), "epoch": 7, "acc": 0.25,
                 "name": "run", "none": None, "pair": (1, 2.5)}, path)
    d = engine.load(path)
    assert d["epoch"] == 7 and d["acc"] == 0.25 and d["name"] == "run" and d["none"] is None
    assert d["pair"] == [1, 2.5]
    assert all(isinstance(v, engine.Tensor) for v in d["net"].values())
    m2, opt2 = _trained()
    for p in m2.parameters():
        p.data.fill_(0)
    m2.load_state_dict(d["net"])
    opt2.load_state_dict(d["optimizer"])
    for (k, a), (_, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    for i, s in opt.state.items():
        np.testing.assert_array_equal(s["exp_avg"], opt2.state[i]["exp_avg"])
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask():
    old = os.umask(0)
    os.umask(old)
    return old


def test_tensors_come_back_as_tensors_with_their_values(tmp_path):
    t = engine.arange(6).reshape(2, 3).float()
    engine.save([t, {"x": np.int64(3)}], tmp_path / "t.pth")
    back = engine.load(tmp_path / "t.pth")
    assert isinstance(back[0], engine.Tensor) and back[0].tolist() == t.tolist() and back[1] == {"x": 3}


def test_a_model_object_is_refused_with_what_to_save_instead(tmp_path):
    m, _ = _trained()
    with pytest.raises(SaveError, match="state_dict"):
        engine.save(m, tmp_path / "m.pth")
    assert not (tmp_path / "m.pth").exists()


@pytest.mark.parametrize("content", [b"", b"not a zip file at all", b"PK\x03\x04garbage"])
def test_foreign_or_damaged_files_end_in_one_sentence(tmp_path, content):
    path = tmp_path / "bad.pth"
    path.write_bytes(content)
    with pytest.raises(SaveError) as e:
        engine.load(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_a_torch_save_file_loads_without_running_code(tmp_path):
    torch = pytest.importorskip("torch")
    lin = torch.nn.Linear(3, 2)
    torch.save({"model_state_dict": lin.state_dict(), "epoch": 2}, tmp_path / "t.pt")
    d = engine.load(tmp_path / "t.pt")
    assert d["epoch"] == 2
    ours = nn.Linear(3, 2)
    ours.load_state_dict(d["model_state_dict"])
    np.testing.assert_array_equal(ours.weight.numpy(), lin.weight.detach().numpy())
