"""The autograd engine's acceptance cases against torch, each model written once (``ns.nn``, ``ns.F``)
and built by both libraries from the same initial weights (copied by state_dict name):

- a ResNet basic block with ``out += self.shortcut(x)`` (conv-bn-relu-conv-bn, projection
  and identity shortcuts);
- a weight-shared layer (one module called several times in a forward);
- a branching forward (Inception-style branches joined by ``cat``, a tensor feeding two heads);
- 20 SGD-with-momentum steps of a custom CNN on the same batches give torch's losses, and
  the evaluation loop after them (no_grad and inference_mode) torch's predictions.
"""
import numpy as np
import pytest
from helpers.autograd_parity import OURS, assert_close, copy_weights, distinct, module_parity, torch_ns

import engine


def make_basic_block(ns, in_planes=4, planes=6, stride=2):
    """torchvision/kuangliu-style BasicBlock, verbatim but for the namespace."""

    class BasicBlock(ns.nn.Module):
        expansion = 1

        def __init__(self, in_planes, planes, stride=1):
            super().__init__()
            self.conv1 = ns.nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
            self.bn1 = ns.nn.BatchNorm2d(planes)
            self.conv2 = ns.nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
            self.bn2 = ns.nn.BatchNorm2d(planes)
            self.shortcut = ns.nn.Sequential()
            if stride != 1 or in_planes != self.expansion * planes:
                self.shortcut = ns.nn.Sequential(
                    ns.nn.Conv2d(in_planes, self.expansion * planes, kernel_size=1, stride=stride, bias=False),
                    ns.nn.BatchNorm2d(self.expansion * planes))

        def forward(self, x):
            out = ns.F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out += self.shortcut(x)
            out = ns.F.relu(out)
            return out

    return BasicBlock(in_planes, planes, stride)


