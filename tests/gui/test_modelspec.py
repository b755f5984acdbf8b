"""The model editor's logic: per-row shapes, parameters, MACs and the reason a row fails."""
import pytest

from gui import modelspec as M


def mnist_layers():
    return M.as_sequential(M.zoo_spec("mnist_cnn", 1, 10, (28, 28)))


def test_zoo_model_fits_with_rows_matching_summary():
    from engine import models, summary
    check = M.analyse(mnist_layers(), (1, 28, 28), 10)
    assert check["ok"], check["message"]
    s = summary(models.get("mnist_cnn"), (1, 28, 28))
    assert [r["out"] for r in check["rows"]] == [tuple(r[2]) for r in s.rows]
    assert check["total_params"] == s.total_params and check["total_macs"] == s.total_macs


def test_a_layer_that_does_not_fit_names_row_and_reason():
    layers = mnist_layers()
    layers[3]["in_channels"] = 7
    check = M.analyse(layers, (1, 28, 28), 10)
    assert not check["ok"] and check["bad_row"] == 3
    assert "(6, 12, 12)" in check["rows"][3]["error"] and "7" in check["rows"][3]["error"]
    assert check["rows"][4]["out"] is None              # nothing after the failing row has a shape
    assert check["message"].startswith("row 4 (Conv2d)")


def test_bad_argument_and_wrong_output_are_reported():
    layers = mnist_layers()
    layers[0]["kernel_size"] = 0
    check = M.analyse(layers, (1, 28, 28), 10)
    assert not check["ok"] and "kernel_size" in check["rows"][0]["error"]
    check = M.analyse(mnist_layers()[:-1], (1, 28, 28), 10)
    assert not check["ok"] and "needs (10,)" in check["rows"][-1]["error"]


def test_containers_are_rows():
    check = M.analyse(M.as_sequential(M.zoo_spec("resnet20", 3, 10, (32, 32))), (3, 32, 32), 10)
    assert check["ok"] and any(r["container"] for r in check["rows"])


def test_parse_format_and_new_layers():
    assert M.parse_args("in_channels=1, kernel_size=(3, 5), bias=False") == {
        "in_channels": 1, "kernel_size": [3, 5], "bias": False}
    with pytest.raises(ValueError):
        M.parse_args("3, 4")
    with pytest.raises(ValueError):
        M.parse_args("a=")
    layer = M.new_layer("Conv2d", (6, 12, 12))
    assert layer["in_channels"] == 6
    assert M.parse_args(M.format_args(layer)) == {k: v for k, v in layer.items() if k != "type"}
    assert M.new_layer("Linear", (16, 4, 4), 10)["in_features"] == 256
    for kind in M.layer_types():
        M.new_layer(kind, (3, 8, 8))


def test_fix_inputs_repairs_widths():
    layers = mnist_layers()
    layers[0]["out_channels"] = 8                       # the next conv and the first linear no longer fit
    assert not M.analyse(layers, (1, 28, 28), 10)["ok"]
    layers[7]["in_features"] = 128
    fixed = M.fix_inputs(layers, (1, 28, 28))
    assert M.analyse(fixed, (1, 28, 28), 10)["ok"]


def test_an_unknown_layer_type_is_a_sentence():
    assert M.is_layer_type("Conv2d") and not M.is_layer_type("Frobnicate") and not M.is_layer_type(None)
    with pytest.raises(ValueError, match=r"^unknown layer type 'Frobnicate'; known types: .*Conv2d"):
        M.signature("Frobnicate")
    check = M.analyse([{"type": "Frobnicate"}, {"type": "Flatten"}], (1, 28, 28), 10)
    assert not check["ok"] and check["bad_row"] == 0
    assert check["rows"][0]["error"].startswith("unknown layer type 'Frobnicate'")
