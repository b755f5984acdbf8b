"""Zoo models against their torch twins (weights copied by state_dict name).

float32, end to end: the logits, BatchNorm running statistics and num_batches_tracked
after a training forward, then an eval forward with those statistics.
float32, layer by layer (helpers.torch_ref.compare_layerwise): each top-level layer's forward,
input gradient and parameter gradients from the same input and output gradient.
float64, end to end: the input gradient and every parameter gradient through the whole
net. (An end-to-end float32 gradient comparison would be at the mercy of max-pooling
windows whose two largest values differ by less than float32 rounding: vgg11 has such
windows for some inputs, and routing the gradient to the other value changes every
gradient below. In float64 rounding is 1e-16 and such windows do not occur.)
End-to-end tolerances are looser than a single layer's: rounding compounds through the
depth, and training-mode BatchNorm on a batch of 2 divides by small deviations."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import engine  # noqa: E402
from helpers.torch_ref import assert_close, compare_layerwise, compare_with_torch, run_torch, to_torch  # noqa: E402

CASES = [("mnist_cnn", (1, 28, 28)), ("vgg11", (3, 32, 32)), ("resnet20", (3, 32, 32))]
IDS = [c[0] for c in CASES]


def build(name, shape):
    engine.manual_seed(0)
    torch.manual_seed(0)
    return engine.models.get(name, in_channels=shape[0], num_classes=10)


@pytest.mark.parametrize("name, shape", CASES, ids=IDS)
def test_forward_and_running_stats_float32(name, shape, rng):
    model = build(name, shape)
    twin = to_torch(model)
    x = rng.standard_normal((2,) + shape).astype(np.float32)
    ty, _, _ = run_torch(twin, x)
    assert_close(model(x), ty, 1e-4, 1e-4, "training forward")
    tstate = twin.state_dict()
    for k, v in model.state_dict().items():
        assert_close(v, tstate[k].numpy(), 1e-4, 1e-5, f"state_dict['{k}'] after a training forward")
    if name != "mnist_cnn":
        assert int(model.state_dict()["1.num_batches_tracked"]) == 1
    model.eval(), twin.eval()
    x2 = rng.standard_normal((3,) + shape).astype(np.float32)
    ty, _, _ = run_torch(twin, x2)
    assert_close(model(x2), ty, 1e-4, 1e-4, "eval forward")


@pytest.mark.parametrize("name, shape", CASES, ids=IDS)
def test_layerwise_float32(name, shape, rng):
    model = build(name, shape)
    compare_layerwise(model, rng.standard_normal((2,) + shape).astype(np.float32), rng, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name, shape", CASES, ids=IDS)
def test_gradients_float64(name, shape, rng):
    model = build(name, shape).double()
    compare_with_torch(model, rng.standard_normal((2,) + shape), rng, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name, shape", [CASES[0], CASES[2]], ids=[IDS[0], IDS[2]])
def test_gradients_float32_end_to_end(name, shape, rng):
    """Without max pooling (resnet20) or this shallow (mnist_cnn) a float32 run is stable."""
    model = build(name, shape)
    compare_with_torch(model, rng.standard_normal((2,) + shape).astype(np.float32), rng, rtol=1e-3, atol=1e-4)
