"""Where a CPU training step spends its time, by kernel call and layer by layer.

    python benchmarks/profile_layers.py [--model mnist_cnn,cifar_cnn,resnet20,vgg16]
                                        [--batch-size B] [--threads 2] [--steps 20]

For each model it runs ``--steps`` training steps (forward, cross-entropy, backward,
SGD-momentum update, zero_grad; the same step as ``bench_vs_torch.py``) after warm-up:
first as they are, timing every call into the CPU kernel set (``engine.kernels.cpu``,
where the layers look their kernels up), grouped by kernel and its first argument's
shape, so the layer fusion of ``engine.nn.fusion`` stays on; then with ``perf_counter``
around every leaf layer's forward and backward call (which turns the fusion off: wrapped
layers run on their own), printing per layer the median milliseconds of each pass and
its share of the median step, then the step's remainder (loss, optimizer, containers'
own work, Python between calls).
Read the numbers only from an idle machine: other work on the cores changes them.
"""
from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import engine.kernels.cpu as cpu_kernels  # noqa: E402
from engine import manual_seed, models, nn, optim  # noqa: E402
from engine.train.threads import set_threads  # noqa: E402

DEFAULT_BATCH = {"mnist_cnn": 64, "cifar_cnn": 64, "resnet20": 128, "vgg16": 128}


def _input_shape(name):
    return (1, 28, 28) if name in ("mnist_cnn", "lenet5") else (3, 32, 32)


def _instrument(model):
    """Wraps every leaf module's forward and backward; returns {layer name: [fwd list, bwd list]}."""
    times = {}
    for name, m in model.named_modules():
        if m._modules:
            continue
        rec = times.setdefault(name or type(m).__name__, ([], []))

        def timed(fn, out):
            def call(arg):
                t0 = time.perf_counter()
                r = fn(arg)
                out.append(time.perf_counter() - t0)
                return r
            return call

        object.__setattr__(m, "forward", timed(m.forward, rec[0]))
        object.__setattr__(m, "backward", timed(m.backward, rec[1]))
    return times


def _instrument_kernels():
    """Wraps the CPU kernel set's functions; returns ({(kernel, first argument's shape):
    [seconds]}, undo)."""
    times = collections.defaultdict(list)
    saved = {}
    for kname in dir(cpu_kernels):
        fn = getattr(cpu_kernels, kname)
        if kname.startswith("_") or not callable(fn) or isinstance(fn, type):
            continue

        def call(*args, _fn=fn, _name=kname, **kwargs):
            t0 = time.perf_counter()
            r = _fn(*args, **kwargs)
            times[(_name, tuple(getattr(args[0], "shape", ())) if args else ())].append(time.perf_counter() - t0)
            return r
        saved[kname] = fn
        setattr(cpu_kernels, kname, call)
    return times, lambda: [setattr(cpu_kernels, k, f) for k, f in saved.items()]


def profile(name, batch, steps):
    manual_seed(0)
    model = models.get(name)
    model.set_needs_input_grad(False)
    rng = np.random.default_rng(1234)
    x = rng.standard_normal((batch,) + _input_shape(name)).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    crit = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    kinds = {n or type(m).__name__: f"{type(m).__name__}({m.extra_repr()})"
             for n, m in model.named_modules() if not m._modules}

    def step():
        out = model.forward(x)
        crit(out, y)
        model.backward(crit.backward())
        opt.step()
        opt.zero_grad()

    for _ in range(3):
        step()
    plain = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        plain.append(time.perf_counter() - t0)
    kernel_times, undo = _instrument_kernels()
    kstep = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        kstep.append(time.perf_counter() - t0)
    undo()
    kmed = statistics.median(kstep) * 1e3
    print(f"\n## {name}, batch {batch}: median step {statistics.median(plain) * 1e3:.2f} ms, "
          f"{kmed:.2f} ms with the kernel calls timed (layer fusion on)\n")
    print("| kernel | first argument | ms per step | calls per step | share of step |")
    print("|---|---|---|---|---|")
    total = 0.0
    for (kname, shape), ts in sorted(kernel_times.items(), key=lambda kv: -sum(kv[1])):
        ms = sum(ts) / steps * 1e3
        total += ms
        print(f"| {kname} | {shape} | {ms:.3f} | {len(ts) / steps:g} | {100 * ms / kmed:.1f}% |")
    print(f"| (rest) | Python between kernel calls | {kmed - total:.3f} | | {100 * (kmed - total) / kmed:.1f}% |")
    times = _instrument(model)
    step_times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        step_times.append(time.perf_counter() - t0)
    med = statistics.median(step_times) * 1e3
    print(f"\nLayer by layer (fusion off): median step {med:.2f} ms ({batch / med * 1e3:.0f} img/s)\n")
    print("| layer | kind | forward ms | backward ms | share of step |")
    print("|---|---|---|---|---|")
    layered = 0.0
    for lname, (fw, bw) in times.items():
        f = statistics.median(fw) * 1e3 if fw else 0.0
        b = statistics.median(bw) * 1e3 if bw else 0.0
        layered += f + b
        print(f"| {lname} | {kinds[lname]} | {f:.3f} | {b:.3f} | {100 * (f + b) / med:.1f}% |")
    print(f"| (rest) | loss, optimizer, Python between layers | | | {100 * (med - layered) / med:.1f}% "
          f"({med - layered:.2f} ms) |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="mnist_cnn,cifar_cnn,resnet20,vgg16")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=20)
    a = p.parse_args(argv)
    set_threads(a.threads)
    for name in a.model.split(","):
        profile(name, a.batch_size or DEFAULT_BATCH.get(name, 64), a.steps)


if __name__ == "__main__":
    main()
