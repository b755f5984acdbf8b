"""Where a CPU training step spends its time, by kernel call and layer by layer.

    python benchmarks/profile_layers.py [--model mnist_cnn,resnet20,...] [--batch-size B]
                                        [--threads 2] [--steps 20] [--clock wall|cpu] [--infer]

The models default to the whole zoo, each at ``bench_vs_torch.py``'s batch size.

For each model it runs ``--steps`` training steps after warm-up, each exactly what a
user's script does (and ``bench_vs_torch.py`` times): ``loss = crit(model(x), y);
opt.zero_grad(); loss.backward(); opt.step()`` with cross-entropy and SGD-momentum.
First as they are, timing every call into the CPU kernel set (``engine.kernels.cpu``,
where the operations look their kernels up), grouped by kernel and its first argument's
shape, so the layer fusion stays on. Then with forward hooks on every leaf layer (which
turns the fusion off: nothing fuses across a hook): a layer's forward is the time between
its forward pre-hook and its forward hook; its backward is the time from the moment the
gradient of its output arrives (a gradient hook on the output, run just before the
output's backward) to the moment the next layer's does, or to the end of
``loss.backward()`` for the last one, so every step of the backward pass (parameter
gradients accumulated, a residual's sum, a concatenation's split) counts for the layer
that runs it or just ran before it. Per layer it prints the median milliseconds of each
pass and its share of the median step, then the step's remainder (loss, optimizer,
Python between calls).
Read the wall-clock numbers only from an idle machine: other work on the cores changes them.
On a shared machine, ``--threads 1 --clock cpu`` times everything in the main thread's CPU
time, which the time slices other processes take do not change.

``--infer`` prints the kernel table of an inference forward instead (``model.eval()``,
``with inference_mode(): model(x)``, as ``bench_vs_torch.py`` times it).
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
from bench_vs_torch import MODELS  # noqa: E402
from engine import from_numpy, inference_mode, manual_seed, models, nn, optim  # noqa: E402
from engine.train.threads import set_threads  # noqa: E402

_clock = time.perf_counter
"""What every timing reads: wall time, or the main thread's CPU time (``--clock cpu``)."""


def _input_shape(name):
    return models.DEFAULT_INPUT[name]


def _instrument(model):
    """Forward hooks on every leaf module. Returns ({layer name: forward seconds per call},
    marks): during a backward pass ``marks`` gets (time, layer name) when the gradient of
    that layer's output arrives."""
    forward, marks = {}, []
    for name, m in model.named_modules():
        if m._modules:
            continue
        name = name or type(m).__name__
        calls = forward.setdefault(name, [])
        started = []

        def before(module, inputs, _started=started):
            _started.append(_clock())

        def after(module, inputs, out, _name=name, _calls=calls, _started=started):
            _calls.append(_clock() - _started.pop())
            if out.requires_grad:
                out.register_hook(lambda grad: marks.append((_clock(), _name)))

        m.register_forward_pre_hook(before)
        m.register_forward_hook(after)
    return forward, marks


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
            t0 = _clock()
            r = _fn(*args, **kwargs)
            times[(_name, tuple(getattr(args[0], "shape", ())) if args else ())].append(_clock() - t0)
            return r
        saved[kname] = fn
        setattr(cpu_kernels, kname, call)
    return times, lambda: [setattr(cpu_kernels, k, f) for k, f in saved.items()]


