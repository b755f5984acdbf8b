"""Parity of every layer, block and loss with torch.nn (float32): same weights (copied by
state_dict name), same input; forward, input gradient, every parameter gradient, and the
buffers after the run (BatchNorm running statistics). Tolerances: see helpers/torch_ref.py."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import engine  # noqa: E402
from engine import nn  # noqa: E402
from engine.autograd import Tensor  # noqa: E402
from engine.nn import functional as F  # noqa: E402
from helpers.torch_ref import assert_close, compare_with_torch, to_torch  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    engine.manual_seed(0)
    torch.manual_seed(0)


def randomize_bn(bn, rng):
    bn.weight.data[...] = rng.uniform(0.5, 1.5, bn.num_features)
    bn.bias.data[...] = rng.standard_normal(bn.num_features)
    bn.running_mean[...] = rng.standard_normal(bn.num_features)
    bn.running_var[...] = rng.uniform(0.5, 2.0, bn.num_features)
    return bn


LAYERS = [
    (lambda: nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(1, 0)), (2, 3, 9, 6)),
    (lambda: nn.Conv2d(2, 5, 5, stride=3, padding=2, bias=False), (1, 2, 11, 8)),
    (lambda: nn.Conv2d(4, 3, 1), (2, 4, 3, 5)),
    (lambda: nn.MaxPool2d(3, 2, padding=1), (2, 3, 9, 7)),
    (lambda: nn.MaxPool2d(2), (1, 2, 7, 5)),
    (lambda: nn.MaxPool2d((2, 3), stride=(1, 2)), (2, 2, 5, 8)),
    (lambda: nn.AvgPool2d(3, 2, padding=1, count_include_pad=True), (2, 3, 9, 7)),
    (lambda: nn.AvgPool2d(3, 2, padding=1, count_include_pad=False), (2, 3, 9, 7)),
    (lambda: nn.AvgPool2d((2, 3), stride=(2, 1), padding=(1, 1), count_include_pad=False), (1, 2, 5, 4)),
    (lambda: nn.AdaptiveAvgPool2d(1), (2, 3, 5, 7)),
    (lambda: nn.AdaptiveAvgPool2d((2, 3)), (2, 3, 5, 7)),
    (lambda: nn.AdaptiveAvgPool2d((4, 3)), (1, 2, 9, 5)),
    (lambda: nn.Linear(12, 5), (3, 12)),
    (lambda: nn.Linear(7, 2, bias=False), (1, 7)),
    (lambda: nn.Flatten(), (2, 3, 4, 5)),
    (lambda: nn.ReLU(), (2, 3, 4, 5)),
    (lambda: nn.LeakyReLU(0.2), (2, 3, 4, 5)),
    (lambda: nn.Sigmoid(), (2, 3, 4, 5)),
    (lambda: nn.Tanh(), (2, 3, 4, 5)),
    (lambda: nn.Dropout(0.3).eval(), (2, 3, 4, 5)),
    (lambda: nn.LocalResponseNorm(5), (2, 7, 3, 4)),
    (lambda: nn.LocalResponseNorm(4, alpha=0.5, beta=0.6, k=1.5), (2, 6, 3, 2)),
    (lambda: nn.LocalResponseNorm(3, alpha=1.0, beta=0.75, k=2.0), (2, 5, 4)),
]


@pytest.mark.parametrize("make, shape", LAYERS, ids=lambda v: repr(v()) if callable(v) else str(v))
def test_layer(make, shape, rng):
    layer = make()
    x = rng.standard_normal(shape).astype(np.float32)
    compare_with_torch(layer, x, rng)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("make, shape", [
    (lambda: nn.BatchNorm2d(3), (2, 3, 5, 4)),
    (lambda: nn.BatchNorm2d(2, eps=1e-3, momentum=0.3), (1, 2, 3, 7)),
    (lambda: nn.BatchNorm1d(4), (6, 4)),
    (lambda: nn.BatchNorm1d(3), (2, 3, 5)),
], ids=["2d", "2d-eps-momentum-batch1", "1d-NC", "1d-NCL"])
def test_batchnorm(make, shape, training, rng):
    bn = randomize_bn(make(), rng).train(training)
    x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
    compare_with_torch(bn, x, rng)
    if training:  # a second step, from the updated running statistics
        compare_with_torch(bn, x * 0.5, rng)
        assert int(bn.num_batches_tracked) == 2


def test_dropout_training_uses_its_mask(rng):
    """Torch's dropout draws other random numbers, so we check the layer's own contract:
    kept elements scaled by 1/(1-p), about p of them dropped, backward through the mask."""
    drop = nn.Dropout(0.3)
    x = rng.standard_normal((4, 50, 10)).astype(np.float32) + 5
    xt = Tensor(x, requires_grad=True)
    y = drop(xt)
    kept = y.numpy() != 0
    assert abs(1 - kept.mean() - 0.3) < 0.05
    np.testing.assert_allclose(y.numpy()[kept], x[kept] / 0.7, rtol=1e-6)
    g = rng.standard_normal(x.shape).astype(np.float32)
    y.backward(g)
    np.testing.assert_allclose(xt.grad.numpy(), np.where(kept, g / 0.7, 0), rtol=1e-6)
    assert not np.array_equal(drop(x).numpy() != 0, kept), "each call draws a new mask"


def test_blocks(rng):
    body = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4))
    short = nn.Sequential(nn.Conv2d(3, 4, 1, stride=2, bias=False), nn.BatchNorm2d(4))
    model = nn.Sequential(
        nn.Residual(nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.ReLU())),
        nn.Residual(body, short), nn.ReLU(),
        nn.Concat(nn.Conv2d(4, 2, 1),
                  nn.Sequential(nn.Conv2d(4, 2, 1), nn.ReLU(), nn.Conv2d(2, 3, 3, padding=1)),
                  nn.Sequential(nn.MaxPool2d(3, 1, padding=1), nn.Conv2d(4, 1, 1))),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3))
    twin = to_torch(model)
    assert list(twin.state_dict()) == list(model.state_dict())
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    compare_with_torch(model, x, rng)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy(smoothing, rng):
    z = (rng.standard_normal((5, 7)) * 3).astype(np.float32)
    t = rng.integers(0, 7, 5)
    crit = nn.CrossEntropyLoss(label_smoothing=smoothing)
    ours = Tensor(z, requires_grad=True)
    loss = crit(ours, t)
    loss.backward()
    zt = torch.from_numpy(z).requires_grad_()
    ref = torch.nn.CrossEntropyLoss(label_smoothing=smoothing)(zt, torch.from_numpy(t))
    ref.backward()
    assert loss.shape == () and loss.dtype == np.float32
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
    assert_close(ours.grad.numpy(), zt.grad.numpy(), what="d loss / d logits")


@pytest.mark.parametrize("dim", [1, 0])
def test_softmax_log_softmax_nll(dim, rng):
    """Probabilities, log-probabilities and NLLLoss of them, forward and gradient."""
    z = (rng.standard_normal((5, 7)) * 3).astype(np.float32)
    t = rng.integers(0, 7, 5)
    w = rng.standard_normal((5, 7)).astype(np.float32)
    ours = Tensor(z, requires_grad=True)
    probs, logp = F.softmax(ours, dim), F.log_softmax(ours, dim)
    loss = nn.NLLLoss()(logp, t) + (probs * w).sum()
    loss.backward()
    zt = torch.from_numpy(z).requires_grad_()
    tprobs, tlogp = torch.softmax(zt, dim), torch.log_softmax(zt, dim)
    ref = torch.nn.NLLLoss()(tlogp, torch.from_numpy(t)) + (tprobs * torch.from_numpy(w)).sum()
    ref.backward()
    assert_close(probs.numpy(), tprobs.detach().numpy(), what="probs")
    assert_close(logp.numpy(), tlogp.detach().numpy(), what="log-probs")
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
    assert_close(ours.grad.numpy(), zt.grad.numpy(), what="d loss / d logits")


def test_cross_entropy_large_logits_stable():
    z = np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]], np.float32)
    ours = Tensor(z, requires_grad=True)
    loss = nn.CrossEntropyLoss()(ours, np.array([2, 1]))
    ref = torch.nn.functional.cross_entropy(torch.from_numpy(z), torch.tensor([2, 1]))
    assert np.isfinite(loss.item()) and loss.item() == pytest.approx(ref.item(), rel=1e-5)
    loss.backward()
    assert np.all(np.isfinite(ours.grad.numpy()))


def test_mse(rng):
    y = rng.standard_normal((3, 4, 2)).astype(np.float32)
    t = rng.standard_normal((3, 4, 2)).astype(np.float32)
    ours = Tensor(y, requires_grad=True)
    loss = nn.MSELoss()(ours, t)
    loss.backward()
    yt = torch.from_numpy(y).requires_grad_()
    ref = torch.nn.MSELoss()(yt, torch.from_numpy(t))
    ref.backward()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
    assert_close(ours.grad.numpy(), yt.grad.numpy(), what="d loss / d y")


def test_loss_errors():
    crit = nn.CrossEntropyLoss()
    with pytest.raises(engine.nn.ShapeError, match=r"\(N, classes\)"):
        crit(np.zeros((2, 3, 4), np.float32), np.array([0, 1]))
    with pytest.raises(engine.nn.ShapeError, match="integer class indices"):
        crit(np.zeros((2, 3), np.float32), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        crit(np.zeros((2, 3), np.float32), np.array([0, 3]))
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=1.0)
    with pytest.raises(engine.nn.ShapeError, match="one shape"):
        nn.MSELoss()(np.zeros((2, 3), np.float32), np.zeros((3, 2), np.float32))
