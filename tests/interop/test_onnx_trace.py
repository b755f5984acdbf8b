"""ONNX export of custom modules written PyTorch-style, traced through one forward: outputs
equal ONNX Runtime's on random inputs of another batch size, onnx.checker passes, what has
no ONNX form is refused in one sentence, and the model is left as it was."""
import threading

import numpy as np
import pytest

import engine as torch
import engine.nn as nn
import engine.nn.functional as F
from engine.autograd import function
from engine.onnx import ExportError, export, to_graph

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


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


def exported_matches(tmp_path, m, shape, batch=3, seed=1):
    """Exports ``m`` with one sample of per-sample ``shape``, runs the file on ``batch``
    random samples in ONNX Runtime and checks it against ours; returns the op types."""
    x = np.random.default_rng(seed).standard_normal((batch, *shape)).astype(np.float32)
    path = export(m, x[:1], tmp_path / "m.onnx")
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    with torch.no_grad():
        want = m.eval()(x).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(want).max())))
    return [n.op_type for n in proto.graph.node]


class TutorialNet(nn.Module):
    """PyTorch's "Training a classifier" CIFAR-10 network, as published."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class BasicBlock(nn.Module):
    """torchvision's ResNet basic block (projection shortcut where the shape changes)."""

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        out = F.relu(out)
        return out


class TinyResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer1 = BasicBlock(3, 4)
        self.layer2 = BasicBlock(4, 8, stride=2)
        self.linear = nn.Linear(8, 5)

    def forward(self, x):
        out = self.layer2(self.layer1(x))
        out = F.adaptive_avg_pool2d(out, 1)
        return self.linear(out.view(out.size(0), -1))


