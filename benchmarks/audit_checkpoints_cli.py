"""Audit of checkpoints and the command line against damaged files and hostile invocations
(issue 14: "no input crashes the process, no run is ever overwritten").

    python benchmarks/audit_checkpoints_cli.py [--seed 0] [--flips 400] [--cuts 100] [--package-root PATH]

Checkpoints: a reproducible corpus (seeded) built from two real checkpoints (Adam +
OneCycleLR and SGD + StepLR, with BatchNorm, Dropout, EarlyStopping and ModelCheckpoint
state; tests/helpers/checkpoint_corruptions.py): bit flips, truncations, every array edited
(shape, dtype, NaN/inf, layout, missing, extra) and every JSON entry deleted or replaced
by garbage, deep nesting, implausible sizes. Each file is loaded, its model built and run,
restored into a trainer of its recipe and trained one more epoch. Handled cleanly: one
CheckpointError line that names the file (today: "checkpoint FILE ...", counted below the
table when another wording is used) or a run that ends normally.

Command line: hostile invocations of ``numbacnn`` (bad schedules and options, bench
arguments and unwritable --json paths, resumes that would overwrite a run or change the
data split, damaged checkpoints, decompression bombs, an exploding learning rate) on a
tiny image folder. Handled cleanly: the expected exit status with exactly one line on
stderr saying what (or a normal run where the option is honoured), and no file of
another run changed.

Every case runs in a worker process that handles many cases and is restarted after a
crash, so a signal, a hang (--timeout) or a memory blow-up (peak resident memory growing
by more than 512 MB on one case) is counted against the case that caused it.
``--package-root`` audits the ``engine`` of another checkout (an older commit) with the
same corpus. Prints one table row per category.
"""

import argparse
import contextlib
import io
import json
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from helpers import checkpoint_corruptions as cc  # noqa: E402 - the corpus and what a user does with a checkpoint

MEMORY_MB = 512


# --- workers ---------------------------------------------------------------------------------------
def run_workers(cmd, items, env, timeout):
    """Feeds ``items`` ((key, line) pairs) to worker processes ``cmd`` (one JSON answer
    [key, ...] per line after "START key"), restarting after a crash or a hang; returns
    {key: answer list, or ["crash", what] / ["hang", what]}."""
    results, pending = {}, list(items)
    while pending:
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=ROOT, env=env)
        try:
            out, err = p.communicate("".join(line + "\n" for _, line in pending), timeout=timeout * len(pending) + 60)
            hung = False
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            hung = True
        started = [ln[6:] for ln in out.splitlines() if ln.startswith("START ")]
        for ln in out.splitlines():
            if ln.startswith("["):
                answer = json.loads(ln)
                results[answer[0]] = answer[1:]
        if p.returncode == 0 and not hung:
            break
        culprit = next((k for k in reversed(started) if k not in results), None)
        if culprit is None:             # died before its first case: report them all
            culprit = pending[0][0]
        what = "no answer in time" if hung else \
            f"signal {-p.returncode}" if p.returncode < 0 else f"exit {p.returncode}: {err.strip()[-200:]}"
        results[culprit] = ["hang" if hung else "crash", what]
        pending = [(k, line) for k, line in pending if k not in results]
    return results


def cli_worker():
    """Runs ``numbacnn`` argv lines ({"key", "argv"} JSON) in this process: prints
    "START key" then [key, exit status, stderr, peak-memory growth in MB]."""
    from engine import cli
    for line in sys.stdin:
        case = json.loads(line)
        print("START", case["key"], flush=True)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = cli.main(case["argv"])
            except SystemExit as e:
                rc = e.code if isinstance(e.code, int) else 1
            except BaseException as e:  # noqa: BLE001 - what escapes main is what the audit looks for
                rc, err = "raised", io.StringIO(f"{type(e).__name__}: {e}")
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
        print(json.dumps([case["key"], rc, err.getvalue(), round(grown)]), flush=True)


