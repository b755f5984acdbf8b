"""A model is data: spec JSON round trips and from_spec, state_dict round trips and strict
loading, summary tables, clear ShapeErrors, dtype moves and memory layouts."""
import json

import numpy as np
import pytest

import engine
from engine import nn
from engine.autograd import Tensor
from engine.models import DEFAULT_INPUT


@pytest.fixture(autouse=True)
def _seed():
    engine.manual_seed(0)


def small_net():
    body = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU())
    return nn.Sequential(
        nn.Conv2d(1, 4, (3, 2), stride=(1, 2), padding=(1, 0)), nn.BatchNorm2d(4), nn.LeakyReLU(0.2),
        nn.Residual(body),
        nn.Concat(nn.Conv2d(4, 2, 1),
                  nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=False), nn.Conv2d(4, 3, 1))),
        nn.MaxPool2d(2), nn.LocalResponseNorm(3), nn.AdaptiveAvgPool2d((2, 1)), nn.Flatten(), nn.Dropout(0.2),
        nn.Linear(10, 6), nn.Sigmoid(), nn.Linear(6, 3, bias=False), nn.Tanh(), nn.BatchNorm1d(3))


# --- spec ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", engine.models.names())
def test_zoo_spec_json_round_trip(name):
    model = engine.models.get(name)
    spec = model.spec()
    text = json.dumps(spec)
    rebuilt = nn.from_spec(json.loads(text))
    assert rebuilt.spec() == spec
    assert json.dumps(rebuilt.spec()) == text
    assert [(k, v.shape) for k, v in rebuilt.state_dict().items()] == \
           [(k, v.shape) for k, v in model.state_dict().items()]


def test_spec_round_trip_computes_the_same(rng):
    model = small_net()
    x = rng.standard_normal((2, 1, 6, 9)).astype(np.float32)
    model(x)  # move the running statistics away from their defaults
    rebuilt = nn.from_spec(json.loads(json.dumps(model.spec())))
    rebuilt.load_state_dict(model.state_dict())
    model.eval(), rebuilt.eval()
    np.testing.assert_array_equal(rebuilt(x), model(x))
    assert repr(rebuilt) == repr(model)


def test_spec_keeps_every_argument():
    layers = [nn.Conv2d(2, 3, (3, 5), stride=(2, 1), padding=(0, 2), bias=False), nn.MaxPool2d(3, 1, 1),
              nn.AvgPool2d((2, 3), count_include_pad=False), nn.AdaptiveAvgPool2d((2, 3)), nn.Linear(4, 5, bias=False),
              nn.LeakyReLU(0.3), nn.Dropout(0.25), nn.BatchNorm2d(3, eps=1e-3, momentum=0.2),
              nn.BatchNorm1d(7), nn.LocalResponseNorm(4, alpha=2e-4, beta=0.5, k=2.0)]
    for layer in layers:
        rebuilt = nn.from_spec(json.loads(json.dumps(layer.spec())))
        assert type(rebuilt) is type(layer) and rebuilt.config() == layer.config()
    res = nn.Residual(nn.Sequential(nn.ReLU()), nn.Conv2d(1, 1, 1))
    assert nn.from_spec(res.spec()).spec() == res.spec()
    assert nn.from_spec(nn.Residual(nn.ReLU()).spec()).shortcut is None


def test_from_spec_errors_name_the_place():
    with pytest.raises(ValueError, match=r"model\[1\]: unknown layer type 'Conv3d'"):
        nn.from_spec({"type": "Sequential", "layers": [{"type": "ReLU"}, {"type": "Conv3d"}]})
    with pytest.raises(ValueError, match=r"model\.body\[0\]: bad arguments for Linear"):
        nn.from_spec({"type": "Residual", "body": {"type": "Sequential", "layers": [{"type": "Linear", "n": 3}]}})
    with pytest.raises(ValueError, match=r"model\.branches\[0\]: Conv2d: kernel_size"):
        nn.from_spec({"type": "Concat", "branches": [
            {"type": "Conv2d", "in_channels": 1, "out_channels": 1, "kernel_size": 0}]})
    with pytest.raises(ValueError, match="must be a dict with a 'type'"):
        nn.from_spec([{"type": "ReLU"}])
    assert set(nn.layer_types()) >= {"Conv2d", "Linear", "BatchNorm2d", "LocalResponseNorm", "Dropout"}


