"""Audit of the Python API against careless and hostile use (issue 14).

    python benchmarks/audit_api.py [--verbose]

A reproducible corpus of calls a user can make through the public API — every layer and
loss given inputs of the wrong rank, channels, size, dtype (int32, int64, uint8, float16,
bool, float64 into a float32 model), a batch of 0, NaN and non-contiguous inputs;
``backward`` with gradients of the wrong shape, dtype or device; backward twice; optimizers
and modules given wrong arguments — each run in a child process so that a crash counts.

A case that must fail is handled cleanly when it raises an exception of the engine's
(ShapeError, ValueError, TypeError, RuntimeError, NotImplementedError, IndexError,
KeyError, AttributeError) whose message is one line and names what is wrong; a case
that must work is handled cleanly when it returns the right shape with finite values
where the input was finite. Anything else — a signal, a hang, a multi-line compiler
error, a silent wrong result — is handled wrongly. Prints one row per category.
"""
import argparse
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120

PRELUDE = """
import numpy as np, engine
from engine import nn, optim
import engine.nn.functional as F
engine.manual_seed(0)
rng = np.random.default_rng(0)
def x(*shape, dtype=np.float32):
    return engine.tensor(rng.standard_normal(shape).astype(dtype)) if np.dtype(dtype).kind == "f" else \\
        engine.tensor((rng.standard_normal(shape) * 3).astype(dtype))
"""

LAYERS = {
    "Conv2d": ("nn.Conv2d(3, 4, 3, padding=1)", (2, 3, 8, 8), (2, 4, 8, 8)),
    "Conv2d 1x1": ("nn.Conv2d(3, 4, 1)", (2, 3, 8, 8), (2, 4, 8, 8)),
    "Conv2d strided": ("nn.Conv2d(3, 4, 3, stride=2)", (2, 3, 9, 9), (2, 4, 4, 4)),
    "MaxPool2d": ("nn.MaxPool2d(2)", (2, 3, 8, 8), (2, 3, 4, 4)),
    "AvgPool2d": ("nn.AvgPool2d(3, 2, 1)", (2, 3, 8, 8), (2, 3, 4, 4)),
    "AdaptiveAvgPool2d": ("nn.AdaptiveAvgPool2d(2)", (2, 3, 8, 8), (2, 3, 2, 2)),
    "Linear": ("nn.Linear(12, 5)", (2, 12), (2, 5)),
    "BatchNorm2d": ("nn.BatchNorm2d(3)", (2, 3, 8, 8), (2, 3, 8, 8)),
    "BatchNorm1d": ("nn.BatchNorm1d(12)", (2, 12), (2, 12)),
    "LocalResponseNorm": ("nn.LocalResponseNorm(3)", (2, 3, 8, 8), (2, 3, 8, 8)),
    "ReLU": ("nn.ReLU()", (2, 3, 8, 8), (2, 3, 8, 8)),
    "Sigmoid": ("nn.Sigmoid()", (2, 3, 8, 8), (2, 3, 8, 8)),
    "Tanh": ("nn.Tanh()", (2, 3, 8, 8), (2, 3, 8, 8)),
    "LeakyReLU": ("nn.LeakyReLU(0.1)", (2, 3, 8, 8), (2, 3, 8, 8)),
    "Dropout": ("nn.Dropout(0.5)", (2, 3, 8, 8), (2, 3, 8, 8)),
    "Softmax": ("nn.Softmax(1)", (2, 12), (2, 12)),
}


TOO_SMALL = {  # an input no window of the layer fits
    "Conv2d": (2, 3, 0, 8), "Conv2d strided": (2, 3, 2, 2), "MaxPool2d": (2, 3, 1, 1), "AvgPool2d": (2, 3, 0, 0),
    "AdaptiveAvgPool2d": (2, 3, 1, 1)}


