"""Finding the state_dict in a checkpoint's wrappers, safetensors in and out, and the round
trips with PyTorch: numbacnn -> safetensors -> torch -> torch.save -> numbacnn is
bit-identical, and a model trained in torch gives torch's logits here."""
import json
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine import nn
from engine.interop import (WeightsError, load_into, load_safetensors, read_safetensors, read_state_dict, read_weights,
                            save_safetensors, state_dict_from)
from torch_files import ODict, write_pt

pytest.importorskip("safetensors")


def model(name="resnet20", seed=0, **kw):
    engine.manual_seed(seed)
    m = engine.models.get(name, **kw)
    rng = np.random.default_rng(seed)
    for mod in m.modules():     # batch-norm statistics that are not the defaults, and a step count
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean[:] = rng.normal(0, 0.1, mod.num_features)
            mod.running_var[:] = rng.uniform(0.5, 2, mod.num_features)
            mod.num_batches_tracked[...] = 17
    return m


def assert_same_state(got, want):
    assert sorted(got) == sorted(want)      # a safetensors file orders its tensors its own way
    for k in want:
        assert np.asarray(got[k]).dtype == want[k].dtype and np.shape(got[k]) == want[k].shape, k
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


# -- state_dict_from ------------------------------------------------------------------------------
def test_state_dict_is_found_in_common_wrappers():
    sd = {"0.weight": np.ones((2, 3), np.float32), "0.bias": np.zeros(2, np.float32)}
    opt = {"state": {0: {"momentum_buffer": np.ones((2, 3), np.float32)}},
           "param_groups": [{"lr": 0.1, "params": [0, 1]}]}
    assert state_dict_from(sd) is sd
    assert state_dict_from({"net": sd, "acc": 91.0, "epoch": 30}) is sd
    assert state_dict_from({"model_state_dict": sd, "optimizer_state_dict": opt, "epoch": 3}) is sd
    assert state_dict_from({"checkpoint": {"state_dict": sd}}) is sd
    assert state_dict_from({"model": sd, "ema": {k: v + 1 for k, v in sd.items()}}) is sd     # the named one wins
    ema = {k: v + 1 for k, v in sd.items()}
    assert state_dict_from({"model": sd, "ema": ema}, key="ema") is ema
    assert state_dict_from({}) == {}


def test_module_and_compile_prefixes_are_stripped():
    sd = {"module.0.weight": np.ones(2, np.float32), "module.1.bias": np.ones(1, np.float32)}
    assert list(state_dict_from({"net": sd})) == ["0.weight", "1.bias"]
    assert list(state_dict_from({"module._orig_mod.0.weight": np.ones(1)})) == ["0.weight"]
    mixed = {"module.0.weight": np.ones(1), "1.weight": np.ones(1)}      # a submodule really called "module"
    assert list(state_dict_from(mixed)) == list(mixed)


@pytest.mark.parametrize("obj,key,needle", [
    ({"acc": 1.0, "epoch": 3}, None, "holds no state_dict"),
    ([np.ones(1)], None, "holds no state_dict .*; it holds a list"),
    ({"a": {"w": np.ones(1)}, "b": {"w": np.ones(1)}}, None, "2 state_dicts .*--key"),
    ({"net": {"w": np.ones(1)}}, "model", "no entry 'model'"),
    ({"net": {"w": np.ones(1)}, "acc": 1.0}, "acc", "not a state_dict"),
])
def test_state_dict_errors(obj, key, needle):
    with pytest.raises(WeightsError, match=needle):
        state_dict_from(obj, key, source="w.pt")


def test_load_into_reports_mismatches_in_one_line():
    m = model("mnist_cnn")
    sd = m.state_dict()
    with pytest.raises(WeightsError, match="w.pt does not fit the model: .*missing keys"):
        load_into(m, {k: v for k, v in sd.items() if k != "0.bias"}, source="w.pt")
    with pytest.raises(WeightsError, match="'0.weight' has shape"):
        load_into(m, {**sd, "0.weight": np.zeros((1, 1, 1, 1), np.float32)}, source="w.pt")


