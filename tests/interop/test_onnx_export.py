"""ONNX export: every zoo model and every leaf layer against ONNX Runtime, the records
interface between the two steps, and the errors."""
import sys

import numpy as np
import pytest

import engine
from engine import nn
from engine.onnx import ExportError, Graph, OpRecord, export, to_graph, to_onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

# the smallest input each model takes (alexnet: three 3x3/2 pools; vgg: five 2x2 pools); small
# ones for the rest, to keep the test fast
SIZES = {"alexnet": 15, "zfnet": 8, "vgg11": 32, "vgg16": 32, "googlenet": 8, "resnet20": 8, "resnet18": 8}


def randomized(m, seed=0):
    """``m`` with batch-norm statistics and affine parameters away from their defaults."""
    rng = np.random.default_rng(seed)
    for mod in m.modules():
        if isinstance(mod, (nn.BatchNorm2d, nn.BatchNorm1d)):
            c = mod.num_features
            mod.running_mean[:] = rng.normal(0, 0.2, c)
            mod.running_var[:] = rng.uniform(0.5, 2.0, c)
            mod.weight.data[:] = rng.uniform(0.5, 1.5, c)
            mod.bias.data[:] = rng.normal(0, 0.2, c)
    return m


def ours(m, x):
    with nn.inference_mode():
        m.eval()
        return m(x)


def run_onnx(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def assert_matches(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(want).max())))


@pytest.mark.parametrize("name", engine.models.names())
def test_zoo_model_matches_onnxruntime(tmp_path, name):
    engine.manual_seed(0)
    c = engine.models.DEFAULT_INPUT[name][0]
    hw = SIZES.get(name, engine.models.DEFAULT_INPUT[name][1])
    m = randomized(engine.models.get(name, input_size=hw))
    x = np.random.default_rng(1).standard_normal((3, c, hw, hw)).astype(np.float32)
    path = export(m, x[:1], tmp_path / f"{name}.onnx")          # exported with one sample, run with three
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    ops = [n.op_type for n in proto.graph.node]
    assert "Dropout" not in ops
    assert ops.count("BatchNormalization") == sum(isinstance(k, nn.BatchNorm2d) for k in m.modules())
    weights = {i.name for i in proto.graph.initializer if "/" not in i.name}    # the rest: "3/Reshape.shape", ...
    assert weights == {k for k in m.state_dict() if not k.endswith("num_batches_tracked")}
    assert_matches(run_onnx(path, x), ours(m, x))


def test_smallest_sizes_are_the_smallest():
    with pytest.raises(ValueError):
        engine.models.get("alexnet", input_size=SIZES["alexnet"] - 1)


class Custom(nn.Module):
    def forward(self, x):
        return x * 2 + x.var(dim=1, keepdim=True)


def test_every_leaf_layer_matches_onnxruntime(tmp_path):
    engine.manual_seed(3)
    m = randomized(nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.LeakyReLU(0.2),
        nn.Residual(nn.Sequential(nn.Conv2d(6, 6, (3, 1), padding=(1, 0)), nn.Tanh())),        # identity shortcut
        nn.Concat(nn.Sequential(nn.MaxPool2d(3, 2, padding=1), nn.Sigmoid()),
                  nn.AvgPool2d(3, 2, padding=1, count_include_pad=False),
                  nn.Sequential(nn.AvgPool2d(3, 2, padding=1), nn.LocalResponseNorm(3, alpha=0.01, beta=0.6, k=1.5))),
        nn.AdaptiveAvgPool2d((3, 2)),           # 7x7 -> 3x2: overlapping, unequal windows
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(108, 20, bias=False), nn.BatchNorm1d(20), nn.ReLU(),
        nn.Linear(20, 4)), seed=3)
    x = np.random.default_rng(2).standard_normal((2, 3, 13, 13)).astype(np.float32)
    path = export(m, x, tmp_path / "all.onnx", opset=18)
    assert onnx.load(path).opset_import[0].version == 18
    assert_matches(run_onnx(path, x), ours(m, x))


@pytest.mark.parametrize("shape,out", [((8, 8), (1, 1)), ((8, 6), (4, 3)), ((7, 5), (3, 2)), ((5, 5), (5, 5))])
def test_adaptive_average_pooling_forms(tmp_path, shape, out):
    m = nn.Sequential(nn.AdaptiveAvgPool2d(out))
    x = np.random.default_rng(0).standard_normal((2, 3, *shape)).astype(np.float32)
    assert_matches(run_onnx(export(m, x, tmp_path / "p.onnx"), x), ours(m, x))


