"""Audit of the kernel sets' entry points against wrong arguments (issue 14).

    python benchmarks/audit_kernels.py [--sets cpu,cuda] [--package-root PATH] [--verbose]

Builds a reproducible corpus of wrong calls of every public kernel of the CPU set and of
the CUDA set (under Numba's CUDA simulator unless NUMBA_ENABLE_CUDASIM=0 is set): from a
valid call of each kernel on small shapes, one argument at a time is replaced by
something the kernel's contract (engine/kernels/contracts.py) rules out -- another dtype
(int32, int64, uint8, float16, bool; float64 beside float32), None, a list, a number, a
shape that does not fit the others, a missing or extra dimension, an empty dimension, a
batch of 0 where the kernel averages over it, a non-contiguous array where it writes in
place, a geometry that does not fit (stride 0, negative padding, a window larger than
the input, pool padding over half the window), scalars out of range or of the wrong
type, index values outside their range. Each call runs in a worker process, so that a
crash is counted and the worker restarted.

A call is handled cleanly when it raises engine.errors.ShapeError with one line that
starts with the kernel's name. Anything else is handled wrongly: a crash (signal), a
hang (no answer in --timeout seconds), another exception, a ShapeError that does not
name the kernel, or a normal return. Two documented exceptions count apart ("accepted,
documented"): on the CUDA set, out-of-range max-pool winners and cross-entropy targets
in the backward kernels are skipped without touching memory outside the arrays instead
of raising (see engine/kernels/cuda/__init__.py). ``to_host`` and ``asarray`` accept any
array-like by design; ``asarray`` is audited with inputs that hold no numbers.
``--package-root`` audits the engine of another checkout (e.g. an older commit) with the
same corpus. Prints one table row per kernel set.
"""

import argparse
import json
import os
import select
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BAD_DTYPES = ["int32", "int64", "uint8", "float16", "bool"]

