"""The benchmark: CPU vs GPU kernel timings and whole-model training throughput.

    result = engine.bench.run(devices="cpu,cuda", ops="conv,pool", models_="vgg16")   # a dict, below
    print(engine.bench.format_table(result))

The command line's ``numbacnn bench`` (engine/cli/bench.py) and the studio's Benchmark
tab both call ``run``; its arguments are the command's options::

    numbacnn bench [--device cpu,cuda] [--ops conv,pool,linear,bn,softmax,...]
                   [--model NAME[,NAME...] --batch-size B] [--json PATH]
                   [--repeats R] [--warmup W] [--steps S] [--cpu-steps S]
                   [--size tiny|default] [--torch]

Per kernel it runs the forward and the backward pass of one layer-sized problem on every
device and reports the median time of ``--repeats`` runs after ``--warmup`` runs (the
first of which compiles), with the rate: GFLOP/s for convolution and Linear, GB/s of
compulsory memory traffic for the memory-bound ones, and the GPU/CPU speed-up. With
``--model`` it times whole training steps (forward, loss, backward, SGD-momentum update,
device-resident) and reports images per second per device; ``--torch`` adds PyTorch's
own throughput for the same network (its "torch twin") on the GPU -- once with PyTorch's
defaults (TF32 convolutions) and once in strict float32 -- where torch has CUDA.

Without ``--model``, every kernel op runs; with ``--model`` and no ``--ops``, only the
models. ``--size tiny`` (automatic under the CUDA simulator) uses toy shapes so a run
finishes in seconds. ``--device`` defaults to cpu plus cuda when a GPU is usable.

The result (``--json PATH`` writes it; the studio's Benchmark tab reads it)::

    {
      "schema": "numbacnn.bench/1",
      "created": "2025-01-01T12:00:00Z",
      "size": "default" | "tiny",
      "repeats": 5, "warmup": 2,
      "devices": {"cpu": "x86_64, 2 threads", "cuda": "NVIDIA H200"},
      "kernels": [                        # one row per op x device x pass
        {"op": "conv", "device": "cpu" | "cuda", "pass": "forward" | "backward",
         "shape": "N64 C64 32x32 -> O64 k3 s1 p1",
         "ms": 1.23,                      # median milliseconds per call
         "gflops": 45.6 | null,           # for compute-bound ops (conv, linear)
         "gbps": 78.9 | null}             # for memory-bound ops (everything else)
      ],                                  # optimizer updates (sgd, adam) report pass "forward"
      "models": [
        {"model": "vgg16", "device": "cpu" | "cuda" | "torch-cuda" | "torch-cuda-fp32",
         "batch_size": 128, "images_per_sec": 1234.5, "ms_per_step": 103.7, "steps": 10,
         "error": "..."}                  # "error" only when the run failed (e.g. out of memory)
      ],
      "speedups": {
        "kernels": [{"op": "conv", "pass": "forward", "speedup": 31.2}],   # cpu ms / cuda ms
        "models": [{"model": "vgg16", "batch_size": 128, "speedup": 35.0,  # cuda / cpu img/s
                    "vs_torch": 0.55, "vs_torch_fp32": 0.8}]               # cuda / torch img/s
      }
    }
"""
from __future__ import annotations

import datetime as _dt
import platform
import statistics
import time

import numpy as np

from . import kernels, models, nn, optim
from .autograd.random import manual_seed
from .errors import one_line
from .kernels import cuda as cuda_kernels
from .train.threads import get_threads

OPS = ("conv", "conv1x1", "pool", "avgpool", "linear", "bn", "softmax", "relu", "dropout", "add",
       "lrn", "sgd", "adam")


# --- device helpers --------------------------------------------------------------------
def _ops(device):
    return kernels.ops(device)


def _sync(device):
    _ops(device).synchronize()