# --- the checkpoint corpus -------------------------------------------------------------------------------
def checkpoint_corpus(folder, rng, flips, cuts):
    """[(category, key, path, recipe)] of damaged checkpoints written into ``folder``."""
    cases = []
    for opt in ("adam", "sgd"):
        base = cc.base_checkpoint(str(folder / f"base-{opt}"), opt)
        data = open(base, "rb").read()
        packed, arrays = cc.read_parts(base)
        for i in range(flips):
            n = rng.choice([1, 1, 2, 3])
            path = folder / f"{opt}-flip{i}.npz"
            path.write_bytes(cc.byte_edit(data, [(rng.randrange(len(data)), rng.randrange(8)) for _ in range(n)]))
            cases.append(("checkpoint: bit flips", str(path), str(path), opt))
        for i in range(cuts):
            path = folder / f"{opt}-cut{i}.npz"
            path.write_bytes(cc.byte_edit(data, cut=rng.randrange(len(data))))
            cases.append(("checkpoint: truncations", str(path), str(path), opt))
        for i, (name, p, a, text) in enumerate(cc.structural_cases(packed, arrays)):
            path = folder / f"{opt}-edit{i}.npz"
            cc.write_parts(path, p, a, text)
            kind = "array edits" if name.startswith("array") or name == "extra member" else \
                "JSON edits" if name.startswith("json ") and "nested" not in name else "sizes, nesting, text"
            cases.append((f"checkpoint: {kind}", f"{str(path)}", str(path), opt))
    return cases