# --- the valid call of every kernel ------------------------------------------------------------
# An argument is (kind, value, flags): "f" a float32 array of shape value, "i32"/"i64" an index
# array of shape value (flags "rangeK": its values index K elements), "t" an MSE target,
# "pair" a geometry pair, "shape" an x_shape, "real"/"int"/"flag" scalars (value, lo, hi),
# "list" a list of float arrays, "sizes" channel counts, "bncache" the set's batch-norm cache
# for x of shape value, "dims"/"dtype" zeros' arguments, "data" asarray's input, "choice" one
# of a few words (value).
# Flags: "inplace" written in place; "fixed" its whole shape is set by the other arguments;
# "fixK" axis K is; "ndim" its number of dimensions is; "full" no dimension but the batch may
# be 0; "param" none may; "b0" cut to 0 samples by the batch-of-0 case; "opt" may be None;
# "pool"/"pad" a pool's window/padding; "kernel" axes 2, 3 are a convolution window.
X4 = (2, 3, 6, 6)
SPECS = {
    "relu_forward": [("f", X4, "full")],
    "relu_backward": [("f", X4, "full"), ("f", X4, "fixed")],
    "sigmoid_forward": [("f", X4, "full")],
    "sigmoid_backward": [("f", X4, "full"), ("f", X4, "fixed")],
    "tanh_forward": [("f", X4, "full")],
    "tanh_backward": [("f", X4, "full"), ("f", X4, "fixed")],
    "leaky_relu_forward": [("f", X4, "full"), ("real", (0.1, None, None), "")],
    "leaky_relu_backward": [("f", X4, "full"), ("f", X4, "fixed"), ("real", (0.1, None, None), "")],
    "conv2d_forward": [("f", X4, "ndim full"), ("f", (4, 3, 3, 3), "ndim param fix1 kernel"),
                       ("f", (4,), "fixed param opt"), ("pair", (1, 1), "stride"), ("pair", (0, 0), "padding"),
                       ("flag", False, "")],
    "conv2d_relu_maxpool2x2": [("f", X4, "ndim full"), ("f", (4, 3, 3, 3), "ndim param fix1 kernel"),
                               ("f", (4,), "fixed param opt"), ("pair", (1, 1), "stride"),
                               ("pair", (1, 1), "padding")],
    "conv2d_act_avgpool2x2": [("f", X4, "ndim full"), ("f", (4, 3, 3, 3), "ndim param fix1 kernel"),
                              ("f", (4,), "fixed param opt"), ("pair", (1, 1), "stride"),
                              ("pair", (1, 1), "padding"), ("choice", "sigmoid", "")],
    "act_avgpool2x2_backward": [("f", (2, 3, 3, 3), "fixed"), ("f", X4, "ndim full"), ("choice", "tanh", "")],
    "conv2d_backward": [("f", X4, "ndim full"), ("f", (4, 3, 3, 3), "ndim param fix1 kernel"),
                        ("f", (2, 4, 4, 4), "fixed"), ("pair", (1, 1), "stride"), ("pair", (0, 0), "padding"),
                        ("flag", True, "")],
    "linear_forward": [("f", (2, 5), "ndim full"), ("f", (4, 5), "ndim param fix1"), ("f", (4,), "fixed param opt")],
    "linear_backward": [("f", (2, 5), "ndim full"), ("f", (4, 5), "ndim param fix1"), ("f", (2, 4), "fixed"),
                        ("flag", True, "")],
    "maxpool2d_forward": [("f", X4, "ndim full"), ("pair", (2, 2), "pool"), ("pair", (2, 2), "stride"),
                          ("pair", (0, 0), "pad")],
    "maxpool2d_backward": [("f", (2, 3, 3, 3), "ndim full"), ("i32", (2, 3, 3, 3), "fixed range36"),
                           ("shape", X4, ""), ("f", (2, 3, 3, 3), "fixed opt")],
    "avgpool2d_forward": [("f", X4, "ndim full"), ("pair", (2, 2), "pool"), ("pair", (2, 2), "stride"),
                          ("pair", (0, 0), "pad"), ("flag", True, "")],
    "avgpool2d_backward": [("f", (2, 3, 3, 3), "fixed"), ("shape", X4, ""), ("pair", (2, 2), "pool"),
                           ("pair", (2, 2), "stride"), ("pair", (0, 0), "pad"), ("flag", True, "")],
    "adaptive_avgpool2d_forward": [("f", X4, "ndim full"), ("pair", (2, 2), "size")],
    "adaptive_avgpool2d_backward": [("f", (2, 3, 2, 2), "ndim full fix0 fix1"), ("shape", X4, "")],
    "batchnorm_forward_train": [("f", X4, "full b0"), ("f", (3,), "fixed param"), ("f", (3,), "fixed param"),
                                ("f", (3,), "fixed param inplace"), ("f", (3,), "fixed param inplace"),
                                ("real", (0.1, 0, 1), ""), ("real", (1e-5, 0, None), ""), ("flag", False, "")],
    "batchnorm_forward_eval": [("f", X4, "full"), ("f", (3,), "fixed param"), ("f", (3,), "fixed param"),
                               ("f", (3,), "fixed param"), ("f", (3,), "fixed param"),
                               ("real", (1e-5, 0, None), "")],
    "batchnorm_backward": [("f", X4, "fixed"), ("f", (3,), "fixed param"), ("bncache", X4, ""),
                           ("f", X4, "fixed opt")],
    "batchnorm_fold": [("f", (4, 3, 3, 3), "param"), ("f", (4,), "fixed param opt"), ("f", (4,), "fixed param"),
                       ("f", (4,), "fixed param"), ("f", (4,), "fixed param"), ("f", (4,), "fixed param"),
                       ("real", (1e-5, 0, None), "")],
    "lrn_forward": [("f", X4, "full"), ("int", (3, 1, None), ""), ("real", (1e-2, None, None), ""),
                    ("real", (0.75, None, None), ""), ("real", (2.0, None, None), "")],
    "lrn_backward": [("f", X4, "full"), ("f", X4, "fixed"), ("f", X4, "fixed"), ("f", X4, "fixed"),
                     ("int", (3, 1, None), ""), ("real", (1e-2, None, None), ""), ("real", (0.75, None, None), "")],
    "dropout_forward": [("f", X4, "full"), ("real", (0.5, 0, 1), ""), ("int", (3, 0, 2**32), "")],
    "dropout_backward": [("f", X4, "full"), ("f", X4, "fixed")],
    "cross_entropy_forward": [("f", (2, 5), "ndim full b0"), ("i64", (2,), "fixed b0 range5"),
                              ("real", (0.0, 0, 1), "open")],
    "cross_entropy_backward": [("f", (2, 5), "ndim full b0"), ("i64", (2,), "fixed b0 range5"),
                               ("real", (0.0, 0, 1), "open")],
    "mse_forward": [("f", (2, 5), "full b0"), ("t", (2, 5), "fixed b0")],
    "mse_backward": [("f", (2, 5), "full b0"), ("t", (2, 5), "fixed b0")],
    "sgd_step": [("f", (4, 3), "inplace"), ("f", (4, 3), "fixed"), ("f", (4, 3), "fixed inplace"),
                 ("real", (0.1, None, None), ""), ("real", (0.9, None, None), ""), ("real", (0.0, None, None), ""),
                 ("flag", False, ""), ("real", (0.0, None, None), ""), ("flag", False, "")],
    "adam_step": [("f", (4, 3), "inplace"), ("f", (4, 3), "fixed"), ("f", (4, 3), "fixed inplace"),
                  ("f", (4, 3), "fixed inplace"), ("real", (1e-3, None, None), ""), ("betas", (0.9, 0.999), ""),
                  ("real", (1e-8, None, None), ""), ("real", (0.0, None, None), ""), ("flag", False, ""),
                  ("int", (1, 1, None), "")],
    "add": [("f", X4, ""), ("f", X4, "fixed"), ("flag", False, "")],
    "add_": [("f", X4, "inplace"), ("f", X4, "fixed")],
    "concat_channels": [("list", [(2, 3, 6, 6), (2, 2, 6, 6)], "")],
    "split_channels": [("f", X4, "fix1"), ("sizes", [1, 2], "")],
    "argmax_rows": [("f", (2, 5), "ndim full")],
    "fill": [("f", X4, "dest"), ("real", (1.0, None, None), "")],
    "copy_into": [("f", X4, "dest"), ("t", X4, "fixed anydtype")],
    "zeros": [("dims", (2, 3), ""), ("dtype", "float32", "")],
    "zeros_like": [("f", X4, "any")],
    "asarray": [("data", [[1.0, 2.0]], ""), ("dtype", None, "opt")],
    "conv_output_size": [("int", (6, 0, None), ""), ("int", (3, 1, None), ""), ("int", (1, 1, None), ""),
                         ("int", (0, 0, None), "")],
}
# (set, kernel, mutation) pairs whose acceptance is documented behaviour
DOCUMENTED = {("cuda", kernel, f"1:{what}") for kernel in ("maxpool2d_backward", "cross_entropy_backward")
              for what in ("values", "negative")}