def _time(device, fn, repeats, warmup) -> float:
    """Median milliseconds of fn() over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


# --- kernel problems -------------------------------------------------------------------
def _problems(size: str) -> dict:
    """op -> dict of shapes; tiny ones for the simulator and tests."""
    if size == "tiny":
        return dict(conv=dict(N=2, C=3, H=6, W=6, O=4, k=3), conv1x1=dict(N=2, C=4, H=3, W=3, O=4, k=1),
                    pool=dict(shape=(2, 3, 6, 6)), avgpool=dict(shape=(2, 3, 6, 6)),
                    linear=dict(N=4, I=12, O=5), bn=dict(shape=(3, 4, 3, 3)), softmax=dict(N=6, K=5),
                    relu=dict(shape=(2, 3, 5, 5)), dropout=dict(shape=(2, 3, 5, 5)),
                    add=dict(shape=(2, 3, 5, 5)), lrn=dict(shape=(2, 5, 3, 3)), sgd=dict(n=200),
                    adam=dict(n=200))
    return dict(conv=dict(N=64, C=64, H=32, W=32, O=64, k=3), conv1x1=dict(N=64, C=256, H=16, W=16, O=256, k=1),
                pool=dict(shape=(64, 64, 32, 32)), avgpool=dict(shape=(64, 64, 32, 32)),
                linear=dict(N=256, I=4096, O=1024), bn=dict(shape=(64, 64, 32, 32)),
                softmax=dict(N=1024, K=1000), relu=dict(shape=(64, 64, 32, 32)),
                dropout=dict(shape=(64, 64, 32, 32)), add=dict(shape=(64, 64, 32, 32)),
                lrn=dict(shape=(64, 64, 16, 16)), sgd=dict(n=15_000_000), adam=dict(n=15_000_000))


def _shape_str(shape) -> str:
    return "x".join(str(s) for s in shape)


def _kernel_cases(op: str, p: dict, ops, rng):
    """[(pass, shape text, fn, flops or None, bytes or None)] for one op on one device."""
    f32 = np.float32
    up = lambda a: ops.asarray(np.ascontiguousarray(a, dtype=f32))  # noqa: E731
    if op in ("conv", "conv1x1"):
        N, C, H, W, Co, k = p["N"], p["C"], p["H"], p["W"], p["O"], p["k"]
        pad = k // 2
        x, w, b = up(rng.standard_normal((N, C, H, W))), up(rng.standard_normal((Co, C, k, k)) * 0.1), \
            up(rng.standard_normal(Co))
        y = ops.conv2d_forward(x, w, b, (1, 1), (pad, pad))
        g = up(rng.standard_normal(tuple(int(s) for s in y.shape)))
        flops = 2.0 * N * Co * H * W * C * k * k
        shape = f"N{N} C{C} {H}x{W} -> O{Co} k{k} s1 p{pad}"
        return [("forward", shape, lambda: ops.conv2d_forward(x, w, b, (1, 1), (pad, pad)), flops, None),
                ("backward", shape, lambda: ops.conv2d_backward(x, w, g, (1, 1), (pad, pad)), 2 * flops, None)]
    if op == "linear":
        N, Fi, Fo = p["N"], p["I"], p["O"]
        x, w = up(rng.standard_normal((N, Fi))), up(rng.standard_normal((Fo, Fi)) * 0.01)
        b = up(rng.standard_normal(Fo))
        g = up(rng.standard_normal((N, Fo)))
        flops = 2.0 * N * Fi * Fo
        shape = f"N{N} {Fi} -> {Fo}"
        return [("forward", shape, lambda: ops.linear_forward(x, w, b), flops, None),
                ("backward", shape, lambda: ops.linear_backward(x, w, g), 2 * flops, None)]
    if op in ("pool", "avgpool"):
        shape = p["shape"]
        x = up(rng.standard_normal(shape))
        n = int(np.prod(shape))
        ys = (shape[0], shape[1], shape[2] // 2, shape[3] // 2)
        m = int(np.prod(ys))
        g = up(rng.standard_normal(ys))
        if op == "pool":
            _, idx = ops.maxpool2d_forward(x, (2, 2), (2, 2), (0, 0))
            return [("forward", f"{_shape_str(shape)} max 2x2/2",
                     lambda: ops.maxpool2d_forward(x, (2, 2), (2, 2), (0, 0)), None, 4 * (n + 2 * m)),
                    ("backward", f"{_shape_str(shape)} max 2x2/2",
                     lambda: ops.maxpool2d_backward(g, idx, shape), None, 4 * (2 * m + 2 * n))]
        return [("forward", f"{_shape_str(shape)} avg 2x2/2",
                 lambda: ops.avgpool2d_forward(x, (2, 2), (2, 2), (0, 0)), None, 4 * (n + m)),
                ("backward", f"{_shape_str(shape)} avg 2x2/2",
                 lambda: ops.avgpool2d_backward(g, shape, (2, 2), (2, 2), (0, 0)), None, 4 * (m + n))]
    if op == "bn":
        shape = p["shape"]
        C = shape[1]
        x, g = up(rng.standard_normal(shape)), up(rng.standard_normal(shape))
        gamma, beta, rm, rv = up(np.ones(C)), up(np.zeros(C)), up(np.zeros(C)), up(np.ones(C))
        n = int(np.prod(shape))
        _, cache = ops.batchnorm_forward_train(x, gamma, beta, rm, rv, 0.1, 1e-5)
        return [("forward", f"{_shape_str(shape)} train",
                 lambda: ops.batchnorm_forward_train(x, gamma, beta, rm, rv, 0.1, 1e-5), None, 4 * 4 * n),
                ("backward", f"{_shape_str(shape)} train",
                 lambda: ops.batchnorm_backward(g, gamma, cache), None, 4 * 5 * n)]
    if op == "softmax":
        N, K = p["N"], p["K"]
        z = up(rng.standard_normal((N, K)))
        t = ops.asarray(rng.integers(0, K, N), dtype=np.int64)
        _, probs = ops.cross_entropy_forward(z, t)
        return [("forward", f"N{N} K{K} cross-entropy", lambda: ops.cross_entropy_forward(z, t), None, 4 * 2 * N * K),
                ("backward", f"N{N} K{K} cross-entropy", lambda: ops.cross_entropy_backward(probs, t), None,
                 4 * 2 * N * K)]
    if op in ("relu", "dropout", "add", "lrn"):
        shape = p["shape"]
        n = int(np.prod(shape))
        x, g = up(rng.standard_normal(shape)), up(rng.standard_normal(shape))
        s = _shape_str(shape)
        if op == "relu":
            y = ops.relu_forward(x)
            return [("forward", s, lambda: ops.relu_forward(x), None, 8 * n),
                    ("backward", s, lambda: ops.relu_backward(y, g), None, 12 * n)]
        if op == "dropout":
            _, mask = ops.dropout_forward(x, 0.5, 7)
            return [("forward", s + " p0.5", lambda: ops.dropout_forward(x, 0.5, 7), None, 12 * n),
                    ("backward", s + " p0.5", lambda: ops.dropout_backward(g, mask), None, 12 * n)]
        if op == "add":
            acc = ops.zeros(shape)
            return [("forward", s + " residual", lambda: ops.add(x, g), None, 12 * n),
                    ("backward", s + " grad accumulate", lambda: ops.add_(acc, g), None, 12 * n)]
        y, sc = ops.lrn_forward(x, 5, 1e-4, 0.75, 1.0)
        return [("forward", s + " size5", lambda: ops.lrn_forward(x, 5, 1e-4, 0.75, 1.0), None, 12 * n),
                ("backward", s + " size5", lambda: ops.lrn_backward(x, y, sc, g, 5, 1e-4, 0.75), None, 20 * n)]
    if op in ("sgd", "adam"):
        n = p["n"]
        w, g, m, v = (up(rng.standard_normal(n)) for _ in range(4))
        v = up(np.abs(ops.to_host(v)))
        if op == "sgd":
            return [("forward", f"{n} params momentum",
                     lambda: ops.sgd_step(w, g, m, 1e-3, 0.9, 0.0, False, 0.0, False), None, 4 * 5 * n)]
        return [("forward", f"{n} params", lambda: ops.adam_step(w, g, m, v, 1e-5, (0.9, 0.999), 1e-8, 0.0, False, 3),
                 None, 4 * 7 * n)]
    raise ValueError(f"unknown op {op!r}")


def bench_kernels(devices, op_names, size, repeats, warmup, log=print) -> list[dict]:
    rows = []
    problems = _problems(size)
    for op in op_names:
        for device in devices:
            ops = _ops(device)
            rng = np.random.default_rng(0)
            try:
                cases = _kernel_cases(op, problems[op], ops, rng)
            except MemoryError as e:
                log(f"  {op} on {device}: {e}")
                continue
            for pas, shape, fn, flops, nbytes in cases:
                ms = _time(device, fn, repeats, warmup)
                rows.append(dict(op=op, device=device, **{"pass": pas}, shape=shape, ms=round(ms, 4),
                                 gflops=None if flops is None else round(flops / ms / 1e6, 2),
                                 gbps=None if nbytes is None else round(nbytes / ms / 1e6, 2)))
                log(f"  {op} {pas} on {device}: {ms:.3f} ms")
    return rows


# --- models ----------------------------------------------------------------------------
def _model_input(name, batch, size, rng):
    c, h, w = models.DEFAULT_INPUT[name]
    if size == "tiny":
        h, w = (16, 16) if name in ("mnist_cnn", "lenet5") else (h, w)
    return rng.standard_normal((batch, c, h, w)).astype(np.float32), rng.integers(0, 10, batch), (h, w)


def bench_model(name, device, batch, steps, warmup, size="default") -> dict:
    """Training steps per second of zoo model ``name`` on ``device`` (engine kernels)."""
    rng = np.random.default_rng(0)
    x, y, hw = _model_input(name, batch, size, rng)
    manual_seed(0)
    model = models.get(name, input_size=hw).to(device)
    ops = model.ops
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    crit = nn.CrossEntropyLoss().to(device)
    xd = ops.asarray(x)

    def step():
        opt.zero_grad()
        loss = crit(model(xd), y)  # host labels, as the Trainer passes them
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    dt = time.perf_counter() - t0
    return dict(model=name, device=device, batch_size=batch, images_per_sec=round(batch * steps / dt, 2),
                ms_per_step=round(dt / steps * 1e3, 3), steps=steps)


def bench_torch(name, batch, steps, warmup, tf32: bool, size="default") -> dict | None:
    """PyTorch's own throughput on its CUDA device for the same network (its twin,
    :mod:`engine.interop.torch_twin`), or None without torch or its CUDA."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    from .interop.torch_twin import to_torch
    rng = np.random.default_rng(0)
    x, y, hw = _model_input(name, batch, size, rng)
    manual_seed(0)
    tm = to_torch(models.get(name, input_size=hw)).cuda().train()
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True
    opt = torch.optim.SGD(tm.parameters(), lr=0.01, momentum=0.9)
    crit = torch.nn.CrossEntropyLoss()
    xt, yt = torch.tensor(x, device="cuda"), torch.tensor(y, device="cuda")

    def step():
        opt.zero_grad(set_to_none=False)
        loss = crit(tm(xt), yt)
        loss.backward()
        opt.step()
        return float(loss)  # the same one host sync per step as the engine

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return dict(model=name, device="torch-cuda" if tf32 else "torch-cuda-fp32", batch_size=batch,
                images_per_sec=round(batch * steps / dt, 2), ms_per_step=round(dt / steps * 1e3, 3), steps=steps)


