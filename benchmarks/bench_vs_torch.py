"""numbacnn vs PyTorch on the CPU, side by side: training and inference throughput, share of
the machine's sgemm peak, peak memory and time to the first training step.

    pip install torch==2.13.0          # the ``ref`` extra: pip install -e .[ref]
    python benchmarks/bench_vs_torch.py                 # the whole zoo, 2 threads
    python benchmarks/bench_vs_torch.py --models mnist_cnn,resnet20 --rounds 5 --quick

How it measures (all in one run, every process with the same settings):

* Each engine runs in its own worker process (ours imports no torch; torch's imports
  no Numba), so peak resident memory (``ru_maxrss``) is each one's own. Both use the same
  thread count (``--threads``, default 2): ours through ``engine.train.threads.set_threads``
  (its kernel thread pool; OpenBLAS on one thread), torch through ``torch.set_num_threads``;
  OMP/MKL/OPENBLAS_NUM_THREADS are set to it for both.
* The two workers get the same model (torch's is built from our JSON spec and loads our
  weights), the same random batch (a tensor that does not require grad), cross-entropy and
  SGD(lr=0.01, momentum=0.9), and run the same user-level step, each in its own API:
  ``loss = crit(model(x), y); opt.zero_grad(); loss.backward(); opt.step()`` for training
  and ``with inference_mode(): model(x)`` (after ``model.eval()``) for inference.
* Throughput: after warm-up, timed windows (about ``--window`` seconds each) alternate
  between the two workers, ours then torch then torch then ours ..., so both see the same
  machine load; the table gives the median window and the ratio ours / torch of the
  medians, plus the median of the per-round ratios (adjacent windows).
* Each window also records the worker's process CPU time: with ``--threads 1`` the CPU-time
  ratio is the ratio of the work done, unaffected by other processes taking time slices
  on a shared machine (with more threads, torch's OpenMP spin-waits count as CPU time).
* GFLOP/s: forward FLOPs = 2 x MACs (from the engine's summary); a training step counts
  3 x forward (forward, input gradient, weight gradient); "executed" counts the layers run
  by Winograd F(4x4, 3x3) at a quarter of their multiplies. The sgemm peak is numpy's
  float32 matmul of 512x4608 by 4608x2048 (best of several) measured in this run.
* Start-up: wall time from launching a fresh ``python`` to the end of its first training
  step, once with an empty Numba cache (NUMBA_CACHE_DIR set to a new folder: every kernel
  compiles) and once more with that cache warm.

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, when set in the environment, make current numpy's
OpenBLAS pick slower kernels; this script removes both from its workers' environment (and
says so in the results). Tests and CI never change them.

Results go to ``benchmarks/results_cpu_vs_torch.md`` (``--out``) as Markdown tables with
the machine's description.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

MODELS = {  # the whole zoo, name: (batch size, input shape); the four headline models first
    "mnist_cnn": (64, (1, 28, 28)),
    "cifar_cnn": (64, (3, 32, 32)),
    "resnet20": (128, (3, 32, 32)),
    "vgg16": (128, (3, 32, 32)),
    "lenet5": (64, (1, 28, 28)),
    "alexnet": (128, (3, 32, 32)),
    "zfnet": (128, (3, 32, 32)),
    "vgg11": (128, (3, 32, 32)),
    "googlenet": (32, (3, 32, 32)),     # 1.45 GMAC per image: a step of 32 takes seconds
    "resnet18": (64, (3, 32, 32)),
}
TARGETS = {  # ours / torch, training and inference (numbacnn issue 21)
    "mnist_cnn": (2.5, 1.2), "cifar_cnn": (2.0, 1.2), "resnet20": (1.5, 1.2), "vgg16": (1.3, 1.2),
    **{name: (1.2, 1.2) for name in ("lenet5", "alexnet", "zfnet", "vgg11", "googlenet", "resnet18")},
}
UNSET_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
LR, MOMENTUM = 0.01, 0.9


# ----------------------------------------------------------------------------------- workers
def _rss_mib() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _current_rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _batch(shape, batch):
    import numpy as np
    rng = np.random.default_rng(1234)
    x = rng.standard_normal((batch,) + tuple(shape)).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    return x, y


def _winograd_macs(model, summary) -> int:
    """Multiply-accumulates per image (counted as a direct convolution) of the layers the
    CPU kernels run by Winograd F(4x4, 3x3), which does a quarter of their multiplies."""
    from engine import nn
    from engine.kernels.cpu import winograd
    layers = dict(model.named_modules())
    total = 0
    for name, _, shape, _, macs in summary.rows:
        m = layers.get(name)
        if isinstance(m, nn.Conv2d) and winograd.suitable(m.in_channels, m.out_channels, *m.kernel_size, *m.stride,
                                                          *m.padding, shape[1], shape[2]):
            total += macs
    return int(total)


class OursRunner:
    def __init__(self, name, batch, threads, tmpdir):
        import numpy as np
        sys.path.insert(0, ROOT)
        from engine import from_numpy, inference_mode, manual_seed, models, nn, optim
        from engine.train.threads import set_threads
        set_threads(threads)
        self.inference_mode = inference_mode
        self.base_rss = _current_rss_mib()
        manual_seed(0)
        self.model = models.get(name)
        x, y = _batch(MODELS[name][1], batch)
        self.x, self.y = from_numpy(x), from_numpy(y)
        self.crit = nn.CrossEntropyLoss()
        self.opt = optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        s = nn.summary(self.model, MODELS[name][1])
        self.info = {"macs_per_image": int(s.total_macs), "params": int(s.total_params),
                     "winograd_macs_per_image": _winograd_macs(self.model, s)}
        if tmpdir:
            with open(os.path.join(tmpdir, "spec.json"), "w") as f:
                json.dump(self.model.spec(), f)
            np.savez(os.path.join(tmpdir, "weights.npz"), **self.model.state_dict())

    def train(self):
        m = self.model
        if not m.training:
            m.train()
        loss = self.crit(m(self.x), self.y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()

    def infer(self):
        if self.model.training:
            self.model.eval()
        with self.inference_mode():  # as torch.inference_mode() for torch
            self.model(self.x)


class TorchRunner:
    def __init__(self, name, batch, threads, tmpdir):
        import numpy as np
        import torch
        # the engine's torch translator alone, by its path: this process carries none of the engine
        spec = importlib.util.spec_from_file_location("torch_twin", os.path.join(ROOT, "engine", "interop",
                                                                                 "torch_twin.py"))
        twin = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(twin)
        from_spec, load_weights = twin.from_spec, twin.load_weights
        torch.set_num_threads(threads)
        self.base_rss = _current_rss_mib()
        with open(os.path.join(tmpdir, "spec.json")) as f:
            self.model = from_spec(json.load(f))
        with np.load(os.path.join(tmpdir, "weights.npz")) as w:
            load_weights(self.model, dict(w))
        x, y = _batch(MODELS[name][1], batch)
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.crit = torch.nn.CrossEntropyLoss()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.torch = torch
        self.info = {"threads": torch.get_num_threads()}

    def train(self):
        m = self.model
        if not m.training:
            m.train()
        loss = self.crit(m(self.x), self.y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()

    def infer(self):
        if self.model.training:
            self.model.eval()
        with self.torch.inference_mode():
            self.model(self.x)


def worker(args):
    """Line protocol on stdin/stdout: one JSON command per line, one JSON answer per line."""
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing else may write on the protocol channel
    cls = OursRunner if args.worker == "ours" else TorchRunner
    r = cls(args.model, args.batch, args.threads, args.tmpdir)
    out.write(json.dumps({"ready": True, "base_rss_mib": r.base_rss, **r.info}) + "\n")
    out.flush()
    for line in sys.stdin:
        cmd = json.loads(line)
        fn = r.train if cmd["cmd"] == "train" else r.infer if cmd["cmd"] == "infer" else None
        if fn is not None:
            n = cmd.get("iters", 1)
            t, c = time.perf_counter(), time.process_time()
            for _ in range(n):
                fn()
            ans = {"seconds": time.perf_counter() - t, "cpu_seconds": time.process_time() - c, "iters": n}
        elif cmd["cmd"] == "rss":
            ans = {"peak_rss_mib": _rss_mib()}
        else:
            break
        out.write(json.dumps(ans) + "\n")
        out.flush()


def startup_worker(args):
    """Fresh process: import, build, one training step; prints the wall clock at its end."""
    sys.path.insert(0, ROOT)
    import numpy as np  # noqa: F401
    if args.worker == "startup-ours":
        r = OursRunner(args.model, args.batch, args.threads, None)
    else:
        tmp = args.tmpdir
        r = TorchRunner(args.model, args.batch, args.threads, tmp)
    r.train()
    print(json.dumps({"end": time.time()}))


def sgemm_worker(args):
    import numpy as np
    # numpy's OpenBLAS on args.threads threads (OPENBLAS_NUM_THREADS, set by child_env
    # before numpy loaded): the machine's peak, not the engine's one-thread-per-block calls
    res = {}
    shapes = [(512, 4608, 2048), (128, 1152, 32768), (64, 576, 131072), (16, 144, 131072)]
    for m, k, n in shapes[:1] if args.model == "peak-only" else shapes:
        a = np.random.default_rng(0).random((m, k), np.float32)
        b = np.random.default_rng(1).random((k, n), np.float32)
        c = np.empty((m, n), np.float32)
        np.matmul(a, b, out=c)
        best = float("inf")
        for _ in range(args.rounds):
            t = time.perf_counter()
            np.matmul(a, b, out=c)
            best = min(best, time.perf_counter() - t)
        res[f"{m}x{k}x{n}"] = 2 * m * k * n / best / 1e9
    try:
        from threadpoolctl import threadpool_info
        res["blas"] = [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
                       for i in threadpool_info() if i.get("user_api") == "blas"]
    except ImportError:
        cfg = np.show_config(mode="dicts") if "mode" in np.show_config.__code__.co_varnames else {}
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        res["blas"] = [{"internal_api": blas.get("name"), "version": blas.get("version"),
                        "architecture": "(threadpoolctl not installed: kernel not checked)",
                        "num_threads": args.threads}]
    print(json.dumps(res))


# ------------------------------------------------------------------------------ orchestrator
def child_env(threads, extra=None):
    env = {k: v for k, v in os.environ.items() if k not in UNSET_ENV}
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[k] = str(threads)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


class Worker:
    def __init__(self, kind, model, batch, threads, tmpdir):
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--model", model,
               "--batch", str(batch), "--threads", str(threads), "--tmpdir", tmpdir]
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  env=child_env(threads), cwd=ROOT)
        self.hello = self._read()

    def _read(self):
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark worker died (exit {self.p.wait()})")
        return json.loads(line)

    def ask(self, **cmd):
        self.p.stdin.write(json.dumps(cmd) + "\n")
        self.p.stdin.flush()
        return self._read()

    def close(self):
        try:
            self.p.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.p.stdin.close()
        except OSError:
            pass
        self.p.wait()


def measure(a, b, cmd, window, rounds, warmup):
    """Alternating timed windows of a and b; returns per-iteration wall seconds of each
    window, then per-iteration process CPU seconds of each."""
    for w in (a, b):
        w.ask(cmd=cmd, iters=warmup)
    iters = []
    for w in (a, b):  # calibrate: iterations for about `window` seconds
        t = w.ask(cmd=cmd, iters=1)["seconds"]
        iters.append(max(1, int(round(window / max(t, 1e-6)))))
    ta, tb, ca, cb = [], [], [], []
    for r in range(rounds):
        order = [(a, iters[0], ta, ca), (b, iters[1], tb, cb)]
        if r % 2:
            order.reverse()
        for w, n, acc, cpu in order:
            ans = w.ask(cmd=cmd, iters=n)
            acc.append(ans["seconds"] / ans["iters"])
            cpu.append(ans["cpu_seconds"] / ans["iters"])
    return ta, tb, ca, cb


def loadavg():
    try:
        return tuple(round(v, 2) for v in os.getloadavg())
    except OSError:
        return None


def machine_description(threads):
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 2**20:.1f} GiB RAM"
    except OSError:
        pass
    import numba
    import numpy
    vers = f"numpy {numpy.__version__}, numba {numba.__version__}"
    try:
        import torch
        vers += f", torch {torch.__version__}"
    except ImportError:
        pass
    return (f"{cpu}, {os.cpu_count()} logical CPUs, {mem}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}; {vers}; {threads} threads for both engines")


def run_sgemm(threads, rounds, peak_only=False):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "sgemm", "--threads", str(threads),
           "--rounds", str(rounds)] + (["--model", "peak-only"] if peak_only else [])
    sg = subprocess.run(cmd, capture_output=True, text=True, env=child_env(threads), cwd=ROOT)
    if sg.returncode != 0:
        raise RuntimeError(sg.stderr[-2000:])
    return json.loads(sg.stdout.strip().splitlines()[-1])


def startup_time(kind, model, batch, threads, cache_dir, tmpdir):
    env = child_env(threads, {"NUMBA_CACHE_DIR": cache_dir})
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--model", model,
           "--batch", str(batch), "--threads", str(threads), "--tmpdir", tmpdir]
    t0 = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"start-up run failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["end"] - t0


def fmt_ratio(r, target):
    mark = "yes" if r >= target else "**no**"
    return f"{r:.2f}x (>= {target:g}: {mark})"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated zoo names")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--window", type=float, default=1.0, help="seconds per timed window")
    p.add_argument("--rounds", type=int, default=7, help="timed windows per engine")
    p.add_argument("--warmup", type=int, default=3, help="untimed iterations first")
    p.add_argument("--no-startup", action="store_true", help="skip the start-up measurements")
    p.add_argument("--quick", action="store_true", help="--rounds 3 --window 0.5 --no-startup")
    p.add_argument("--out", default=os.path.join(HERE, "results_cpu_vs_torch.md"))
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    p.add_argument("--tmpdir", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker in ("ours", "torch"):
        return worker(args)
    if args.worker in ("startup-ours", "startup-torch"):
        return startup_worker(args)
    if args.worker == "sgemm":
        return sgemm_worker(args)

    if importlib.util.find_spec("torch") is None:
        print("bench_vs_torch: PyTorch is not installed. This benchmark compares against "
              "torch==2.13.0 (CPU): install it with `pip install torch==2.13.0` or the project's "
              "`ref` extra (`pip install -e .[ref]`).", file=sys.stderr)
        return 2
    if args.quick:
        args.rounds, args.window, args.no_startup = 3, 0.5, True
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    for n in names:
        if n not in MODELS:
            p.error(f"unknown model {n!r}; choose from {', '.join(MODELS)}")
    T = args.threads
    unset = [k for k in UNSET_ENV if k in os.environ]
    load0 = loadavg()
    print(f"machine: {machine_description(T)}; load average {load0}", flush=True)
    if unset:
        print(f"removed {', '.join(unset)} from the workers' environment", flush=True)

    sgemm = run_sgemm(T, 10)
    peak = sgemm["512x4608x2048"]
    print(f"sgemm: {json.dumps(sgemm)}", flush=True)

    rows = []
    for name in names:
        batch = MODELS[name][0]
        with tempfile.TemporaryDirectory() as tmp:
            ours = Worker("ours", name, batch, T, tmp)
            theirs = Worker("torch", name, batch, T, tmp)
            try:
                res = {"name": name, "batch": batch, "macs": ours.hello["macs_per_image"],
                       "winograd_macs": ours.hello["winograd_macs_per_image"]}
                # the machine's load drifts: the sgemm peak next to this model's windows
                res["peak"] = run_sgemm(T, 5, peak_only=True)["512x4608x2048"]
                for cmd in ("train", "infer"):
                    to, tt, co, ct = measure(ours, theirs, cmd, args.window, args.rounds, args.warmup)
                    res[cmd] = (statistics.median(to), statistics.median(tt),
                                statistics.median([b / a for a, b in zip(to, tt)]))
                    res[cmd + "_cpu"] = (statistics.median(co), statistics.median(ct))
                    if cmd == "train":
                        res["rss_train"] = (ours.ask(cmd="rss")["peak_rss_mib"],
                                            theirs.ask(cmd="rss")["peak_rss_mib"])
                    print(f"{name} {cmd}: ours {batch / res[cmd][0]:.0f} img/s, torch "
                          f"{batch / res[cmd][1]:.0f} img/s, ratio {res[cmd][1] / res[cmd][0]:.2f} "
                          f"(median of rounds {res[cmd][2]:.2f}; process CPU time ratio "
                          f"{res[cmd + '_cpu'][1] / res[cmd + '_cpu'][0]:.2f})", flush=True)
                res["rss"] = (ours.ask(cmd="rss")["peak_rss_mib"], theirs.ask(cmd="rss")["peak_rss_mib"])
                res["base_rss"] = (ours.hello["base_rss_mib"], theirs.hello["base_rss_mib"])
            finally:
                ours.close()
                theirs.close()
            if not args.no_startup:
                with tempfile.TemporaryDirectory() as cache:
                    cold = startup_time("startup-ours", name, batch, T, cache, tmp)
                    warm = startup_time("startup-ours", name, batch, T, cache, tmp)
                # torch's own start (import torch, build from our spec, first step) for reference
                tstart = startup_time("startup-torch", name, batch, T, tempfile.gettempdir(), tmp)
                res["startup"] = (cold, warm, tstart)
                print(f"{name} start-up: cold {cold:.1f} s, warm {warm:.2f} s (torch {tstart:.2f} s)",
                      flush=True)
        rows.append(res)

    load1 = loadavg()
    write_results(args, rows, sgemm, peak, unset, load0, load1)
    print(f"wrote {args.out}")
    return 0


def write_results(args, rows, sgemm, peak, unset, load0, load1):
    T = args.threads
    L = ["# numbacnn vs PyTorch on the CPU", "",
         f"Generated by `python benchmarks/bench_vs_torch.py` on {time.strftime('%Y-%m-%d %H:%M')}.", "",
         f"**Machine:** {machine_description(T)}.", "",
         f"**Load average** (1, 5, 15 min) at start {load0}, at end {load1}: on a shared machine "
         "other processes take cores too; both engines' windows are interleaved so they see the "
         "same load, and the ratios are the figures to read.", "",
         f"**BLAS:** {json.dumps(sgemm.get('blas'))}. "
         + (f"Removed from the workers' environment: {', '.join(unset)}." if unset else
            "OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE were not set."), "",
         "**sgemm peak** (numpy float32 matmul, best of 10, this run): "
         + ", ".join(f"{k}: {v:.0f} GFLOP/s" for k, v in sgemm.items() if k != "blas") + ".", "",
         f"Settings: {args.rounds} timed windows of ~{args.window} s per engine and mode after "
         f"{args.warmup} warm-up iterations, alternating ours/torch; SGD(lr={LR}, momentum={MOMENTUM}), "
         "cross-entropy, random data. Throughput = batch / median seconds per iteration. "
         "Ratio = ours / torch (median-window ratio; in brackets the median of the per-round "
         "ratios). Training FLOPs = 3 x forward FLOPs, counted as direct convolution "
         "(\"direct-equivalent\"); \"executed\" counts the layers run by Winograd F(4x4, 3x3) "
         "(their share of the MACs in the Winograd column) at a quarter of their multiplies, which "
         "is what the machine actually computes; the peak for the percentage is sgemm measured "
         "just before that model's windows.", "",
         "## Throughput (images/s)", "",
         "| model | batch | train ours | train torch | train ratio (target) | infer ours | infer torch "
         "| infer ratio (target) | Winograd share of MACs | ours train GFLOP/s, direct-equivalent / executed "
         "(executed % of sgemm peak, GFLOP/s) |",
         "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b = r["batch"]
        (to, tt, tr), (io, it, ir) = r["train"], r["infer"]
        gf = 3 * 2 * r["macs"] * b / to / 1e9
        ex = 3 * 2 * (r["macs"] - 0.75 * r["winograd_macs"]) * b / to / 1e9
        pk = max(r.get("peak", peak), 1e-9)
        L.append(f"| {r['name']} | {b} | {b / to:.0f} | {b / tt:.0f} | "
                 f"{fmt_ratio(tt / to, TARGETS[r['name']][0])} [{tr:.2f}] | {b / io:.0f} | {b / it:.0f} | "
                 f"{fmt_ratio(it / io, TARGETS[r['name']][1])} [{ir:.2f}] | "
                 f"{100 * r['winograd_macs'] / max(r['macs'], 1):.0f}% | "
                 f"{gf:.1f} / {ex:.1f} ({100 * ex / pk:.0f}% of {pk:.0f}) |")
    L += ["", "## Process CPU time per iteration (ms)", "",
          "CPU seconds the worker process used per iteration in the same windows (all its threads). "
          "With one thread this is the work each engine does, whatever else runs on the machine "
          "(wall-clock windows on a shared machine also count the time slices other processes take); "
          "with more threads it also counts time spent spinning at barriers (torch's OpenMP waits "
          "actively), so the wall-clock ratios above are the figures to read there.", "",
          "| model | train ours | train torch | train CPU-time ratio | infer ours | infer torch "
          "| infer CPU-time ratio |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        (tco, tct), (ico, ict) = r["train_cpu"], r["infer_cpu"]
        L.append(f"| {r['name']} | {1e3 * tco:.1f} | {1e3 * tct:.1f} | {tct / tco:.2f}x | {1e3 * ico:.1f} | "
                 f"{1e3 * ict:.1f} | {ict / ico:.2f}x |")
    L += ["", "## Peak resident memory (MiB, each engine in its own process)", "",
          "Peak RSS of the whole worker process (training windows, then inference); in brackets "
          "the RSS right after imports and thread set-up, before the model was built.", "",
          "| model | ours peak | torch peak | ours <= torch |", "|---|---|---|---|"]
    for r in rows:
        (mo, mt), (bo, bt) = r["rss"], r["base_rss"]
        L.append(f"| {r['name']} | {mo:.0f} [{bo:.0f}] | {mt:.0f} [{bt:.0f}] | "
                 f"{'yes' if mo <= mt else '**no**'} |")
    if any("startup" in r for r in rows):
        L += ["", "## Time from a fresh `python` to the end of the first training step (s)", "",
              "The first step itself is part of the time: on the larger models one steady-state "
              "step (the throughput windows' median) takes seconds by itself, so the table also "
              "gives the warm start beyond that one step (imports, model build, loading the "
              "cached kernels, first-touch allocations).", "",
              "| model | ours, empty Numba cache (target <= 30) | ours, warm cache (target <= 2) "
              "| one steady step | warm start beyond one step | torch |",
              "|---|---|---|---|---|---|"]
        for r in rows:
            if "startup" in r:
                c, w, t = r["startup"]
                step = r["train"][0]
                L.append(f"| {r['name']} | {c:.1f} ({'yes' if c <= 30 else '**no**'}) | "
                         f"{w:.2f} ({'yes' if w <= 2 else '**no**'}) | {step:.2f} | "
                         f"{w - step:.2f} ({'yes' if w - step <= 2 else '**no**'}) | {t:.2f} |")
    with open(args.out, "w") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    sys.exit(main())