def _flags(spec):
    return set(spec[2].split())


def mutations(kernel):
    """The wrong variants of kernel's valid call, as strings "index:what"."""
    specs = SPECS[kernel]
    floats = sum(1 for s in specs if s[0] == "f" or s[0] == "list")
    out = []
    for i, (kind, value, _) in enumerate(specs):
        fl = _flags(specs[i])
        if kind in ("f", "list"):
            if "dest" not in fl and "any" not in fl:
                out += [f"{i}:dtype:{d}" for d in BAD_DTYPES]
            if floats > 1 and kind == "f":
                out.append(f"{i}:float64")
            if "opt" not in fl:
                out.append(f"{i}:None")
            out += [f"{i}:list", f"{i}:number"]
        if kind == "f":
            if "inplace" in fl:
                out.append(f"{i}:strided")
            if "fixed" in fl or "ndim" in fl:
                out += [f"{i}:drop_axis", f"{i}:extra_axis"]
            axes = range(len(value)) if "fixed" in fl else [int(f[3:]) for f in fl if f.startswith("fix")]
            out += [f"{i}:grow:{a}" for a in axes]
            if "kernel" in fl:
                out.append(f"{i}:big_kernel")
            if "full" in fl and len(value) > 1 or "param" in fl:
                out.append(f"{i}:empty_axis")
        elif kind in ("i32", "i64", "t"):
            out += [f"{i}:None", f"{i}:list", f"{i}:grow:0"]
            if "anydtype" not in fl:
                out += [f"{i}:dtype:{d}" for d in (["float32", "int32", "uint8"] if kind == "i64" else
                                                    ["float32", "int64", "bool"] if kind == "i32" else ["bool"])]
            if any(f.startswith("range") for f in fl):
                out += [f"{i}:values", f"{i}:negative"]
        elif kind == "pair":
            out += [f"{i}:zero", f"{i}:one_number", f"{i}:three", f"{i}:float", f"{i}:text"]
            if "pool" in fl:
                out.append(f"{i}:too_big")
            if "pad" in fl:
                out.append(f"{i}:over_half")
        elif kind == "shape":
            out += [f"{i}:grow:0", f"{i}:grow:1", f"{i}:zero_h", f"{i}:three", f"{i}:None"]
        elif kind in ("real", "int"):
            v, lo, hi = value
            out += [f"{i}:None", f"{i}:text", f"{i}:array"]
            if lo is not None:
                out.append(f"{i}:below")
            if hi is not None:
                out.append(f"{i}:above")
            if kind == "int":
                out.append(f"{i}:float")
        elif kind in ("flag", "choice"):
            out += [f"{i}:text", f"{i}:None"]
        elif kind == "betas":
            out += [f"{i}:one_number", f"{i}:above", f"{i}:None"]
        elif kind == "sizes":
            out += [f"{i}:short", f"{i}:negative", f"{i}:None"]
        elif kind == "bncache":
            out += [f"{i}:None", f"{i}:other_shape", f"{i}:pair"]
        elif kind == "dims":
            out += [f"{i}:negative", f"{i}:text", f"{i}:float"]
        elif kind == "dtype" and "opt" not in fl:
            out += [f"{i}:object", f"{i}:nonsense"]
        elif kind == "dtype":
            out += [f"{i}:nonsense"]
        elif kind == "data":
            out += [f"{i}:ragged", f"{i}:strings"]
    if any("b0" in _flags(s) for s in specs):
        out.append("batch0")
    return out