def _cases():
    """(category, name, code, expect) with expect "raise" or "ok <shape>"."""
    out = []
    for name, (make, shape, oshape) in LAYERS.items():
        ok = f"ok {oshape}"
        out.append(("valid inputs", name, f"m = {make}\nt = x(*{shape}).requires_grad_()\ny = m(t)\n"
                    "y.sum().backward()\nassert t.grad is not None and t.grad.shape == t.shape", ok))
        out.append(("valid inputs", name + " non-contiguous",
                    f"m = {make}\nt = engine.tensor(np.asfortranarray(rng.standard_normal({shape}).astype(np.float32)))\n"
                    "y = m(t)", ok))
        rank = shape[:1] + shape[2:] if len(shape) > 2 else shape + (1, 1, 1)
        elementwise = ("ReLU", "Sigmoid", "Tanh", "LeakyReLU", "Dropout", "Softmax", "LocalResponseNorm")
        out.append(("wrong shapes", name + " rank", f"m = {make}\ny = m(x(*{rank}))",
                    "raise" if name not in elementwise else f"ok {rank}"))
        if name not in ("ReLU", "Sigmoid", "Tanh", "LeakyReLU", "Dropout", "Softmax", "MaxPool2d", "AvgPool2d",
                        "AdaptiveAvgPool2d", "LocalResponseNorm"):
            wrong = (shape[0], shape[1] + 1) + shape[2:]
            out.append(("wrong shapes", name + " channels", f"m = {make}\ny = m(x(*{wrong}))", "raise"))
        if name in TOO_SMALL:
            out.append(("wrong shapes", name + " too small", f"m = {make}\ny = m(x(*{TOO_SMALL[name]}))", "raise"))
        for dt in ("int32", "int64", "uint8", "float16", "bool"):
            out.append(("wrong dtypes", f"{name} {dt}", f"m = {make}\ny = m(x(*{shape}, dtype=np.{dt}))", "raise"))
        out.append(("wrong dtypes", f"{name} float64 into float32",
                    f"m = {make}\ny = m(x(*{shape}, dtype=np.float64).requires_grad_())\ny.sum().backward()",
                    "raise" if any(p in make for p in ("Conv2d", "Linear", "BatchNorm")) else f"ok {oshape}"))
        zero = (0,) + shape[1:]
        out.append(("batch of 0", name, f"m = {make}\ny = m(x(*{zero}))",
                    "raise" if "BatchNorm" in name else f"ok {(0,) + oshape[1:]}"))
        out.append(("gradients", name + " wrong shape",
                    f"m = {make}\ny = m(x(*{shape}).requires_grad_())\n"
                    f"y.backward(np.ones({(3,) + oshape[1:]}, np.float32))", "raise"))
        out.append(("gradients", name + " wrong dtype",
                    f"m = {make}\ny = m(x(*{shape}).requires_grad_())\n"
                    f"y.backward(engine.tensor(np.ones({oshape}, np.float64)))", "raise"))
    out += [
        ("losses", "cross entropy targets out of range",
         "F.cross_entropy(x(4, 3), engine.tensor([0, 1, 2, 3]))", "raise"),
        ("losses", "cross entropy float targets", "F.cross_entropy(x(4, 3), x(4))", "raise"),
        ("losses", "cross entropy 1-D logits", "nn.CrossEntropyLoss()(x(4), engine.tensor([0, 1, 2, 0]))", "raise"),
        ("losses", "cross entropy targets of another length",
         "nn.CrossEntropyLoss()(x(4, 3), engine.tensor([0, 1]))", "raise"),
        ("losses", "mse shapes differ", "nn.MSELoss()(x(4, 3), x(4, 2))", "raise"),
        ("losses", "nll targets negative", "nn.NLLLoss()(x(4, 3), engine.tensor([0, -1, 2, 0]))", "raise"),
        ("losses", "label smoothing 1.5", "nn.CrossEntropyLoss(label_smoothing=1.5)", "raise"),
        ("graph", "backward twice", "l = nn.Linear(3, 2)(x(4, 3)).sum()\nl.backward()\nl.backward()", "raise"),
        ("graph", "backward of a tensor without grad", "x(3).sum().backward()", "raise"),
        ("graph", "backward of a non-scalar", "nn.Linear(3, 2)(x(4, 3)).backward()", "raise"),
        ("graph", "backward after no_grad",
         "m = nn.Linear(3, 2)\nwith engine.no_grad():\n    y = m(x(4, 3)).sum()\ny.backward()", "raise"),
        ("graph", "in-place on a leaf that requires grad", "p = nn.Linear(3, 2).weight\np += 1", "raise"),
        ("graph", "view of a permuted tensor", "x(2, 3).t().view(6)", "raise"),
        ("graph", "reshape to a wrong size", "x(2, 3).reshape(4, 2)", "raise"),
        ("graph", "matmul shapes", "x(2, 3) @ x(2, 3)", "raise"),
        ("graph", "cat of different ranks", "engine.cat([x(2, 3), x(2)])", "raise"),
        ("arguments", "Conv2d kernel 0", "nn.Conv2d(3, 4, 0)", "raise"),
        ("arguments", "Conv2d groups 2", "nn.Conv2d(4, 4, 3, groups=2)", "raise"),
        ("arguments", "Conv2d negative padding", "nn.Conv2d(3, 4, 3, padding=-1)", "raise"),
        ("arguments", "MaxPool2d ceil_mode", "nn.MaxPool2d(2, ceil_mode=True)", "raise"),
        ("arguments", "pool padding over half", "nn.MaxPool2d(2, padding=2)", "raise"),
        ("arguments", "Linear 0 features", "nn.Linear(0, 3)", "raise"),
        ("arguments", "Dropout p 2", "nn.Dropout(2)", "raise"),
        ("arguments", "BatchNorm eps -1", "nn.BatchNorm2d(3, eps=-1)", "raise"),
        ("arguments", "SGD lr -1", "optim.SGD(nn.Linear(2, 2).parameters(), lr=-1)", "raise"),
        ("arguments", "SGD lr nan", "optim.SGD(nn.Linear(2, 2).parameters(), lr=float('nan'))", "raise"),
        ("arguments", "Adam betas 1.5", "optim.Adam(nn.Linear(2, 2).parameters(), betas=(1.5, 0.9))", "raise"),
        ("arguments", "optimizer of no parameters", "optim.SGD([], lr=0.1)", "raise"),
        ("arguments", "optimizer of arrays", "optim.SGD([np.zeros(3)], lr=0.1)", "raise"),
        ("arguments", "load_state_dict wrong shape",
         "m = nn.Linear(3, 2)\nm.load_state_dict({'weight': np.zeros((3, 3), np.float32), 'bias': np.zeros(2, np.float32)})",
         "raise"),
        ("arguments", "load_state_dict missing key", "nn.Linear(3, 2).load_state_dict({'weight': np.zeros((2, 3))})",
         "raise"),
        ("arguments", "optimizer state of another shape",
         "m = nn.Linear(3, 2)\no = optim.Adam(m.parameters())\nm(x(4, 3)).sum().backward()\no.step()\n"
         "sd = o.state_dict()\nsd['state'][0]['exp_avg'] = np.zeros((5, 5), np.float32)\no.load_state_dict(sd)", "raise"),
        ("arguments", "device that does not exist", "nn.Linear(3, 2).to('tpu')", "raise"),
        ("arguments", "DataLoader batch 0",
         "from engine.utils.data import DataLoader, TensorDataset\nDataLoader(TensorDataset(x(4, 2)), batch_size=0)",
         "raise"),
        ("arguments", "tensor of strings", "engine.tensor(['a', 'b'])", "raise"),
        ("arguments", "Sequential of a non-module", "nn.Sequential(nn.ReLU(), 3)", "raise"),
    ]
    return out


