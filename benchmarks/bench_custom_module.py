"""Autograd's cost: the same network trained three ways, interleaved.

    python benchmarks/bench_custom_module.py [--models mnist_cnn,cifar_cnn,resnet20,vgg16]
        [--rounds 7] [--baseline PATH] [--threads 2]

For each model: the zoo's Sequential and the same network written as a custom
``nn.Module`` with a PyTorch-style ``forward`` (``F.relu``, ``self.pool``, ``out +=
self.shortcut(x)``, ``torch.flatten``), both trained with ``loss.backward()`` from the same
weights on the same batch; with ``--baseline PATH`` (a checkout of the engine before
autograd, e.g. ``git worktree add /tmp/base ebc414b``) also the old layer-wise path
(``model.backward(crit.backward())``). Each variant runs in its own process, kept alive;
the parent asks each in turn for a window of training steps (round robin, ``--rounds``
times) and reports the median step time and the ratio to the Sequential.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BATCH = {"mnist_cnn": 64, "cifar_cnn": 64, "resnet20": 128, "vgg16": 128}
STEPS = {"mnist_cnn": 40, "cifar_cnn": 30, "resnet20": 3, "vgg16": 1}   # per window

WORKER = r'''
import sys, time, json
import numpy as np
import engine
from engine import nn, optim
name, variant, batch, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
engine.set_num_threads(threads) if hasattr(engine, "set_num_threads") else None
from engine.kernels.cpu import parallel
parallel.set_num_threads(threads)
engine.manual_seed(0)
shape = (1, 28, 28) if name == "mnist_cnn" else (3, 32, 32)
model = engine.models.get(name, in_channels=shape[0], num_classes=10)
rng = np.random.default_rng(0)
x = rng.standard_normal((batch,) + shape).astype(np.float32)
y = rng.integers(0, 10, batch)
crit = nn.CrossEntropyLoss()
if variant == "custom":
    sys.path.insert(0, sys.argv[5])
    import custom_models
    seq = model
    model = custom_models.build(name, shape)
    ours, theirs = list(model.parameters()), list(seq.parameters())
    assert [p.shape for p in ours] == [p.shape for p in theirs], name
    for p, q in zip(ours, theirs):
        p.data.copy_(q.data)
opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
if variant == "layerwise":
    def step():
        crit(model(x), y)
        model.zero_grad()
        model.backward(crit.backward())
        opt.step()
else:
    def step():
        loss = crit(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
for _ in range(2):
    step()
print("ready", flush=True)
for line in sys.stdin:
    n = int(line)
    t = time.perf_counter()
    for _ in range(n):
        step()
    print(json.dumps((time.perf_counter() - t) / n), flush=True)
'''

CUSTOM = r'''
"""The zoo's networks written as a PyTorch user writes them (custom modules, F calls)."""
import engine as torch
import engine.nn as nn
import engine.nn.functional as F


class SmallCNN(nn.Module):
    def __init__(self, c, widths, fcs):
        super().__init__()
        self.conv1 = nn.Conv2d(c, widths[0], 5)
        self.conv2 = nn.Conv2d(widths[0], widths[1], 5)
        self.pool = nn.MaxPool2d(2)
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(fcs, fcs[1:]))

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        for i, fc in enumerate(self.fcs):
            x = fc(x)
            if i < len(self.fcs) - 1:
                x = F.relu(x)
        return x


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return F.relu(out)


class ResNet20(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks, c = [], 16
        for w, first_stride in ((16, 1), (32, 2), (64, 2)):
            for j in range(3):
                blocks.append(BasicBlock(c, w, first_stride if j == 0 else 1))
                c = w
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layers(out)
        out = F.adaptive_avg_pool2d(out, 1)
        return self.fc(torch.flatten(out, 1))


class VGG16(nn.Module):
    CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]

    def __init__(self):
        super().__init__()
        self.body, c = nn.ModuleList(), 3     # conv, batch norm, conv, batch norm, ...
        for v in self.CFG:
            if v != "M":
                self.body.extend([nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v)])
                c = v
        self.fc = nn.Linear(512, 10)

    def forward(self, x):
        i = 0
        for v in self.CFG:
            if v == "M":
                x = F.max_pool2d(x, 2)
            else:
                x = F.relu(self.body[i + 1](self.body[i](x)))
                i += 2
        return self.fc(x.view(x.size(0), -1))


def build(name, shape):
    if name == "mnist_cnn":
        return SmallCNN(1, (6, 6), [6 * 4 * 4, 50, 10])
    if name == "cifar_cnn":
        return SmallCNN(3, (6, 16), [16 * 5 * 5, 120, 84, 10])
    if name == "resnet20":
        return ResNet20()
    return VGG16()
'''


def _start(root, name, variant, batch, threads, helper_dir):
    env = dict(os.environ, PYTHONPATH=str(root))
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    p = subprocess.Popen([sys.executable, "-c", WORKER, name, variant, str(batch), str(threads), str(helper_dir)],
                         cwd=root, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    if line != "ready":
        raise RuntimeError(f"{variant} worker for {name} did not start ({line!r})")
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mnist_cnn,cifar_cnn,resnet20,vgg16")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--baseline", default=None, help="a checkout of the engine before autograd")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    helper_dir = Path("/tmp") / f"numbacnn_custom_models_{os.getpid()}"
    helper_dir.mkdir(exist_ok=True)
    (helper_dir / "custom_models.py").write_text(CUSTOM)
    rows = []
    print("| model | batch | Sequential (ms/step) | custom Module (ms) | custom / Sequential |"
          + (" layer-wise before autograd (ms) | Sequential / before |" if args.baseline else ""))
    print("| --- | ---: | ---: | ---: | ---: |" + (" ---: | ---: |" if args.baseline else ""))
    for name in args.models.split(","):
        batch = BATCH[name]
        variants = [("seq", ROOT), ("custom", ROOT)] + ([("layerwise", Path(args.baseline))] if args.baseline else [])
        procs = {v: _start(root, name, v, batch, args.threads, helper_dir) for v, root in variants}
        times = {v: [] for v in procs}
        try:
            for _ in range(args.rounds):
                for v, p in procs.items():
                    p.stdin.write(f"{STEPS[name]}\n")
                    p.stdin.flush()
                    times[v].append(json.loads(p.stdout.readline()) * 1e3)
        finally:
            for p in procs.values():
                p.stdin.close()
                p.wait()
        med = {v: statistics.median(t) for v, t in times.items()}
        row = dict(model=name, batch=batch, **{f"{v}_ms": round(m, 3) for v, m in med.items()})
        rows.append(row)
        line = (f"| {name} | {batch} | {med['seq']:.2f} | {med['custom']:.2f} | {med['custom'] / med['seq']:.3f} |")
        if args.baseline:
            line += f" {med['layerwise']:.2f} | {med['seq'] / med['layerwise']:.3f} |"
        print(line, flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
