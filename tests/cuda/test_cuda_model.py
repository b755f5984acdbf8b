"""Whole models on "cuda": training steps equal to the CPU's, device moves, and the no-GPU
message. (A small net's float64 gradient check on each set: tests/kernels/test_backward_gradcheck.py.)"""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers.cuda import SIM, big

import engine
from engine import kernels, models, nn, optim
from engine.data import DataLoader
from engine.data import transforms as T
from engine.kernels import cuda as GPU
from engine.train import BatchEnd, Trainer


def _train(model, device, x, y, steps, opt_cls=optim.SGD, **opt_kw):
    model = model.to(device)
    opt = opt_cls(model.parameters(), **opt_kw)
    crit = nn.CrossEntropyLoss()
    x, y = engine.tensor(x, device=device), engine.tensor(y, device=device)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = crit(model(x), y)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    return losses, model.state_dict(), opt.state_dict()


def test_mnist_cnn_three_steps_same_losses_as_cpu():
    size, batch = big(((16, 16), 2), ((28, 28), 64))
    rng = np.random.default_rng(7)
    x = rng.standard_normal((batch, 1) + size).astype(np.float32)
    y = rng.integers(0, 10, batch)
    runs = {}
    for device in ("cpu", "cuda"):
        engine.manual_seed(0)
        runs[device] = _train(models.get("mnist_cnn", input_size=size), device, x, y, 3,
                              lr=0.1, momentum=0.9)
    (lc, sc, oc), (lg, sg, og) = runs["cpu"], runs["cuda"]
    np.testing.assert_allclose(lg, lc, rtol=1e-5, atol=1e-6)
    for k in sc:
        np.testing.assert_allclose(sg[k], sc[k], rtol=1e-4, atol=1e-5, err_msg=k)
    for i in oc["state"]:
        np.testing.assert_allclose(og["state"][i]["momentum_buffer"], oc["state"][i]["momentum_buffer"],
                                   rtol=1e-4, atol=1e-5)


def _blocks_net():
    """Every container and the remaining layer kinds in one small net."""
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Residual(nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)), None),
        nn.Concat(nn.Conv2d(4, 2, 1), nn.Sequential(nn.AvgPool2d(3, 1, 1), nn.Conv2d(4, 2, 1))),
        nn.LeakyReLU(0.1), nn.LocalResponseNorm(3), nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(4, 6), nn.Tanh(), nn.BatchNorm1d(6), nn.Sigmoid(),
        nn.Linear(6, 3))


def test_blocks_train_like_cpu():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 2, 4, 4)).astype(np.float32)
    y = np.array([0, 2, 1])
    runs = {}
    for device in ("cpu", "cuda"):
        engine.manual_seed(1)
        runs[device] = _train(_blocks_net(), device, x, y, 2, lr=0.1, momentum=0.9)
    (lc, sc, _), (lg, sg, _) = runs["cpu"], runs["cuda"]
    np.testing.assert_allclose(lg, lc, rtol=1e-5, atol=1e-6)
    for k in sc:  # includes BatchNorm running statistics and num_batches_tracked
        np.testing.assert_allclose(sg[k], sc[k], rtol=1e-4, atol=1e-5, err_msg=k)


def test_to_cuda_and_back_keeps_weights_and_buffers():
    engine.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    before = m.state_dict()
    m.to("cuda")
    assert m.device == "cuda" and kernels.device_of(m[0].weight.array) == "cuda"
    assert kernels.device_of(m[1].running_mean) == "cuda"
    assert isinstance(m[1].num_batches_tracked, np.ndarray)  # integer counters stay on the host
    after = m.to("cpu").state_dict()
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])


@pytest.mark.skipif(not SIM, reason="checks the message on a machine without a GPU")
def test_asking_for_cuda_without_a_gpu_says_what_is_missing():
    code = ("from engine import kernels, cuda_available\n"
            "assert not cuda_available()\n"
            "try:\n    kernels.ops('cuda')\nexcept RuntimeError as e:\n    print('MSG', e)\n")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                       cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    if "assert not cuda_available()" in r.stderr:
        pytest.skip("this machine has a usable GPU")
    assert r.returncode == 0, r.stderr
    msg = r.stdout.split("MSG", 1)[1].strip()
    assert msg.startswith("CUDA was requested but ") and "Traceback" not in r.stdout
    assert any(w in msg for w in ("driver", "GPU", "numba-cuda", "NVVM")), msg


def test_unusable_reason_names_a_missing_numba_cuda(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "numba_cuda" else real(n, *a))
    assert "numba-cuda is not installed" in GPU.unusable_reason()


class _Blobs:
    """16 uint8 8x8 images; the class is which half is bright."""

    def __init__(self, n=16, seed=0):
        rng = np.random.default_rng(seed)
        self.targets = rng.integers(0, 2, n).astype(np.int64)
        self.data = rng.integers(0, 60, (n, 8, 8)).astype(np.uint8)
        for i, t in enumerate(self.targets):
            self.data[i, :4] += 150 if t == 0 else 0
            self.data[i, 4:] += 150 if t == 1 else 0
        self.classes = ["top", "bottom"]
        self.transform = None

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        return self.data[i], int(self.targets[i])


def test_trainer_on_cuda_matches_cpu():
    """Trainer(..., device="cuda"): the same batch losses, accuracies and validation as on
    the CPU (batches stay on the device; only loss, argmax and snapshots come back)."""
    runs = {}
    for device in ("cpu", "cuda"):
        engine.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Dropout(0.2), nn.Linear(32, 2))
        tf = T.Compose([T.ToTensor(), T.Normalize((0.3,), (0.3,))])
        train = DataLoader(_Blobs(), batch_size=8, shuffle=True, seed=0, transform=tf)
        val = DataLoader(_Blobs(8, seed=1), batch_size=8, transform=tf)
        t = Trainer(model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9), nn.CrossEntropyLoss(), train, val,
                    device=device, input_shape=(1, 8, 8))
        seen = []
        t.subscribe(lambda ev: seen.append((ev.loss, ev.accuracy)) if isinstance(ev, BatchEnd) else None)
        done = t.fit(1)
        assert done.reason == "completed", done
        runs[device] = (seen, done.history[-1])
    (bc, hc), (bg, hg) = runs["cpu"], runs["cuda"]
    assert len(bg) == len(bc) == 2
    np.testing.assert_allclose(bg, bc, rtol=1e-5, atol=1e-6)
    for k in ("train_loss", "val_loss", "val_accuracy"):
        if k in hc:
            assert abs(hg[k] - hc[k]) <= 1e-5 * max(1, abs(hc[k])), k