# --- the command-line corpus ------------------------------------------------------------------------------
def png_header(path, width, height):
    """A PNG that declares width x height (no pixel data: only its header is read)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


def cli_corpus(folder, env):
    """[(category, key, argv, expected status, needle, folder that must not change)]."""
    from engine import nn
    from engine.train import save_checkpoint
    rng = np.random.default_rng(0)
    data = folder / "data"
    for c in ("a", "b"):
        (data / c).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(data / c / f"{i}.png")
    spec = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 2))
    (folder / "tiny.json").write_text(json.dumps(spec.spec()))
    common = ["--dataset", str(data), "--model", str(folder / "tiny.json"), "--batch-size", "4", "--workers", "0",
              "--quiet"]
    for name, extra in (("A", []), ("S", ["--schedule", "step:1:0.5", "--optimizer", "sgd"])):
        r = subprocess.run([sys.executable, "-m", "engine", "train", *common, *extra, "--epochs", "2", "--out",
                            str(folder / name)], cwd=ROOT, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"could not train the audit's base run: {r.stderr[-500:]}")
    # a later last.npz beside best.npz: run A on with a high rate
    shutil.copytree(folder / "A", folder / "L")
    subprocess.run([sys.executable, "-m", "engine", "train", "--resume", str(folder / "L" / "last.npz"), "--epochs",
                    "4", "--lr", "5", "--quiet"], cwd=ROOT, env=env, capture_output=True)
    cases = []
    copies = iter(range(10**6))

    def fresh(name):
        """A copy of run ``name`` for one case (so each case's run files are its own)."""
        dst = folder / f"{name}-{next(copies)}"
        shutil.copytree(folder / name, dst)
        return dst
    A = folder / "A"

    def add(category, argv, status=2, needle=None, keep=None):
        cases.append((category, f"{category}: {' '.join(map(str, argv))}", [str(a) for a in argv], status, needle,
                      keep))

    for argv, needle in ((["--batch-size", "0"], "--batch-size"), (["--epochs", "0"], "--epochs"),
                         (["--lr", "-1"], "--lr"), (["--lr", "nan"], "--lr"), (["--val-split", "1.5"], "--val-split"),
                         (["--label-smoothing", "2"], "--label-smoothing"), (["--image-size", "0"], "--image-size"),
                         (["--workers", "-1"], "--workers"), (["--model", "resnet99"], "unknown model"),
                         (["--augment", "rotate"], "--augment"), (["--out", "A"], "already holds a run")):
        run = fresh("A")
        argv = [str(run) if a == "A" else a for a in argv]
        add("cli: train options", ["train", *common, *argv, *([] if "--out" in argv else ["--out", run])],
            needle=needle, keep=run)
    for sched in ("step:nan", "step:1:nan", "plateau:-3", "plateau:2.5", "exp:inf", "multistep:0,2", "cosine:nan",
                  "step:1:-0.5", "plateau:2:1.5", "onecycle:2", "exp:0", "warp", "step"):
        add("cli: schedules", ["train", *common, "--schedule", sched, "--epochs", "1", "--out", folder / "x"],
            needle="--schedule")
    blocker = folder / "a-file"
    blocker.write_text("x")
    for argv, needle in ((["--batch-size", "0"], "--batch-size"), (["--repeats", "0"], "--repeats"),
                         (["--steps", "-1"], "--steps"), (["--cpu-steps", "0"], "--cpu-steps"),
                         (["--warmup", "x"], "--warmup"), (["--json", str(blocker / "b.json")], "--json"),
                         (["--json", str(folder)], "--json"), (["--device", "tpu"], "tpu"),
                         (["--ops", "nope"], "nope"), (["--model", "nonet"], "nonet")):
        add("cli: bench", ["bench", "--device", "cpu", "--ops", "relu", *argv], needle=needle)
    other = fresh("S")
    add("cli: resume", ["train", "--resume", A / "last.npz", "--epochs", "3", "--out", other], needle="already holds",
        keep=other)
    run = fresh("L")
    add("cli: resume", ["train", "--resume", run / "best.npz", "--epochs", "5"], needle="goes on to epoch", keep=run)
    for argv, needle in ((["--val-split", "0.3"], "--val-split"), (["--seed", "5"], "--seed"),
                         (["--train-size", "8"], "--train-size"), (["--dataset", "mnist"], "--dataset"),
                         (["--image-size", "16"], "--image-size"), (["--model", "mnist_cnn"], "different architecture"),
                         (["--optimizer", "sgd"], "--optimizer"), (["--batch-size", "8"], "--batch-size"),
                         (["--schedule", "cosine"], "--schedule"), (["--warmup", "1"], "--warmup")):
        run = fresh("A")
        add("cli: resume", ["train", "--resume", run / "last.npz", "--epochs", "3", *argv], needle=needle, keep=run)
    run = fresh("S")
    add("cli: resume", ["train", "--resume", run / "last.npz", "--epochs", "3", "--lr", "0.5"], needle="--lr", keep=run)
    run = fresh("A")
    add("cli: resume", ["train", "--resume", run / "last.npz", "--epochs", "3", "--lr", "0.01", "--out",
                        folder / "B"], status=0, keep=run)
    run = fresh("A")
    add("cli: resume", ["train", "--resume", run / "last.npz", "--epochs", "2"], needle="already holds 2", keep=run)
    packed, arrays = cc.read_parts(A / "last.npz")
    damage = {
        "spec missing": lambda p, a: p.pop("spec"),
        "bad input_shape": lambda p, a: p.update(input_shape=[3, 100000, 100000]),
        "optimizer type missing": lambda p, a: p["optimizer"].pop("type"),
        "garbage rng": lambda p, a: p["rng"].update(init={"bit_generator": "PCG64", "state": 7}),
        "short class names": lambda p, a: p["metadata"].update(class_names=["a"]),
        "bad saved option": lambda p, a: p["metadata"]["args"].update(epochs=0),
        "exp_avg of the wrong shape": lambda p, a: a.update(
            {k: v[..., :2].copy() for k, v in a.items() if k.endswith("/exp_avg") and v.ndim == 4}),
        "NaN weights": lambda p, a: a.update({"model/0.weight": a["model/0.weight"] * np.nan}),
    }
    img = folder / "x.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(img)
    for i, (name, edit) in enumerate(damage.items()):
        p, a = json.loads(json.dumps(packed)), dict(arrays)
        edit(p, a)
        path = folder / f"damaged{i}.npz"
        cc.write_parts(path, p, a)
        add("cli: damaged checkpoints", ["train", "--resume", path, "--epochs", "3", "--out", folder / f"d{i}"],
            needle="is damaged")
        if name not in ("optimizer type missing", "garbage rng", "bad saved option", "exp_avg of the wrong shape"):
            add("cli: damaged checkpoints", ["predict", path, img], needle="is damaged")
            add("cli: damaged checkpoints", ["evaluate", path], needle="is damaged")
    nested = json.loads(json.dumps(packed))
    nested["metadata"]["studio"] = json.loads("[" * 100 + "]" * 100)
    cc.write_parts(folder / "nested.npz", nested, arrays)
    add("cli: damaged checkpoints", ["evaluate", folder / "nested.npz"], needle="nested deeper")
    (folder / "text.npz").write_text("hello")
    for argv, needle in ((["predict", A / "best.npz", png_header(folder / "b1.png", 9000, 8000)], "decompression bomb"),
                         (["predict", A / "best.npz", png_header(folder / "b2.png", 10000, 10000)], "decompression"),
                         (["predict", A / "best.npz", png_header(folder / "b3.png", 40000, 40000)], "decompression"),
                         (["predict", A / "best.npz", folder / "text.npz"], "not a readable image"),
                         (["predict", A / "best.npz", folder / "missing.png"], "no such image"),
                         (["predict", A / "best.npz", folder], "is a folder"),
                         (["predict", folder / "text.npz", img], "not a numbacnn checkpoint"),
                         (["evaluate", folder / "missing.npz"], "does not exist")):
        add("cli: predict, evaluate", argv, needle=needle)
    engine_wide = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    save_checkpoint(folder / "rgba.npz", nn.Sequential(nn.Conv2d(4, 2, 3), nn.Flatten(), nn.Linear(72, 2)),
                    {"input_shape": [4, 8, 8]})
    save_checkpoint(folder / "wide.npz", engine_wide, {"input_shape": [3, 8, 8], "metadata": {"class_names": ["a"]}})
    add("cli: predict, evaluate", ["predict", folder / "rgba.npz", img], needle="4-channel")
    add("cli: predict, evaluate", ["predict", folder / "wide.npz", img], needle="names 1 classes")
    add("cli: loss guard", ["train", *common, "--lr", "1e6", "--epochs", "2", "--out", folder / "boom"], status=1,
        needle="the loss became")
    return cases


def snapshot(folder):
    if folder is None or not Path(folder).is_dir():
        return None
    return {n: (Path(folder) / n).read_bytes() for n in sorted(os.listdir(folder)) if not n.startswith(".")}


# --- the audit ---------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--flips", type=int, default=400, help="bit-flip cases per base checkpoint")
    ap.add_argument("--cuts", type=int, default=100, help="truncation cases per base checkpoint")
    ap.add_argument("--timeout", type=float, default=60, help="seconds a case may take")
    ap.add_argument("--package-root", default=None, help="audit the engine package of this checkout")
    ap.add_argument("--cli-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.cli_worker:
        return cli_worker()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "tests") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if args.package_root:
        env["PYTHONPATH"] = os.path.abspath(args.package_root) + os.pathsep + env.get("PYTHONPATH", "")
    rows = defaultdict(lambda: {"tried": 0, "clean": 0, "wrong": []})
    other_wording = 0
    with tempfile.TemporaryDirectory(prefix="numbacnn-audit-") as tmp:
        tmp = Path(tmp)
        (tmp / "ckpt").mkdir()
        ckpts = checkpoint_corpus(tmp / "ckpt", random.Random(args.seed), args.flips, args.cuts)
        worker = [sys.executable, "-m", "helpers.checkpoint_corruptions"]
        got = run_workers(worker, [(key, f"{path} {opt}") for _, key, path, opt in ckpts], env, args.timeout)
        for category, key, path, _ in ckpts:
            outcome, detail, *mb = got[key]
            row = rows[category]
            row["tried"] += 1
            if outcome in ("ok", "refused") and (not mb or mb[0] <= MEMORY_MB):
                row["clean"] += 1
                other_wording += outcome == "refused" and not detail.startswith(f"checkpoint {path} ")
            else:
                row["wrong"].append(f"{Path(path).name}: {outcome} {detail if outcome != 'refused' else ''}"
                                    f"{f' (+{mb[0]} MB)' if mb and mb[0] > MEMORY_MB else ''}"[:160])
        cli_cases = cli_corpus(tmp / "cli", env)
        worker = [sys.executable, str(Path(__file__).resolve()), "--cli-worker"]
        before = {key: snapshot(keep) for _, key, _, _, _, keep in cli_cases}
        got = run_workers(worker, [(key, json.dumps({"key": key, "argv": argv})) for _, key, argv, *_ in cli_cases],
                          env, args.timeout)
        for category, key, argv, status, needle, keep in cli_cases:
            answer = got[key]
            row = rows[category]
            row["tried"] += 1
            rc, err, *mb = answer
            lines = [ln for ln in str(err).strip().splitlines() if ln.strip()]
            kept = snapshot(keep) == before[key]
            ok = rc == status and (len(lines) == 1 if status else not lines) and \
                (needle is None or (lines and needle.lower() in lines[0].lower())) and kept
            if ok and (not mb or mb[0] <= MEMORY_MB):
                row["clean"] += 1
            else:
                shown = " ".join(argv[:1] + [a for a in argv[1:] if not a.startswith(str(tmp))][:6])
                changed = "" if kept else " (changed another run's files)"
                row["wrong"].append(f"`{shown}`: exit {rc}, {len(lines)} stderr lines: "
                                    f"{(lines or [''])[0][:100]}{changed}")
    which = f"the engine of {args.package_root}" if args.package_root else "this checkout"
    print(f"audit of checkpoints and the command line ({which}, seed {args.seed})")
    print()
    print("| category | cases tried | handled cleanly | handled wrongly | first examples of wrong handling |")
    print("| --- | ---: | ---: | ---: | --- |")
    total = [0, 0, 0]
    for category, row in rows.items():
        wrong = row["wrong"]
        total[0] += row["tried"]
        total[1] += row["clean"]
        total[2] += len(wrong)
        print(f"| {category} | {row['tried']} | {row['clean']} | {len(wrong)} | {'; '.join(wrong[:3])} |")
    print(f"| **all** | {total[0]} | {total[1]} | {total[2]} | |")
    print()
    print(f"checkpoint refusals not worded \"checkpoint FILE ...\": {other_wording}")


if __name__ == "__main__":
    main()