def corpus(sets):
    return [(s, k, m) for s in sets for k in SPECS for m in mutations(k)]


# --- the worker ----------------------------------------------------------------------------------
def _values(kind, shape, flags, seed):
    """A host array of a valid call: floats, or indices in their range."""
    if kind in ("i32", "i64"):
        n = int(next(f for f in flags if f.startswith("range"))[5:])
        return (np.arange(int(np.prod(shape))).reshape(shape) % n).astype(kind.replace("i", "int"))
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _shape(value, what, rest):
    """The shape of an array argument after a shape mutation ``what``."""
    if what == "grow":
        return tuple(s + (1 if j == int(rest[0]) else 0) for j, s in enumerate(value))
    if what == "drop_axis":
        return tuple(value[:-1])
    if what == "extra_axis":
        return tuple(value) + (1,)
    if what == "empty_axis":
        return tuple(0 if j == (1 if len(value) > 1 else 0) else s for j, s in enumerate(value))
    if what == "big_kernel":
        return tuple(value[:2]) + (9, 9)
    if what == "batch0":
        return (0,) + tuple(value[1:])
    return tuple(value)


def _bn_cache(K, shape):
    x = K.asarray(_values("f", shape, (), 0))
    C = shape[1]
    ones = K.asarray(np.ones(C, np.float32))
    return K.batchnorm_forward_train(x, ones, ones, K.zeros(C), K.asarray(np.ones(C, np.float32)), 0.1, 1e-5)[1]