WORKER = PRELUDE + """
import json, sys, traceback
code, expect = json.loads(sys.argv[1])
env = {"np": np, "engine": engine, "nn": nn, "optim": optim, "F": F, "x": x, "rng": rng}
try:
    exec(code, env)
except Exception as e:
    msg = str(e)
    print(json.dumps(["raised", type(e).__name__, msg, len(msg.strip().splitlines()) <= 1]))
else:
    y = env.get("y")
    shape = tuple(y.shape) if y is not None else None
    finite = bool(np.isfinite(y.numpy()).all()) if y is not None and y.dtype.kind == "f" else True
    print(json.dumps(["returned", str(shape), finite]))
"""

ENGINE_ERRORS = {"ShapeError", "ValueError", "TypeError", "RuntimeError", "NotImplementedError", "IndexError",
                 "KeyError", "AttributeError", "SaveError", "DeviceMemoryError"}


def _judge(expect, outcome) -> "str | None":
    """None when handled cleanly, else what was wrong."""
    import json
    if outcome["returncode"] < 0:
        return f"signal {-outcome['returncode']}"
    if outcome["returncode"] != 0 or not outcome["stdout"]:
        return "no answer: " + (outcome["stderr"].strip().splitlines() or ["?"])[-1][:120]
    result = json.loads(outcome["stdout"].strip().splitlines()[-1])
    if expect == "raise":
        if result[0] != "raised":
            return f"returned {result[1]} instead of raising"
        if result[1] not in ENGINE_ERRORS or not result[3]:
            return f"{result[1]}: {result[2].strip().splitlines()[0][:100] if result[2].strip() else ''}" + \
                   ("" if result[3] else " (several lines)")
        return None
    if result[0] == "raised":
        return f"raised {result[1]}: {result[2][:100]}"
    if result[1] != str(eval(expect[3:])):
        return f"returned shape {result[1]}, expected {expect[3:]}"
    return None if result[2] else "returned non-finite values"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    import json
    rows = defaultdict(lambda: [0, 0, []])
    for category, name, code, expect in _cases():
        try:
            done = subprocess.run([sys.executable, "-c", WORKER, json.dumps([code, expect])], cwd=ROOT,
                                  capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
            outcome = {"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr}
            fault = _judge(expect, outcome)
        except subprocess.TimeoutExpired:
            fault = f"hang (> {TIMEOUT} s)"
        row = rows[category]
        row[0] += 1
        if fault is None:
            row[1] += 1
        else:
            row[2].append(f"{name}: {fault}")
        if args.verbose:
            print(f"{category:14s} {name:40s} {'ok' if fault is None else fault}", file=sys.stderr)
    print("| category | cases tried | handled cleanly | handled wrongly | first examples of wrong handling |")
    print("| --- | ---: | ---: | ---: | --- |")
    for category, (n, clean, wrong) in rows.items():
        print(f"| {category} | {n} | {clean} | {n - clean} | {'; '.join(wrong[:3])} |")
    total = sum(r[0] for r in rows.values())
    print(f"| **all** | {total} | {sum(r[1] for r in rows.values())} | {total - sum(r[1] for r in rows.values())} | |")


if __name__ == "__main__":
    main()