# --- summary ---------------------------------------------------------------------------
def speedups(kernels: list[dict], models_: list[dict]) -> dict:
    by = {(r["op"], r["pass"], r["device"]): r["ms"] for r in kernels}
    ks = []
    for (op, pas, dev), ms in by.items():
        if dev == "cuda" and (op, pas, "cpu") in by and ms > 0:
            ks.append({"op": op, "pass": pas, "speedup": round(by[(op, pas, "cpu")] / ms, 2)})
    rate = {(r["model"], r["batch_size"], r["device"]): r.get("images_per_sec") for r in models_ if "error" not in r}
    ms_ = []
    for (model, batch, dev), ips in rate.items():
        if dev != "cuda" or not ips:
            continue
        row = {"model": model, "batch_size": batch}
        if rate.get((model, batch, "cpu")):
            row["speedup"] = round(ips / rate[(model, batch, "cpu")], 2)
        if rate.get((model, batch, "torch-cuda")):
            row["vs_torch"] = round(ips / rate[(model, batch, "torch-cuda")], 3)
        if rate.get((model, batch, "torch-cuda-fp32")):
            row["vs_torch_fp32"] = round(ips / rate[(model, batch, "torch-cuda-fp32")], 3)
        ms_.append(row)
    return {"kernels": ks, "models": ms_}