def _replace(kind, value, flags, a, what, rest):
    """The wrong value that mutation ``what`` puts in place of argument ``a``."""
    lo, hi = (value[1], value[2]) if kind in ("real", "int") else (None, None)
    padding = "padding" in flags or "pad" in flags
    table = {
        "dtype": lambda: [a[0].astype(rest[0])] + a[1:] if isinstance(a, list) else a.astype(rest[0]),
        "float64": lambda: a.astype(np.float64),
        "None": lambda: None,
        "list": lambda: (a[0] if isinstance(a, list) else a).tolist(),
        "number": lambda: 1.0,
        "strided": lambda: ("strided", a),
        "zero": lambda: (-1, 0) if padding else (0, 1),
        "one_number": lambda: value[0],
        "three": lambda: tuple(value) + (1,),
        "float": lambda: (1.5, 1) if kind == "pair" else 2.5 if kind == "int" else (2.5, 3),
        "text": lambda: "2",
        "too_big": lambda: (9, 9),
        "over_half": lambda: (2, 2),
        "zero_h": lambda: (value[0], value[1], 0, value[3]),
        "array": lambda: np.ones(2),
        "below": lambda: lo - 1,
        "above": lambda: (0.9, 1.0) if kind == "betas" else hi if "open" in flags or kind == "int" else hi + 1,
        "short": lambda: [1, 1],
        "negative": lambda: [4, -1] if kind == "sizes" else (-1, 3),
        "pair": lambda: (1, 2),
        "object": lambda: "object",
        "nonsense": lambda: "no such dtype",
        "ragged": lambda: [[1.0], [1.0, 2.0]],
        "strings": lambda: [["a", "b"]],
    }
    if kind == "shape" and what == "grow":
        return _shape(value, what, rest)
    return table[what]()


def build(K, kernel, mutation):
    """The arguments of kernel's valid call with ``mutation`` applied ("valid": none; host
    arrays but the batch-norm cache, which K makes)."""
    at, what, *rest = ("-1", mutation) if mutation in ("batch0", "valid") else mutation.split(":")
    at, args = int(at), []
    for i, (kind, value, flags) in enumerate(SPECS[kernel]):
        flags = set(flags.split())
        mine = i == at
        if kind in ("f", "t", "i32", "i64"):
            shape = _shape(value, what, rest) if mine or (what == "batch0" and "b0" in flags) else tuple(value)
            a = _values(kind, shape, flags, i)
            if kernel == "maxpool2d_backward" and i == 3:
                a = np.abs(a)  # y, the pool's output over a ReLU
            if mine and what == "values":
                a.flat[-1] = int(next(f for f in flags if f.startswith("range"))[5:])
            elif mine and what == "negative":
                a.flat[0] = -1
            elif mine and what not in ("grow", "drop_axis", "extra_axis", "empty_axis", "big_kernel"):
                a = _replace(kind, value, flags, a, what, rest)
        elif kind == "list":
            a = [_values("f", s, flags, j) for j, s in enumerate(value)]
            if mine:
                a = _replace(kind, value, flags, a, what, rest)
        elif kind == "bncache":
            a = _bn_cache(K, (value[0], value[1] + 1) + tuple(value[2:]) if mine and what == "other_shape"
                          else value)
            if mine and what != "other_shape":
                a = _replace(kind, value, flags, a, what, rest)
        else:
            a = value[0] if kind in ("real", "int") else value
            if mine:
                a = _replace(kind, value, flags, a, what, rest)
        args.append(a)
    return args


def _upload(K, a):
    if isinstance(a, tuple) and len(a) == 2 and isinstance(a[0], str) and a[0] == "strided":
        host = a[1]
        wide = np.zeros(host.shape[:-1] + (2 * host.shape[-1],), host.dtype)
        wide[..., ::2] = host
        return K.asarray(wide)[(slice(None),) * (host.ndim - 1) + (slice(None, None, 2),)]
    if isinstance(a, np.ndarray):
        return K.asarray(a)
    if isinstance(a, list) and a and isinstance(a[0], np.ndarray):
        return [K.asarray(v) for v in a]
    return a


def worker():
    """Reads cases (JSON lines) on stdin, answers one JSON line each."""
    import warnings
    warnings.simplefilter("ignore")
    from engine import kernels
    from engine.errors import ShapeError
    sets = {}
    for line in sys.stdin:
        name, kernel, mutation = json.loads(line)
        try:
            if name not in sets:
                sets[name] = kernels.ops(name)
            K = sets[name]
            args = build(K, kernel, mutation)
            if kernel != "asarray":
                args = [_upload(K, a) for a in args]
            getattr(K, kernel)(*args)
            answer = {"status": "returned"}
        except ShapeError as e:
            answer = {"status": "shape_error", "message": str(e)}
        except BaseException as e:  # noqa: BLE001 - everything else is what the audit counts
            answer = {"status": "exception", "message": f"{type(e).__name__}: {e}"[:300]}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