def make_shared(ns):
    """One Conv2d applied three times and one Linear twice (an unrolled recurrence),
    plus a Siamese use of the whole encoder on two halves of the batch."""

    class Shared(ns.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = ns.nn.Conv2d(3, 3, 3, padding=1)
            self.fc = ns.nn.Linear(12, 12)
            self.out = ns.nn.Linear(12, 2)

        def encode(self, x):
            for _ in range(3):
                x = ns.torch.tanh(self.conv(x))
            h = ns.F.adaptive_avg_pool2d(x, 2).flatten(1)
            return self.fc(ns.F.relu(self.fc(h)))

        def forward(self, x):
            a, b = self.encode(x[:2]), self.encode(x[2:])
            return self.out((a - b) ** 2)

    return Shared()


def make_branching(ns):
    """Inception-style branches on one input, joined along channels; a trunk tensor read by
    two heads whose outputs are combined."""

    class Branching(ns.nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = ns.nn.Sequential(ns.nn.Conv2d(3, 4, 3, padding=1), ns.nn.BatchNorm2d(4), ns.nn.ReLU())
            self.b1 = ns.nn.Conv2d(4, 2, 1)
            self.b3 = ns.nn.Sequential(ns.nn.Conv2d(4, 2, 1), ns.nn.ReLU(), ns.nn.Conv2d(2, 3, 3, padding=1))
            self.bp = ns.nn.Sequential(ns.nn.MaxPool2d(3, 1, 1), ns.nn.Conv2d(4, 1, 1))
            self.head_a = ns.nn.Linear(6, 3)
            self.head_b = ns.nn.Linear(6, 3)

        def forward(self, x):
            x = self.stem(x)
            x = ns.torch.cat([self.b1(x), ns.F.relu(self.b3(x)), self.bp(x)], 1)
            h = ns.F.adaptive_avg_pool2d(x, 1).view(x.size(0), -1)
            a, b = self.head_a(h), self.head_b(h)
            return a * ns.F.softmax(b, dim=1) + ns.torch.stack([a, b], dim=0).mean(0)

    return Branching()


@pytest.mark.parametrize("stride, in_planes, planes", [(2, 4, 6), (1, 4, 4)], ids=["projection", "identity"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_resnet_basic_block_matches_torch(stride, in_planes, planes, train, rng):
    pytest.importorskip("torch")
    module_parity(lambda ns: make_basic_block(ns, in_planes, planes, stride), distinct(rng, (2, in_planes, 6, 6)),
                  train=train)


def test_weight_shared_layers_match_torch(rng):
    pytest.importorskip("torch")
    module_parity(make_shared, distinct(rng, (4, 3, 4, 4)))


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_branching_forward_matches_torch(train, rng):
    pytest.importorskip("torch")
    module_parity(make_branching, distinct(rng, (2, 3, 6, 6)), train=train)


def make_cnn(ns):
    """A course-style CNN with a custom forward (BatchNorm, pooling, a residual add, flatten)."""

    class CNN(ns.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = ns.nn.Conv2d(1, 6, 3, padding=1)
            self.bn1 = ns.nn.BatchNorm2d(6)
            self.conv2 = ns.nn.Conv2d(6, 6, 3, padding=1)
            self.pool = ns.nn.MaxPool2d(2, 2)
            self.fc1 = ns.nn.Linear(6 * 3 * 3, 16)
            self.fc2 = ns.nn.Linear(16, 4)

        def forward(self, x):
            x = self.pool(ns.F.relu(self.bn1(self.conv1(x))))
            x = self.pool(ns.F.relu(self.conv2(x)) + x)
            x = x.view(-1, 6 * 3 * 3)
            x = ns.F.relu(self.fc1(x))
            return self.fc2(x)

    return CNN()


def _train(ns, model, batches, steps):
    """The course's loop: zero_grad, forward, loss, backward, step; returns the losses."""
    criterion = ns.nn.CrossEntropyLoss()
    optimizer = ns.torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    losses = []
    model.train()
    for step in range(steps):
        inputs, labels = batches[step % len(batches)]
        inputs, labels = ns.torch.tensor(inputs), ns.torch.tensor(labels)
        optimizer.zero_grad()
        outputs = model(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _evaluate(ns, model, batches, mode):
    """The course's evaluation loop under ``mode`` (no_grad or inference_mode): outputs,
    predictions and the accuracy count."""
    model.eval()
    correct, total, outputs = 0, 0, []
    with mode():
        for images, labels in batches:
            images, labels = ns.torch.tensor(images), ns.torch.tensor(labels)
            out = model(images)
            _, predicted = ns.torch.max(out.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
            outputs.append(out.numpy())
    return np.concatenate(outputs), correct, total


def test_twenty_sgd_momentum_steps_give_torchs_losses():
    """Same initial weights, same 20 batches: the loss curves agree step by step.

    Tolerance: both run float32 and each step's forward and backward sum in different
    orders (~1e-7 relative per value); SGD feeds each step's rounding into the next
    step's weights, where momentum 0.9 carries it on and ReLU / max-pool decisions near a
    tie can amplify it, while the losses fall (so a fixed absolute error grows relative).
    Measured on this model over three seeds: ~1e-7 relative at the first steps, at most
    5e-6 by step 19. We allow 2e-5 at step 0, doubling every 5 steps (1.6e-4 at step
    19), plus 1e-6 absolute: ~10x above what rounding produced, and far below what any
    wrong gradient gives (the loss moves by ~1e-2 per step). The weights after 20 steps
    (measured: <= 2e-7 of their scale apart) are held to 1e-4.
    """
    torch = pytest.importorskip("torch")
    tns = torch_ns()
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((4, 1, 12, 12)).astype(np.float32)
    batches = []
    for _ in range(5):
        labels = rng.integers(0, 4, 8)
        images = centres[labels] + 0.5 * rng.standard_normal((8, 1, 12, 12)).astype(np.float32)
        batches.append((images.astype(np.float32), labels.astype(np.int64)))
    engine.manual_seed(0)
    ours = make_cnn(OURS)
    twin = copy_weights(ours, make_cnn(tns))
    ours_losses = _train(OURS, ours, batches, 20)
    torch_losses = _train(tns, twin, batches, 20)
    allowed = 2e-5 * 2.0 ** (np.arange(20) / 5) * np.abs(torch_losses) + 1e-6
    diff = np.abs(np.array(ours_losses) - torch_losses)
    assert (diff <= allowed).all(), (f"losses differ beyond float32 tolerance: ours {ours_losses}, torch "
                                     f"{torch_losses}, differences {diff.tolist()}")
    assert torch_losses[-1] < 0.5 * torch_losses[0], "the run should learn (else the test shows little)"
    tstate = twin.state_dict()
    for name, value in ours.state_dict().items():
        assert_close(value, tstate[name], rtol=1e-4, atol=1e-4, what=f"{name} after 20 steps")
    ref, t_correct, t_total = _evaluate(tns, twin, batches, torch.no_grad)
    for mode in (engine.no_grad, engine.inference_mode):      # inference_mode folds bn1 into conv1
        out, correct, total = _evaluate(OURS, ours, batches, mode)
        assert_close(out, ref, rtol=1e-4, atol=1e-4, what=f"evaluation outputs under {mode.__name__}")
        assert (correct, total) == (t_correct, t_total)