# --- state_dict ---------------------------------------------------------------------
def test_state_dict_keys_follow_torch():
    keys = list(small_net().state_dict())
    assert keys[:7] == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                        "1.num_batches_tracked"]
    assert "3.body.0.weight" in keys and "3.body.1.running_var" in keys
    assert "4.0.weight" in keys and "4.1.1.bias" in keys
    assert "12.weight" in keys and "12.bias" not in keys


def test_state_dict_is_a_copy():
    model = small_net()
    sd = model.state_dict()
    sd["0.weight"][...] = 7
    sd["1.running_mean"][...] = 7
    assert not np.any(model.state_dict()["0.weight"] == 7)
    assert not np.any(model[1].running_mean == 7)


def test_load_state_dict_round_trip():
    a, b = small_net(), small_net()
    assert not np.array_equal(a[0].weight.array, b[0].weight.array)
    sd = a.state_dict()
    sd["1.running_mean"] = np.arange(4, dtype=np.float32)
    sd["1.num_batches_tracked"] = np.array(5)
    b.load_state_dict(sd)
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v, sd[k], err_msg=k)
    assert b[1].running_mean is b[1]._buffers["running_mean"]  # the layer computes with what was loaded
    np.testing.assert_array_equal(b[1].running_mean, np.arange(4))
    assert int(b[1].num_batches_tracked) == 5


def test_load_state_dict_strict_errors_leave_model_untouched():
    model = small_net()
    before = model.state_dict()
    sd = small_net().state_dict()

    missing = dict(sd)
    del missing["3.body.0.weight"]
    with pytest.raises(KeyError, match=r"missing keys \['3\.body\.0\.weight'\]"):
        model.load_state_dict(missing)
    unexpected = dict(sd, **{"99.weight": np.zeros(3, np.float32)})
    with pytest.raises(KeyError, match=r"unexpected keys \['99\.weight'\]"):
        model.load_state_dict(unexpected)
    wrong = dict(sd)
    wrong["12.weight"] = np.zeros((3, 5), np.float32)  # a late key: nothing before it may change
    for strict in (True, False):
        with pytest.raises(ValueError, match=r"'12\.weight' has shape \(3, 5\), the model needs \(3, 6\)"):
            model.load_state_dict(wrong, strict=strict)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)

    # strict=False loads what fits by name and ignores the rest
    model.load_state_dict(missing | {"99.weight": np.zeros(3)}, strict=False)
    np.testing.assert_array_equal(model.state_dict()["0.weight"], sd["0.weight"])
    np.testing.assert_array_equal(model.state_dict()["3.body.0.weight"], before["3.body.0.weight"])


def test_load_state_dict_casts_to_the_model_dtype():
    model = nn.Linear(3, 2)
    model.load_state_dict({"weight": np.ones((2, 3)), "bias": np.zeros(2, np.float16)})
    assert model.weight.array.dtype == np.float32 and model.bias.array.dtype == np.float32
    np.testing.assert_array_equal(model.weight.array, 1)


# --- dtype and device moves -----------------------------------------------------------------
def test_double_moves_buffers_the_layer_uses(rng):
    model = small_net()
    x = rng.standard_normal((2, 1, 6, 9)) + 3
    model(x.astype(np.float32)).sum().backward()  # gradients to move along
    model.double()
    for name, p in model.named_parameters():
        assert p.array.dtype == np.float64 and p.grad_array.dtype == np.float64, name
    for m in model.modules():
        for name, b in m._buffers.items():
            assert getattr(m, name) is b, f"{type(m).__name__}.{name}: attribute and buffer differ"
    bn = model[1]
    assert bn.running_mean.dtype == np.float64 and bn.num_batches_tracked.dtype == np.int64
    model(x)
    sd = model.state_dict()
    assert sd["1.running_mean"].dtype == np.float64
    assert np.all(sd["1.running_mean"] != 0), "a training forward must update the running mean state_dict shows"
    assert int(sd["1.num_batches_tracked"]) == 2
    # what load_state_dict writes is what eval uses
    sd["1.running_mean"][...] = 100
    model.load_state_dict(sd)
    model.eval()
    bn, z = model[1], model[0](x)
    np.testing.assert_array_equal(bn.running_mean, 100)
    expect = ((z - 100) / np.sqrt(sd["1.running_var"] + bn.eps)[:, None, None] * sd["1.weight"][:, None, None]
              + sd["1.bias"][:, None, None])
    np.testing.assert_allclose(bn(z).numpy(), expect.numpy(), rtol=1e-12)

    model.float()
    assert model[1].running_mean.dtype == np.float32 and model[0].weight.array.dtype == np.float32
    assert model[0].weight.grad_array.dtype == np.float32
    assert model(x.astype(np.float32)).dtype == np.float32