class TwoBranch(nn.Module):
    """view(x.size(0), -1), adaptive average pooling to 3x2, torch.cat of two branches, log_softmax."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 3, 3, padding=1)
        self.b = nn.Conv2d(2, 5, 1)
        self.fc = nn.Linear(8 * 3 * 2, 6)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        y = torch.cat([torch.tanh(self.a(x)), torch.sigmoid(self.b(x))], 1)
        y = F.adaptive_avg_pool2d(y, (3, 2))
        y = self.drop(y.view(y.size(0), -1))
        return F.log_softmax(self.fc(y), dim=1)


def test_the_tutorial_network(tmp_path):
    torch.manual_seed(0)
    ops = exported_matches(tmp_path, TutorialNet(), (3, 32, 32))
    assert ops == ["Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Reshape", "Gemm", "Relu", "Gemm", "Relu",
                   "Gemm", "Identity"]


def test_a_resnet_with_basic_blocks(tmp_path):
    torch.manual_seed(1)
    ops = exported_matches(tmp_path, randomized(TinyResNet()), (3, 8, 8))
    assert ops.count("BatchNormalization") == 6 and ops.count("Add") == 2 and "GlobalAveragePool" in ops


def test_views_adaptive_pooling_cat_and_log_softmax(tmp_path):
    torch.manual_seed(2)
    ops = exported_matches(tmp_path, TwoBranch(), (2, 7, 5))
    assert "Concat" in ops and "LogSoftmax" in ops and ops.count("MatMul") == 2 and "Dropout" not in ops


class Functional(nn.Module):
    """Everything in one forward: the engine's fused functional forms (conv -> relu ->
    2x2 max pool, conv -> tanh -> 2x2 average pool, a sum -> relu), tensor arithmetic with
    numbers on either side, reductions, indexing, permute, pad, expand, stack, matmul."""

    def __init__(self):
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(4, 2, 3, 3) * 0.3)
        self.b1 = nn.Parameter(torch.randn(4) * 0.1)
        self.w2 = nn.Parameter(torch.randn(4, 2, 3, 3) * 0.3)
        self.bn = nn.BatchNorm2d(4)
        self.proj = nn.Parameter(torch.randn(4, 3) * 0.5)

    def forward(self, x):
        x += 0.5                                                               # in place on the input
        a = F.max_pool2d(F.relu(F.conv2d(x, self.w1, self.b1, padding=1)), 2)   # (N, 4, 4, 4)
        b = F.avg_pool2d(torch.tanh(F.conv2d(x, self.w2, None, padding=1)), 2)
        b = F.batch_norm(b, self.bn.running_mean, self.bn.running_var, self.bn.weight, self.bn.bias,
                         training=self.training)
        s = F.relu(a + b)                                                      # the residual join's fusion
        s = (2 - s) * 0.5 + s ** 2 / 4 - (-s).abs().sqrt() + (s + 1).clamp(min=0.2).log()
        s = F.pad(s, (1, 0, 0, 1), value=0.25)[:, 1:, ::2, 1:]                  # (N, 3, 3, 4)
        t = s.permute(0, 2, 3, 1) @ self.proj.T[None]                          # (N, 3, 4, 4)
        m = t.mean(dim=(1, 2), keepdim=True) + t.sum(-1, keepdim=True).exp() * 1e-3
        u = torch.stack([m[..., 0, :], m[:, :, -1]], dim=1)                    # (N, 2, 3, 4)
        v = u.unsqueeze(2).expand(-1, 2, 2, 3, 4).clone().flatten(1)           # (N, 48)
        return F.softmax(v, dim=-1)


def test_functional_forms_and_tensor_arithmetic(tmp_path):
    torch.manual_seed(3)
    ops = " ".join(exported_matches(tmp_path, randomized(Functional()), (2, 8, 8)))
    assert "Conv Relu MaxPool" in ops and "Conv Tanh AveragePool BatchNormalization" in ops and "Add Relu" in ops
    for op in ("Pad", "Slice", "Squeeze", "Unsqueeze", "Transpose", "MatMul", "ReduceSum", "Expand", "Clip",
               "Softmax"):
        assert op in ops, op


class Forward(nn.Module):
    """A Linear(6, 4) and the forward given."""

    def __init__(self, forward):
        super().__init__()
        self.fc = nn.Linear(6, 4)
        self.body = forward

    def forward(self, x):
        return self.body(self, x)


class Cube(torch.autograd.Function):
    """A user's operation written with tensor operations: its nodes are theirs."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return 3 * g * x * x


