"""Data-pipeline throughput: how fast the loader feeds the engine.

    python benchmarks/bench_data.py [--data ../shared/data] [--epochs 3] [--write benchmarks/results_data.md]

Measures, with the consumer doing nothing else:

* MNIST, batch 64, shuffle + ToTensor + Normalize (target: >= 500,000 img/s on 2 cores);
* CIFAR-10 from the shared JPEG archive: first-open decode of the 50,000
  JPEGs into a fresh cache (target: < 30 s), re-open from the cache, and
  batch 128 with RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor
  + Normalize (target: >= 100,000 img/s).

Throughput is reported per num_workers as the best and the median of
``--epochs`` full epochs (the best is the least disturbed by other load).
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import datasets  # noqa: E402
from engine.data import DataLoader  # noqa: E402
from engine.data import transforms as T  # noqa: E402


def machine():
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (f"{cpu}; {os.cpu_count()} logical cores; load average at start {load}; Python "
            f"{platform.python_version()}, NumPy {np.__version__}, Numba {numba.__version__}")


def throughput(loader, epochs):
    """(best, median, per CPU-second) images per second over ``epochs`` full
    epochs, after a warm-up batch. The last is images per second of CPU time
    used by this process (all threads): what one core delivers, whatever else
    the machine is running."""
    next(iter(loader))
    rates, cpu_rates = [], []
    for _ in range(epochs):
        n, t0, c0 = 0, time.perf_counter(), time.process_time()
        for x, _ in loader:
            n += len(x)
        rates.append(n / (time.perf_counter() - t0))
        cpu_rates.append(n / (time.process_time() - c0))
    return max(rates), statistics.median(rates), max(cpu_rates)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--skip-decode", action="store_true", help="use the existing cache instead of timing a decode")
    parser.add_argument("--write", type=Path, help="write the results as markdown here")
    args = parser.parse_args()

    rows = []
    described = machine()
    print(described)
    mnist = datasets.MNIST(args.data, train=True,
                           transform=T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))]))
    for w in args.workers:
        rates = throughput(DataLoader(mnist, batch_size=64, shuffle=True, num_workers=w, seed=0), args.epochs)
        rows.append(("MNIST, batch 64, shuffle + ToTensor + Normalize", w) + rates + (500_000,))
        print(f"MNIST  workers={w}: best {rates[0]:,.0f} img/s, median {rates[1]:,.0f} img/s, "
              f"{rates[2]:,.0f} img per CPU-second")

    archive = args.data / "cifar10-train-jpg.tar.gz"
    decode = None
    if not args.skip_decode:
        with tempfile.TemporaryDirectory() as cache:
            os.environ["NUMBACNN_CACHE"] = cache
            t0, c0 = time.perf_counter(), time.process_time()
            datasets.ImageFolder(archive)
            decode, decode_cpu = time.perf_counter() - t0, time.process_time() - c0
            t0 = time.perf_counter()
            datasets.ImageFolder(archive)
            reopen = time.perf_counter() - t0
            del os.environ["NUMBACNN_CACHE"]
        print(f"CIFAR-10 JPEG archive: first open (decode) {decode:.1f} s ({decode_cpu:.1f} s of CPU), "
              f"re-open from cache {reopen:.2f} s")
    cifar = datasets.ImageFolder(archive, transform=T.Compose([
        T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
        T.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))]))
    for w in args.workers:
        rates = throughput(DataLoader(cifar, batch_size=128, shuffle=True, num_workers=w, seed=0), args.epochs)
        rows.append(("CIFAR-10, batch 128, RandomCrop(32, 4) + flip + ToTensor + Normalize", w) + rates + (100_000,))
        print(f"CIFAR  workers={w}: best {rates[0]:,.0f} img/s, median {rates[1]:,.0f} img/s, "
              f"{rates[2]:,.0f} img per CPU-second")

    if args.write:
        lines = ["# Data pipeline benchmark (`benchmarks/bench_data.py`)", "", f"Machine: {described}", "",
                 f"Loader only (the consumer does nothing). best / median: over {args.epochs} full epochs of "
                 "wall-clock time; img per CPU-second: images per second of CPU time used by the process "
                 "(all threads), i.e. what one otherwise idle core delivers, whatever else the machine runs.", "",
                 "| pipeline | num_workers | best img/s | median img/s | img per CPU-second | target img/s |",
                 "| --- | ---: | ---: | ---: | ---: | ---: |"]
        lines += [f"| {name} | {w} | {best:,.0f} | {median:,.0f} | {cpu:,.0f} | {target:,} |"
                  for name, w, best, median, cpu, target in rows]
        if decode is not None:
            lines += ["", f"CIFAR-10 JPEG archive (50,000 images): first open, decoding into a fresh cache, "
                          f"{decode:.1f} s wall, {decode_cpu:.1f} s CPU (target < 30 s); "
                          f"re-open from the cache {reopen:.2f} s."]
        args.write.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