def test_non_contiguous_inputs_give_the_same_results(rng):
    """Channels-last memory viewed as NCHW (what a loader's transpose yields) and Fortran order."""
    layers = [nn.ReLU(), nn.LeakyReLU(0.1), nn.Sigmoid(), nn.Tanh(), nn.Dropout(0.5), nn.BatchNorm2d(5),
              nn.BatchNorm2d(5).eval(), nn.LocalResponseNorm(3), nn.MaxPool2d(2), nn.AvgPool2d(2),
              nn.AdaptiveAvgPool2d(1), nn.Conv2d(5, 2, 3), nn.Residual(nn.Sequential()),
              nn.Sequential(nn.Flatten(), nn.Linear(60, 3))]
    x = rng.standard_normal((2, 5, 4, 3)).astype(np.float32)
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    def run(layer, inp, g=None):
        """Output, input gradient and parameter gradients of one forward and backward."""
        layer.zero_grad()
        t = Tensor(inp, requires_grad=True)
        y = layer(t)
        g = rng.standard_normal(y.shape).astype(np.float32) if g is None else g
        y.backward(g)
        return y.numpy(), t.grad.numpy(), [p.grad.numpy() for p in layer.parameters()], g

    for layer in layers:
        state = layer.get_rng_state() if hasattr(layer, "get_rng_state") else None
        y, dx, grads, g = run(layer, x)
        for other in (nhwc, np.asfortranarray(x)):
            if state:
                layer.set_rng_state(state)
            y2, dx2, grads2, _ = run(layer, other, np.asfortranarray(g))
            np.testing.assert_allclose(y2, y, rtol=1e-5, atol=1e-6, err_msg=repr(layer))
            np.testing.assert_allclose(dx2, dx, rtol=1e-5, atol=1e-6, err_msg=repr(layer))
            for a, b in zip(grads2, grads):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=repr(layer))


# --- summary and shape errors -----------------------------------------------------------------------
@pytest.mark.parametrize("name", engine.models.names())
def test_zoo_summary(name):
    model = engine.models.get(name, num_classes=7)
    s = engine.summary(model, DEFAULT_INPUT[name])
    total = sum(p.numel() for p in model.parameters())
    assert s.total_params == total == model.num_parameters()
    assert sum(r[3] for r in s.rows) == total
    assert s.output_shape == (7,) and s.rows[-1][2] == (7,)
    assert s.total_macs > 0 and s.activation_bytes > 0
    text = str(s)
    assert f"Total parameters: {total:,}" in text
    assert engine.summary(model, (2,) + DEFAULT_INPUT[name]).rows == s.rows  # a batch axis is dropped


def test_summary_numbers_of_a_small_net():
    model = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6 * 12 * 12, 10))
    s = engine.summary(model, (1, 28, 28))
    assert [r[0] for r in s.rows] == ["0", "1", "2", "3", "4"]
    assert [r[2] for r in s.rows] == [(6, 24, 24), (6, 24, 24), (6, 12, 12), (864,), (10,)]
    assert [r[3] for r in s.rows] == [156, 0, 0, 0, 8650]
    assert s.rows[0][4] == 6 * 24 * 24 * 25 and s.rows[4][4] == 8640


LENET_WRONG = [nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
               nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 10)]