# -- safetensors ------------------------------------------------------------------------------------
def test_safetensors_round_trip_is_bit_identical(tmp_path):
    m = model()
    path = save_safetensors(m, tmp_path / "r.safetensors")
    arrays, meta = read_safetensors(path)
    assert_same_state(arrays, m.state_dict())
    assert meta["format"] == "pt" and json.loads(meta["numbacnn.spec"]) == m.spec()
    other = model(seed=1)
    assert load_safetensors(other, path) is other
    assert_same_state(other.state_dict(), m.state_dict())
    state, spec = read_weights(path)
    assert spec == m.spec() and sorted(state) == sorted(m.state_dict())


class Net(nn.Module):
    """A user's module, PyTorch-style."""

    def __init__(self, classes=3):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.bn = nn.BatchNorm2d(2)
        self.fc = nn.Linear(8, classes)


def test_module_methods_save_and_load_safetensors(tmp_path):
    engine.manual_seed(0)
    m, other = Net(), Net()
    m.bn.running_var[:] = [2.0, 3.0]
    path = tmp_path / "net.safetensors"
    assert m.save_safetensors(path) == str(path)
    arrays, meta = read_safetensors(path)
    assert_same_state(arrays, m.state_dict())
    assert json.loads(meta["numbacnn.spec"])["type"] == "Net"
    assert other.load_safetensors(path) is other
    assert_same_state(other.state_dict(), m.state_dict())
    wrong = Net(classes=4)
    before = wrong.state_dict()
    with pytest.raises(WeightsError, match=r"net\.safetensors does not fit the model: .*'fc\.weight' has shape"):
        wrong.load_safetensors(path)
    assert_same_state(wrong.state_dict(), before)
    with pytest.raises(WeightsError, match="does not exist"):
        m.load_safetensors(tmp_path / "none.safetensors")


def test_safetensors_save_is_atomic_and_keeps_the_old_file_on_error(tmp_path, monkeypatch):
    from engine.train import checkpoint
    path = tmp_path / "m.safetensors"
    save_safetensors(model("mnist_cnn"), path)
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("disk gone")
    monkeypatch.setattr(checkpoint, "_replace", crash)
    with pytest.raises(OSError):
        save_safetensors(model("mnist_cnn", seed=3), path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_safetensors_float_types_become_float32(tmp_path):
    import safetensors.numpy
    w = np.linspace(-2, 2, 6, dtype=np.float64).reshape(2, 3)
    safetensors.numpy.save_file({"h": w.astype(np.float16), "d": w, "i": np.arange(3, dtype=np.int32)},
                                str(tmp_path / "t.safetensors"))
    arrays, meta = read_safetensors(tmp_path / "t.safetensors")
    assert arrays["h"].dtype == arrays["d"].dtype == np.float32 and arrays["i"].dtype == np.int32
    np.testing.assert_array_equal(arrays["h"], w.astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(arrays["d"], w.astype(np.float32))
    assert meta == {}


def test_safetensors_bfloat16_from_torch(tmp_path):
    torch = pytest.importorskip("torch")
    import safetensors.torch
    w = torch.linspace(-3, 3, 8).reshape(2, 4)
    safetensors.torch.save_file({"w": w.bfloat16()}, str(tmp_path / "b.safetensors"))
    pytest.importorskip("ml_dtypes")
    got = read_safetensors(tmp_path / "b.safetensors")[0]["w"]
    np.testing.assert_array_equal(got, w.bfloat16().float().numpy())


def test_broken_safetensors_files(tmp_path):
    path = save_safetensors(model("mnist_cnn"), tmp_path / "m.safetensors")
    data = open(path, "rb").read()
    (tmp_path / "cut.safetensors").write_bytes(data[:-10])
    (tmp_path / "head.safetensors").write_bytes(data[:8] + b"{" + b"x" * 40)
    for bad in ("cut", "head"):
        with pytest.raises(WeightsError, match="not a readable safetensors file"):
            read_safetensors(tmp_path / f"{bad}.safetensors")
    with pytest.raises(WeightsError, match="does not exist"):
        read_safetensors(tmp_path / "none.safetensors")
    with pytest.raises(WeightsError, match=r"needs [\d,]+ bytes, past the reader's limit of 1,000 bytes"):
        read_safetensors(path, max_bytes=1000)
    with pytest.raises(WeightsError, match="does not fit the model"):
        load_safetensors(model("cifar_cnn"), path)


@pytest.fixture(scope="module")
def fuzz_base() -> bytes:
    import safetensors.numpy
    engine.manual_seed(2)
    return safetensors.numpy.save({k: np.require(v, requirements="C")
                                   for k, v in engine.models.get("mnist_cnn").state_dict().items()})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_header_edits_and_truncations(tmp_path, fuzz_base, data):
    base = fuzz_base
    header_end = 8 + int.from_bytes(base[:8], "little")
    b = bytearray(base)
    for at, value in data.draw(st.lists(st.tuples(st.integers(0, header_end - 1), st.integers(0, 255)),
                                        min_size=1, max_size=6)):
        b[at] = value
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(b))))
    path = tmp_path / "f.safetensors"
    path.write_bytes(bytes(b[:cut]))
    try:
        arrays, _ = read_safetensors(path)
    except WeightsError as e:
        assert "\n" not in str(e)
    else:
        assert all(isinstance(a, np.ndarray) for a in arrays.values())