def format_table(result: dict) -> str:
    lines = []
    kernels = result.get("kernels", [])
    if kernels:
        devs = [d for d in ("cpu", "cuda") if any(r["device"] == d for r in kernels)]
        lines.append(f"Kernels: median of {result['repeats']} runs after {result['warmup']} warm-up "
                     f"({result['size']} shapes)")
        head = f"{'op':9s} {'pass':9s} {'shape':34s}"
        for d in devs:
            head += f" {d + ' ms':>11s} {'rate':>13s}"
        if len(devs) == 2:
            head += f" {'speed-up':>9s}"
        lines.append(head)
        seen = []
        for r in kernels:
            key = (r["op"], r["pass"])
            if key not in seen:
                seen.append(key)
        for op, pas in seen:
            rows = {r["device"]: r for r in kernels if r["op"] == op and r["pass"] == pas}
            shape = next(iter(rows.values()))["shape"]
            line = f"{op:9s} {pas:9s} {shape[:34]:34s}"
            for d in devs:
                r = rows.get(d)
                if r is None:
                    line += f" {'-':>11s} {'':>13s}"
                    continue
                rate = f"{r['gflops']:.1f} GFLOP/s" if r["gflops"] is not None else f"{r['gbps']:.1f} GB/s"
                line += f" {r['ms']:11.3f} {rate:>13s}"
            if len(devs) == 2 and "cpu" in rows and "cuda" in rows and rows["cuda"]["ms"] > 0:
                line += f" {rows['cpu']['ms'] / rows['cuda']['ms']:8.1f}x"
            lines.append(line)
    models_ = result.get("models", [])
    if models_:
        if lines:
            lines.append("")
        lines.append("Training throughput (images/s; forward + loss + backward + SGD step)")
        devs = []
        for r in models_:
            if r["device"] not in devs:
                devs.append(r["device"])
        head = f"{'model':11s} {'batch':>5s}" + "".join(f" {d:>16s}" for d in devs)
        extra = [("speedup", "cuda/cpu"), ("vs_torch", "cuda/torch"), ("vs_torch_fp32", "cuda/torch32")]
        sp = {(s["model"], s["batch_size"]): s for s in result.get("speedups", {}).get("models", [])}
        used = [(k, t) for k, t in extra if any(k in s for s in sp.values())]
        head += "".join(f" {t:>13s}" for _, t in used)
        lines.append(head)
        keys = []
        for r in models_:
            if (r["model"], r["batch_size"]) not in keys:
                keys.append((r["model"], r["batch_size"]))
        for model, batch in keys:
            line = f"{model:11s} {batch:5d}"
            for d in devs:
                r = next((r for r in models_ if (r["model"], r["batch_size"], r["device"]) == (model, batch, d)), None)
                if r is None:
                    cell = "-"
                elif "error" in r:
                    cell = "error"
                else:
                    cell = f"{r['images_per_sec']:.1f}"
                line += f" {cell:>16s}"
            s = sp.get((model, batch), {})
            line += "".join(f" {(str(s[k]) + 'x') if k in s else '-':>13s}" for k, _ in used)
            lines.append(line)
        errors = [r for r in models_ if "error" in r]
        for r in errors:
            lines.append(f"  {r['model']} on {r['device']}: {r['error']}")
    return "\n".join(lines)