class NumpyCube(Cube):
    """The same computed in numpy: nothing the tracer can follow."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.from_numpy(x.numpy() ** 3)


@pytest.mark.parametrize("body,needle", [
    (lambda m, x: NumpyCube.apply(m.fc(x)), r"operation NumpyCube in the model's forward \(Forward\) has no ONNX form: "
                                            "its forward computes its result outside the engine's tensor operations"),
    (lambda m, x: m.fc(x).max(1)[0], r"operation MaxMin in the model's forward \(Forward\) has no ONNX form \(the "
                                     "exporter maps"),
    (lambda m, x: m.fc(x).argmax(1, keepdim=True) * m.fc(x),
     r"node Mul differs between the example batch and a random batch of 1: it depends on the batch size or on the "
     r"input's values"),
    (lambda m, x: m.fc(x) + torch.zeros(x.size(0), 1), "node Add differs between"),
    (lambda m, x: m.fc(x) * (x[:, :4] > 0), "node Mul differs between"),
    (lambda m, x: F.batch_norm(m.fc(x), torch.zeros(4), torch.ones(4), training=True),
     r"operation BatchNorm in the model's forward \(Forward\) normalises with the batch's statistics"),
    (lambda m, x: (m.fc(x), x), "forward returns a tuple; the exporter takes a model that returns one tensor"),
    (lambda m, x: m.fc(x).view(1, -1), r"output \(float32, shape \(1, 8\)\) for a batch of 2 must be float32 with "
                                       "the batch on its first axis"),
    (lambda m, x: m.fc(x).long(), "operation Cast in the model's forward .* has no ONNX form"),
    (lambda m, x: m.fc(x)[:, [0, 2]], "operation Index in the model's forward .* indexes with arrays"),
])
def test_what_has_no_onnx_form_is_refused_in_one_sentence(tmp_path, body, needle):
    with pytest.raises(ExportError, match=needle) as e:
        export(Forward(body), np.ones((2, 6), np.float32), tmp_path / "m.onnx")
    assert "\n" not in str(e.value)
    assert not any(tmp_path.iterdir())


def test_a_module_is_named_in_the_refusal(tmp_path):
    m = nn.Sequential(nn.Linear(6, 6), nn.Sequential(nn.ReLU(), Forward(lambda m, x: NumpyCube.apply(m.fc(x)))))
    with pytest.raises(ExportError, match=r"operation NumpyCube in module '1\.1' \(Forward\) has no ONNX form"):
        to_graph(m, np.ones((1, 6), np.float32))


def test_float64_models_are_refused(tmp_path):
    with pytest.raises(ExportError, match=r"writes float32 models; fc\.weight is float64 \(call model\.float\(\)"):
        to_graph(Forward(lambda m, x: m.fc(x)).double(), np.ones((1, 6), np.float32))


def test_a_function_made_of_tensor_operations_exports(tmp_path):
    m = Forward(lambda m, x: Cube.apply(m.fc(x)) - 1)
    x = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    path = export(m, x[:1], tmp_path / "c.onnx")
    assert [n.op_type for n in onnx.load(path).graph.node] == ["Gemm", "Mul", "Mul", "Sub", "Identity"]
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, m(x).numpy(), rtol=1e-5, atol=1e-6)


def test_functional_dropout_is_left_out(tmp_path):
    m = Forward(lambda m, x: F.dropout(m.fc(x), 0.5))
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    path = export(m, x[:1], tmp_path / "d.onnx")
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, m.fc(x).numpy(), rtol=1e-5, atol=1e-6)


def test_the_model_is_left_as_it_was(tmp_path):
    torch.manual_seed(4)
    m = randomized(TinyResNet())
    m.train()
    m.layer2.eval()
    modes = {name: mod.training for name, mod in m.named_modules()}
    state = {k: v.copy() for k, v in m.state_dict().items()}
    seen = []
    m.register_forward_hook(lambda mod, args, out: seen.append(out.shape))
    to_graph(m, np.ones((1, 3, 8, 8), np.float32))
    assert {name: mod.training for name, mod in m.named_modules()} == modes
    assert all(np.array_equal(v, state[k]) for k, v in m.state_dict().items())     # eval: no running statistics
    assert all(p.grad is None for p in m.parameters())
    assert all(not mod._forward_pre_hooks and not mod._forward_hooks for mod in m.modules() if mod is not m)
    assert len(m._forward_hooks) == 1 and seen == [(1, 5), (2, 5)]               # the user's hook: both traces
    assert function._tracing == 0 and function._trace.hook is None


def test_the_hook_sees_only_its_own_thread():
    calls, other = [], []
    x = torch.ones(3)

    def elsewhere():
        other.append((x * 2).sum().item())
    with function.trace_calls(lambda fn, args, kwargs, outs: calls.append(fn.__name__)):
        y = x + 1
        t = threading.Thread(target=elsewhere)
        t.start()
        t.join()
        with pytest.raises(RuntimeError, match="already running"):
            with function.trace_calls(print):
                pass
    z = y * 3
    assert calls == ["Add"] and other == [6.0] and z.shape == (3,)


def test_a_model_on_cuda_exports_from_host_copies(tmp_path):
    torch.manual_seed(5)
    m = randomized(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(32, 3)))
    x = np.random.default_rng(0).standard_normal((2, 1, 6, 6)).astype(np.float32)
    with torch.no_grad():
        want = m.eval()(x).numpy()
    m.to("cuda")
    path = export(m, x[:1], tmp_path / "c.onnx")
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert m.device == "cuda"