# -- the records interface ----------------------------------------------------------------------
def test_records_of_a_model():
    m = engine.models.get("mnist_cnn")
    g = to_graph(m, np.zeros((1, 1, 28, 28), np.float32))
    assert [r.op_type for r in g.records] == ["Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Reshape", "Gemm",
                                              "Relu", "Gemm", "Identity"]
    assert list(g.initializers()) == ["0.weight", "0.bias", "3.weight", "3.bias", "6/Reshape.shape", "7.weight",
                                      "7.bias", "9.weight", "9.bias"]
    assert g.records[0].inputs == ("input", "0.weight", "0.bias") and g.records[0].name == "0/Conv"
    assert g.records[0].attributes == {"kernel_shape": [5, 5], "strides": [1, 1], "pads": [0, 0, 0, 0]}
    assert (g.input_shape, g.output_shape, g.records[-1].outputs) == ((1, 28, 28), (10,), ("output",))
    np.testing.assert_array_equal(g.initializers()["0.weight"], m.state_dict()["0.weight"])
    np.testing.assert_array_equal(g.initializers()["6/Reshape.shape"], [-1, 96])    # the batch axis left open


def test_hand_written_records_build_a_model(tmp_path):
    """Step (b) takes records from anywhere (a tracer of forward code, say)."""
    w = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
    g = Graph("x", (4,), "y", (3,), [
        OpRecord("MatMul", ("x", "w"), ("t",), initializers={"w": w.T.copy()}, name="mm"),
        OpRecord("Relu", ("t",), ("y",), name="relu")])
    proto = to_onnx(g)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    (tmp_path / "g.onnx").write_bytes(proto.SerializeToString())
    y = ort.InferenceSession(str(tmp_path / "g.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(y, np.maximum(x @ w.T, 0), rtol=1e-6)


@pytest.mark.parametrize("records,needle", [
    ([OpRecord("Relu", ("nope",), ("y",))], "reads 'nope' before"),
    ([OpRecord("Relu", ("x",), ("x",))], "writes 'x', which is already defined"),
    ([OpRecord("Relu", ("x",), ("z",))], "nothing writes the output 'y'"),
    ([OpRecord("Add", ("x", "c"), ("y",), initializers={"c": np.ones(3)})], "not a float32 or int64"),
    ([OpRecord("Relu", ("x",), ("y",), initializers={"x": np.ones(3, np.float32)})], "already defined"),
])
def test_graph_validation(records, needle):
    with pytest.raises(ExportError, match=needle):
        to_onnx(Graph("x", (3,), "y", (3,), records))


# -- errors -----------------------------------------------------------------------------------
def test_operations_without_an_onnx_form_are_named(tmp_path):
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Sequential(nn.ReLU(), Custom()))
    with pytest.raises(ExportError, match=r"operation Var in module '1\.1' \(Custom\) has no ONNX form"):
        export(m, np.zeros((1, 1, 8, 8), np.float32), tmp_path / "c.onnx")
    with pytest.raises(ExportError, match=r"operation LocalResponseNorm in module '0' \(LocalResponseNorm\) has an "
                                          "even size"):
        export(nn.Sequential(nn.LocalResponseNorm(4)), np.zeros((1, 8, 4, 4), np.float32), tmp_path / "l.onnx")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("x,needle", [
    (np.zeros((1, 28, 28), np.float32), "does not take inputs of shape \\(28, 28\\)"),
    (np.zeros((1, 3, 28, 28), np.float32), "does not take inputs of shape \\(3, 28, 28\\)"),
    (np.zeros((0, 1, 28, 28), np.float32), "at least one sample"),
    ([1, 2, 3], "got list"),
    (np.array([["a", "b"]]), "example_input must hold numbers, got a ndarray of <U1"),
])
def test_bad_example_input(tmp_path, x, needle):
    with pytest.raises(ExportError, match=needle):
        export(engine.models.get("mnist_cnn"), x, tmp_path / "m.onnx")


def test_only_modules_export(tmp_path):
    with pytest.raises(ExportError, match="model must be an engine.nn.Module, got function"):
        export(lambda x: x, np.zeros((1, 3), np.float32), tmp_path / "f.onnx")


@pytest.mark.parametrize("opset", [16, 10**6, "17", True])
def test_bad_opset(tmp_path, opset):
    with pytest.raises(ExportError, match="opset must be an integer from 17"):
        export(engine.models.get("mnist_cnn"), np.zeros((1, 1, 28, 28), np.float32), tmp_path / "m.onnx", opset=opset)


def test_missing_onnx_package_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ExportError, match=r"ONNX export needs the onnx package: pip install 'numbacnn\[onnx\]'"):
        export(engine.models.get("mnist_cnn"), np.zeros((1, 1, 28, 28), np.float32), tmp_path / "m.onnx")