def test_shape_error_from_summary_and_forward():
    """On 28x28 the features are 16x4x4 = 256, not the 400 of 32x32 inputs."""
    model = nn.Sequential(*LENET_WRONG)
    with pytest.raises(nn.ShapeError) as e:
        engine.summary(model, (1, 28, 28))
    msg = str(e.value)
    assert "'7'" in msg and "(256,)" in msg and "(400,)" in msg, msg
    assert e.value.path == ("7",)
    with pytest.raises(nn.ShapeError) as e:
        model(np.zeros((2, 1, 28, 28), np.float32))
    assert str(e.value) == msg
    assert engine.summary(model, (1, 32, 32)).output_shape == (10,)


def test_shape_error_paths_in_nested_blocks():
    inner = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(5, 4, 1))
    model = nn.Sequential(nn.ReLU(), nn.Sequential(nn.Residual(inner)))
    x = np.zeros((1, 3, 4, 4), np.float32)
    for raise_it in (lambda: engine.summary(model, (3, 4, 4)), lambda: model(x)):
        with pytest.raises(nn.ShapeError) as e:
            raise_it()
        msg = str(e.value)
        assert msg.startswith("layer '1.0.body.1'") and "(4, 4, 4)" in msg and "(5, H, W)" in msg, msg

    concat = nn.Sequential(nn.Concat(nn.Conv2d(3, 1, 1), nn.Sequential(nn.ReLU(), nn.Linear(3, 2))))
    for raise_it in (lambda: engine.summary(concat, (3, 4, 4)), lambda: concat(x)):
        with pytest.raises(nn.ShapeError, match=r"layer '0\.1\.1'.*\(3, 4, 4\).*\(3,\)"):
            raise_it()


def test_shape_error_in_a_projection_shortcut():
    block = nn.Sequential(nn.Residual(nn.Conv2d(3, 4, 1), nn.Sequential(nn.Conv2d(2, 4, 1))))
    x = np.zeros((1, 3, 4, 4), np.float32)
    for raise_it in (lambda: engine.summary(block, (3, 4, 4)), lambda: block(x)):
        with pytest.raises(nn.ShapeError) as e:
            raise_it()
        assert str(e.value).startswith("layer '0.shortcut.0'"), str(e.value)


def test_residual_without_projection_is_a_clear_error():
    block = nn.Sequential(nn.ReLU(), nn.Residual(nn.Conv2d(3, 4, 1)))
    with pytest.raises(nn.ShapeError, match=r"layer '1'.*\(4, 4, 4\).*\(3, 4, 4\).*projection"):
        engine.summary(block, (3, 4, 4))
    with pytest.raises(nn.ShapeError, match=r"layer '1'.*\(4, 4, 4\).*\(3, 4, 4\).*projection"):
        block(np.zeros((1, 3, 4, 4), np.float32))


@pytest.mark.parametrize("layer, shape, needs", [
    (nn.Conv2d(3, 4, 3), (2, 5, 5), r"\(3, H, W\)"),
    (nn.Conv2d(3, 4, 7), (3, 5, 5), "does not fit"),
    (nn.MaxPool2d(3), (3, 2, 5), "does not fit"),
    (nn.BatchNorm2d(3), (4, 5, 5), r"\(3, H, W\)"),
    (nn.BatchNorm1d(3), (4,), r"\(3,\)"),
    (nn.AdaptiveAvgPool2d(4), (3, 3, 5), "at least"),
    (nn.Linear(10, 2), (2, 5), r"add a Flatten"),
])
def test_leaf_shape_errors(layer, shape, needs):
    with pytest.raises(nn.ShapeError, match=needs):
        engine.summary(nn.Sequential(layer), shape)
    with pytest.raises(nn.ShapeError, match=r"layer '0'.*" + needs):
        nn.Sequential(layer)(np.zeros((1,) + shape, np.float32))


def test_batchnorm_needs_two_values_per_channel_in_training():
    model = nn.Sequential(nn.Flatten(), nn.BatchNorm1d(3))
    with pytest.raises(nn.ShapeError, match=r"layer '1'.*more than one value per channel.*\(1, 3\)"):
        model(np.zeros((1, 3), np.float32))
    model.eval()
    assert model(np.ones((1, 3), np.float32)).shape == (1, 3)
    assert nn.BatchNorm2d(2)(np.arange(4, dtype=np.float32).reshape(1, 2, 1, 2)).shape == (1, 2, 1, 2)