# --- the parent ----------------------------------------------------------------------------------
class Worker:
    def __init__(self, package_root):
        env = dict(os.environ, PYTHONPATH=str(package_root), PYTHONHASHSEED="0")
        env.setdefault("NUMBA_ENABLE_CUDASIM", "1")
        self.proc = subprocess.Popen([sys.executable, __file__, "--worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
                                     cwd=str(package_root))

    def ask(self, case, timeout):
        """The worker's answer, or {"status": "crash"|"hang"} (the worker is then gone)."""
        self.proc.stdin.write(json.dumps(case) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if line:
            return json.loads(line)
        if not ready:
            self.proc.kill()
            self.proc.wait()
            return {"status": "hang", "message": f"no answer in {timeout} s"}
        code = self.proc.wait()
        return {"status": "crash", "message": f"worker died with exit status {code}"}

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def judge(case, answer):
    """"clean", "documented", or why the call was handled wrongly."""
    name, kernel, mutation = case
    status = answer["status"]
    if status == "shape_error":
        msg = answer["message"]
        if msg.startswith(kernel + ": ") and "\n" not in msg:
            return "clean"
        return f"ShapeError not naming the kernel: {msg[:120]}"
    if status == "returned":
        return "documented" if (name, kernel, mutation) in DOCUMENTED else "returned normally"
    return f"{status}: {answer['message'][:160]}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="cpu,cuda", help="kernel sets to audit")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a call counts as a hang")
    parser.add_argument("--package-root", default=str(ROOT), help="checkout whose engine is audited")
    parser.add_argument("--verbose", action="store_true", help="print every call's outcome")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker()
    sets = args.sets.split(",")
    proc = Worker(args.package_root)
    for case in [(name, kernel, "valid") for name in sets for kernel in SPECS]:
        answer = proc.ask(case, args.timeout)  # the corpus is only wrong where the valid call runs
        if answer["status"] != "returned":
            print(f"the valid call {case[0]}.{case[1]} fails: {answer.get('message', answer['status'])}")
            if answer["status"] in ("crash", "hang"):
                proc = Worker(args.package_root)
    proc.close()
    cases = corpus(sets)
    tried, clean, documented, examples = defaultdict(int), defaultdict(int), defaultdict(int), defaultdict(list)
    started, proc = time.time(), Worker(args.package_root)
    for case in cases:
        answer = proc.ask(case, args.timeout)
        verdict = judge(case, answer)
        if args.verbose:
            print(" | ".join(case), "|", verdict, "|", answer.get("message", "")[:160], flush=True)
        name = case[0]
        tried[name] += 1
        if verdict == "clean":
            clean[name] += 1
        elif verdict == "documented":
            documented[name] += 1
        else:
            examples[name].append(f"{case[1]}({case[2]}): {verdict}")
        if answer["status"] in ("crash", "hang"):
            proc = Worker(args.package_root)
    proc.close()
    print(f"engine: {Path(args.package_root).resolve()}/engine; {len(cases)} calls in "
          f"{time.time() - started:.0f} s; CUDA {'simulator' if os.environ.get('NUMBA_ENABLE_CUDASIM', '1') != '0' else 'GPU'}\n")
    print("| kernel set | calls tried | handled cleanly | accepted, documented | handled wrongly | crashes or hangs | "
          "first examples of wrong handling |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for name in tried:
        wrong = tried[name] - clean[name] - documented[name]
        crashes = sum(1 for e in examples[name] if ": crash:" in e or ": hang:" in e)
        shown = "; ".join(examples[name][:4]).replace("|", "/")
        print(f"| {name} | {tried[name]} | {clean[name]} | {documented[name]} | {wrong} | {crashes} | {shown} |")


if __name__ == "__main__":
    sys.exit(main())