# --- the run ----------------------------------------------------------------------------
def _device_names(devices) -> dict:
    names = {}
    for d in devices:
        if d == "cpu":
            names[d] = f"{platform.machine() or 'cpu'}, {get_threads()} threads"
        else:
            names[d] = cuda_kernels.device_name()
    return names


class BenchError(ValueError):
    """Benchmark settings that cannot run (one sentence)."""


def _op_names(ops, models_) -> list[str]:
    if ops is None:
        return [] if models_ else list(OPS)
    names = list(OPS) if ops in ("all", "") else [] if ops == "none" else \
        [o.strip() for o in (ops.split(",") if isinstance(ops, str) else ops) if o.strip()]
    unknown = [o for o in names if o not in OPS]
    if unknown:
        raise BenchError(f"unknown op(s) {', '.join(unknown)}; choose from {', '.join(OPS)}")
    return names


def run(devices=None, ops=None, models_=(), batch_size: int = 64, repeats=None, warmup=None, steps=None,
        cpu_steps=None, size=None, torch: bool = False, log=None) -> dict:
    """Runs the benchmark and returns its result (the JSON schema in the module docstring).

    devices: "cpu" and/or "cuda" (default: cpu, plus cuda when a GPU is usable); ops: kernel
    op names, "all" or "none" (default: every op, or none when ``models_`` are given);
    models_: zoo models whose training steps are timed with ``batch_size`` images;
    repeats / warmup: timed and untimed runs per kernel (default 5 and 2; 1 and 1 for tiny
    shapes); steps / cpu_steps: timed training steps per model on the GPU / CPU (default 10
    and 2; 1 for tiny); size: "tiny" or "default" (tiny under the CUDA simulator); torch:
    also time PyTorch's twin of each model on its CUDA device; log: a function that gets
    a line per measurement. BenchError for settings that cannot run."""
    log = log or (lambda line: None)
    if devices is None:
        devices = ["cpu"] + (["cuda"] if cuda_kernels.available() else [])
    else:
        devices = [d.strip() for d in (devices.split(",") if isinstance(devices, str) else devices) if d.strip()]
    for d in devices:
        if d not in ("cpu", "cuda"):
            raise BenchError(f"unknown device {d!r} (use cpu and/or cuda)")
    if "cuda" in devices:
        reason = cuda_kernels.unusable_reason()
        if reason:
            raise BenchError(f"CUDA was requested but {reason}")
    model_names = [m.strip() for m in (models_.split(",") if isinstance(models_, str) else models_) if m.strip()]
    bad = [m for m in model_names if m not in models.names()]
    if bad:
        raise BenchError(f"unknown model(s) {', '.join(bad)}; the zoo has {', '.join(models.names())}")
    op_names = _op_names(ops, model_names)
    if size not in (None, "tiny", "default"):
        raise BenchError(f"size must be 'tiny' or 'default', got {size!r}")
    sim = "cuda" in devices and cuda_kernels.SIM
    size = size or ("tiny" if sim else "default")
    tiny = size == "tiny"
    repeats = repeats if repeats is not None else (1 if tiny else 5)
    warmup = warmup if warmup is not None else (1 if tiny else 2)
    if sim:
        log("bench: running CUDA under the simulator: timings are meaningless, shapes are tiny")
    result = {"schema": "numbacnn.bench/1",
              "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "size": size, "repeats": repeats, "warmup": warmup, "devices": _device_names(devices),
              "kernels": [], "models": []}
    if op_names:
        result["kernels"] = bench_kernels(devices, op_names, size, repeats, warmup, log)
    gpu_steps = steps if steps is not None else (1 if tiny else 10)
    cpu_steps = cpu_steps if cpu_steps is not None else (1 if tiny else 2)
    batch = batch_size if not (tiny and batch_size == 64) else 2
    for name in model_names:
        for device in devices:
            try:
                row = bench_model(name, device, batch, gpu_steps if device == "cuda" else cpu_steps, 1, size)
            except MemoryError as e:
                row = dict(model=name, device=device, batch_size=batch, error=str(e))
                _ops(device).release()
            result["models"].append(row)
            log(f"  {name} on {device}: " + (row.get("error") or f"{row['images_per_sec']:.1f} images/s"))
        if torch and "cuda" in devices and not sim:
            for tf32 in (True, False):
                try:
                    row = bench_torch(name, batch, gpu_steps, 2, tf32, size)
                except Exception as e:  # noqa: BLE001 - torch's own failure (out of memory, ...) is a result row
                    row = dict(model=name, device="torch-cuda" if tf32 else "torch-cuda-fp32", batch_size=batch,
                               error=one_line(e))
                if row is not None:
                    result["models"].append(row)
    result["speedups"] = speedups(result["kernels"], result["models"])
    return result