def test_missing_package_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    with pytest.raises(WeightsError, match=r"pip install 'numbacnn\[safetensors\]'"):
        save_safetensors(model("mnist_cnn"), tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()


def test_read_state_dict_tells_the_formats_apart(tmp_path):
    m = model("mnist_cnn")
    pt = write_pt(tmp_path / "m.pt", {"model_state_dict": ODict({f"module.{k}": v for k, v in m.state_dict().items()}),
                                      "epoch": 4})
    st = save_safetensors(m, tmp_path / "m.safetensors")
    assert_same_state(read_state_dict(pt), m.state_dict())
    assert_same_state(read_state_dict(st), m.state_dict())
    assert read_weights(pt)[1] is None


# -- with PyTorch ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["resnet20", "googlenet", "alexnet"])
def test_round_trip_through_torch_is_bit_identical(tmp_path, torch_twin, name):
    """numbacnn -> safetensors -> torch (load_state_dict, 0 missing / 0 unexpected) ->
    torch.save -> this reader: the same bits."""
    torch, from_spec = torch_twin
    import safetensors.torch
    m = model(name, input_size=16 if name == "alexnet" else 32)
    twin = from_spec(m.spec())
    res = twin.load_state_dict(safetensors.torch.load_file(str(save_safetensors(m, tmp_path / "m.safetensors"))))
    assert res.missing_keys == [] and res.unexpected_keys == []
    torch.save({"net": twin.state_dict(), "epoch": 1}, tmp_path / "m.pt")
    assert_same_state(read_state_dict(tmp_path / "m.pt"), m.state_dict())
    again = model(name, seed=5, input_size=16 if name == "alexnet" else 32)
    assert_same_state(load_into(again, read_state_dict(tmp_path / "m.pt")).state_dict(), m.state_dict())


def test_torch_trained_model_gives_torch_logits(tmp_path, torch_twin):
    """A few SGD steps of the torch twin (batch norm statistics moving too), saved by
    torch.save as training scripts do, imported here: the same logits in eval mode."""
    torch, from_spec = torch_twin
    torch.manual_seed(0)
    m = model("resnet20")
    twin = from_spec(m.spec()).train()
    x = torch.randn(8, 3, 16, 16)
    y = torch.randint(0, 10, (8,))
    for _ in range(3):      # plain SGD by hand (torch.optim's first step imports torch._dynamo: seconds)
        twin.zero_grad()
        torch.nn.functional.cross_entropy(twin(x), y).backward()
        with torch.no_grad():
            for p in twin.parameters():
                p -= 0.1 * p.grad
    momentum = {i: {"momentum_buffer": p.grad.clone()} for i, p in enumerate(twin.parameters())}
    torch.save({"model_state_dict": {f"module.{k}": v for k, v in twin.state_dict().items()},
                "optimizer_state_dict": {"state": momentum, "param_groups": [{"lr": 0.1, "params": list(momentum)}]},
                "epoch": 1, "loss": 2.3}, tmp_path / "trained.pt")
    twin.eval()
    with torch.no_grad():
        want = twin(x).numpy()
    ours = load_into(model("resnet20", seed=9), read_state_dict(tmp_path / "trained.pt"))
    with nn.inference_mode():
        got = ours.eval()(x.numpy())
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(want).max())))
    assert int(ours.state_dict()["1.num_batches_tracked"]) == 3
