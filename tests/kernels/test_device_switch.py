"""The one device switch (engine.kernels.ops / device_of), and a training step that runs
no ``import`` statement: every layer call asks for its kernel set, and in a process with
PySide6 (the studio) each import statement runs shiboken's Python import hook, which took
6 % of mnist_cnn's step (benchmarks/results_gui.md)."""
from __future__ import annotations

import builtins

import numpy as np
import pytest

from engine import from_numpy, kernels, manual_seed, models, nn, optim
from engine.kernels import cpu as CPU


def test_ops_gives_the_cpu_set_and_refuses_unknown_devices():
    assert kernels.ops("cpu") is CPU
    assert kernels.device_of(np.zeros(2, np.float32)) == "cpu"
    with pytest.raises(ValueError, match="unknown device 'tpu': use one of cpu, cuda"):
        kernels.ops("tpu")


def test_a_training_step_runs_no_import_statement(monkeypatch):
    manual_seed(0)
    model = models.get("mnist_cnn")
    crit = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    x = from_numpy(rng.random((4, 1, 28, 28), dtype=np.float32))
    y = from_numpy(rng.integers(0, 10, 4))

    def step():
        loss = crit(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    step()                                    # the first step may load what it needs
    imports = []
    real = builtins.__import__

    def counting(name, *args, **kwargs):
        imports.append(name)
        return real(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", counting)
    step()
    monkeypatch.undo()
    assert imports == []