def profile(name, batch, steps):
    manual_seed(0)
    model = models.get(name)
    rng = np.random.default_rng(1234)
    x = from_numpy(rng.standard_normal((batch,) + _input_shape(name)).astype(np.float32))
    y = from_numpy(rng.integers(0, 10, batch).astype(np.int64))
    crit = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    kinds = {n or type(m).__name__: f"{type(m).__name__}({m.extra_repr()})"
             for n, m in model.named_modules() if not m._modules}

    def step():
        """One training step; returns the time at which loss.backward() returned."""
        loss = crit(model(x), y)
        opt.zero_grad()
        loss.backward()
        done = _clock()
        opt.step()
        return done

    for _ in range(3):
        step()
    plain = _timed(step, steps)
    kernel_times, undo = _instrument_kernels()
    kstep = _timed(step, steps)
    undo()
    kmed = statistics.median(kstep) * 1e3
    print(f"\n## {name}, batch {batch}: median step {statistics.median(plain) * 1e3:.2f} ms, "
          f"{kmed:.2f} ms with the kernel calls timed (layer fusion on)\n")
    _kernel_table(kernel_times, steps, kmed, "step", "share of step")
    forward, marks = _instrument(model)
    backward = {lname: [] for lname in forward}
    step_times = []
    for k in range(steps + 1):          # the first, untimed, compiles whatever the unfused layers need
        for calls in forward.values():
            calls.clear()
        marks.clear()
        t0 = _clock()
        done = step()
        step_times.append(_clock() - t0)
        spent = dict.fromkeys(forward, 0.0)
        for (t, lname), (t_next, _) in zip(marks, marks[1:] + [(done, None)]):
            spent[lname] += t_next - t
        for lname, seconds in spent.items():
            backward[lname].append(seconds)
    med = statistics.median(step_times[1:]) * 1e3
    print(f"\nLayer by layer (fusion off): median step {med:.2f} ms ({batch / med * 1e3:.0f} img/s)\n")
    print("| layer | kind | forward ms | backward ms | share of step |")
    print("|---|---|---|---|---|")
    layered = 0.0
    for lname, fw in forward.items():
        f = statistics.median(fw) * 1e3 if fw else 0.0
        b = statistics.median(backward[lname][1:]) * 1e3
        layered += f + b
        print(f"| {lname} | {kinds[lname]} | {f:.3f} | {b:.3f} | {100 * (f + b) / med:.1f}% |")
    print(f"| (rest) | loss, optimizer, Python between layers | | | {100 * (med - layered) / med:.1f}% "
          f"({med - layered:.2f} ms) |")


def profile_inference(name, batch, steps):
    """The kernel table of an inference forward (eval mode, inference_mode)."""
    manual_seed(0)
    model = models.get(name)
    model.eval()
    x = from_numpy(np.random.default_rng(1234).standard_normal((batch,) + _input_shape(name)).astype(np.float32))

    def forward():
        with inference_mode():
            model(x)

    for _ in range(3):
        forward()
    kernel_times, undo = _instrument_kernels()
    runs = _timed(forward, steps)
    undo()
    med = statistics.median(runs) * 1e3
    print(f"\n## {name}, batch {batch}, inference: median forward {med:.2f} ms with the kernel calls timed\n")
    _kernel_table(kernel_times, steps, med, "forward", "share")


def _timed(fn, repeats: int) -> list:
    """Seconds (by ``_clock``) of each of ``repeats`` calls of ``fn()``."""
    times = []
    for _ in range(repeats):
        t0 = _clock()
        fn()
        times.append(_clock() - t0)
    return times


def _kernel_table(kernel_times: dict, repeats: int, per_ms: float, unit: str, share: str) -> None:
    """Prints the kernels' time per ``unit`` (a step or a forward of ``per_ms`` ms, median),
    the most first, and the rest: the Python between kernel calls."""
    print(f"| kernel | first argument | ms per {unit} | calls per {unit} | {share} |")
    print("|---|---|---|---|---|")
    total = 0.0
    for (kname, shape), ts in sorted(kernel_times.items(), key=lambda kv: -sum(kv[1])):
        ms = sum(ts) / repeats * 1e3
        total += ms
        print(f"| {kname} | {shape} | {ms:.3f} | {len(ts) / repeats:g} | {100 * ms / per_ms:.1f}% |")
    print(f"| (rest) | Python between kernel calls | {per_ms - total:.3f} | | {100 * (per_ms - total) / per_ms:.1f}% |")


def main(argv=None):
    global _clock
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=",".join(MODELS), help="comma-separated zoo names")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="wall time, or the main thread's CPU time (needs --threads 1)")
    p.add_argument("--infer", action="store_true", help="profile an inference forward instead of a training step")
    a = p.parse_args(argv)
    names = [n.strip() for n in a.model.split(",") if n.strip()]
    unknown = [n for n in names if n not in models.names()]
    if unknown:
        p.error(f"unknown model {unknown[0]!r}; choose from {', '.join(models.names())}")
    if a.clock == "cpu" and a.threads != 1:
        p.error("--clock cpu times the main thread only: it needs --threads 1")
    if a.batch_size is not None and a.batch_size < 1:
        p.error(f"--batch-size must be >= 1, got {a.batch_size}")
    _clock = time.thread_time if a.clock == "cpu" else time.perf_counter
    set_threads(a.threads)
    for name in names:
        batch = a.batch_size or MODELS.get(name, (64,))[0]
        (profile_inference if a.infer else profile)(name, batch, a.steps)


if __name__ == "__main__":
    main()
