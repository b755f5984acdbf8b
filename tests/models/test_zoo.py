"""Every zoo model builds, trains one SGD step on random data, and the course's training
loop learns a fixed small batch."""
import numpy as np
import pytest

import engine
from engine import nn
from engine.autograd import Tensor
from engine.optim import SGD

# The heavy models run on smaller images where their architecture allows it (global
# average pooling, or a head sized from input_size), to keep this file fast.
SMALL_INPUT = {"alexnet": 16, "zfnet": 16, "googlenet": 16, "resnet18": 16}


def test_names():
    assert engine.models.names() == ["mnist_cnn", "cifar_cnn", "lenet5", "alexnet", "zfnet", "vgg11", "vgg16",
                                     "googlenet", "resnet20", "resnet18"]
    with pytest.raises(ValueError, match="unknown model 'vgg19'.*resnet18"):
        engine.models.get("vgg19")


def bias_before_batchnorm(model):
    """Names of conv biases a training-mode BatchNorm follows: BatchNorm subtracts the
    batch mean, so their gradient is zero (up to rounding) and SGD leaves them be."""
    out = set()
    for prefix, m in model.named_modules():
        if isinstance(m, nn.Sequential):
            for (i, a), b in zip(m.named_children(), list(m)[1:]):
                if isinstance(a, nn.Conv2d) and a.bias is not None and isinstance(b, nn.BatchNorm2d):
                    out.add(f"{prefix}.{i}.bias" if prefix else f"{i}.bias")
    return out


@pytest.mark.parametrize("name", engine.models.names())
def test_one_sgd_step(name, rng):
    engine.manual_seed(0)
    c, h, w = engine.models.DEFAULT_INPUT[name]
    size = SMALL_INPUT.get(name, (h, w))
    model = engine.models.get(name, in_channels=c, num_classes=5, input_size=size)
    hw = (size, size) if isinstance(size, int) else size
    x = rng.standard_normal((2, c) + tuple(hw)).astype(np.float32)
    y = np.array([1, 4])
    crit = nn.CrossEntropyLoss()
    opt = SGD(model.parameters(), lr=0.01, momentum=0.9)
    before = {k: v.copy() for k, v in model.state_dict().items()}

    xt = Tensor(x, requires_grad=True)
    logits = model(xt)
    assert logits.shape == (2, 5) and logits.dtype == np.float32
    loss = crit(logits, y)
    assert np.isfinite(loss.item()) and loss.item() > 0
    opt.zero_grad()
    loss.backward()
    gx = xt.grad.numpy()
    assert gx.shape == x.shape and np.all(np.isfinite(gx))
    assert all(p.grad is not None for p in model.parameters())
    opt.step()

    after = model.state_dict()
    still = bias_before_batchnorm(model)
    for pname, p in model.named_parameters():
        assert np.all(np.isfinite(p.numpy())), pname
        if pname not in still:
            assert not np.array_equal(after[pname], before[pname]), f"{name}: parameter {pname} did not change"
    for k, v in after.items():
        if k.endswith("num_batches_tracked"):
            assert int(v) == int(before[k]) + 1, k


def test_course_code_flow():
    """The course's loop, verbatim in our names: loss falls on a fixed batch."""
    engine.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 16)

    model = engine.models.get("mnist_cnn", in_channels=1, num_classes=10)
    crit = nn.CrossEntropyLoss()
    opt = SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(20):
        logits = model(x)
        loss = crit(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.8 * losses[0], losses
    assert np.mean(losses[-5:]) < np.mean(losses[5:10]) < np.mean(losses[:5]), losses
