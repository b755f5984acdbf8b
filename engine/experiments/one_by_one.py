"""one-by-one: a 1x1 convolution is a per-pixel fully connected layer; GoogLeNet's 1x1 reductions."""
from __future__ import annotations

import numpy as np

from .. import from_numpy, manual_seed, models, no_grad
from ..nn import Concat, Conv2d, Linear, Sequential
from ..nn.summary import summary

QUESTION = ("Why is a 1x1 convolution a fully connected layer applied to every pixel, and what does that buy? "
            "A 1x1 convolution and a Linear layer with the same weights are applied to the same maps "
            "(pixel by pixel for the Linear); a Linear layer over a whole 7x7 map is compared with a 7x7 "
            "convolution; then the parameters and multiply-accumulates that the 1x1 reductions save in "
            "the zoo's GoogLeNet.")

BUDGETS = {"tiny": dict(batch=2, channels=8, outputs=5, size=6),
           "quick": dict(batch=8, channels=64, outputs=32, size=14),
           "full": dict(batch=32, channels=256, outputs=128, size=28)}

# allowed |difference| where the two compute the same sums in another order (float32 rounding)
RTOL = 1e-5


def _run(module, x: np.ndarray) -> np.ndarray:
    with no_grad():
        return module(from_numpy(np.ascontiguousarray(x))).numpy()


def conv1x1_vs_linear(n: int, c: int, o: int, size: int, seed: int) -> dict:
    """A Conv2d(c, o, 1) and a Linear(c, o) holding its weights, on (n, c, size, size) maps:
    the Linear runs on the (n * size * size, c) pixel rows. Returns the outputs' max |difference|,
    whether they are bitwise equal, and the tolerance."""
    manual_seed(seed)
    conv, lin = Conv2d(c, o, 1), Linear(c, o)
    w = conv.state_dict()
    lin.load_state_dict({"weight": np.asarray(w["weight"]).reshape(o, c), "bias": np.asarray(w["bias"])})
    x = np.random.default_rng(seed).standard_normal((n, c, size, size)).astype(np.float32)
    y_conv = _run(conv, x)
    y_lin = _run(lin, x.transpose(0, 2, 3, 1).reshape(-1, c)).reshape(n, size, size, o).transpose(0, 3, 1, 2)
    return _compare(y_conv, y_lin)


def linear_vs_conv7(n: int, c: int, o: int, seed: int) -> dict:
    """A Linear(c * 49, o) over flattened (n, c, 7, 7) maps and a Conv2d(c, o, 7) holding its
    weights reshaped to (o, c, 7, 7): the convolution's (n, o, 1, 1) output against the Linear's."""
    manual_seed(seed)
    lin, conv = Linear(c * 49, o), Conv2d(c, o, 7)
    w = lin.state_dict()
    conv.load_state_dict({"weight": np.asarray(w["weight"]).reshape(o, c, 7, 7), "bias": np.asarray(w["bias"])})
    x = np.random.default_rng(seed + 1).standard_normal((n, c, 7, 7)).astype(np.float32)
    return _compare(_run(conv, x).reshape(n, o), _run(lin, x.reshape(n, -1)))


def _compare(a: np.ndarray, b: np.ndarray) -> dict:
    diff = float(np.abs(a - b).max())
    tol = RTOL * float(np.abs(a).max())
    return {"shape": a.shape, "max_diff": diff, "bitwise": bool(np.array_equal(a, b)), "tolerance": tol,
            "equal": diff <= tol}


def googlenet_reductions(shape=(3, 32, 32)) -> list:
    """Per Inception block of the zoo's googlenet: (block, input shape, branch, params and MACs
    of 1x1 reduction + kxk conv, params and MACs of one kxk conv straight from the input)."""
    net = models.get("googlenet")
    rows, block = [], 0
    for m in net:
        if isinstance(m, Concat):
            block += 1
            for branch in list(m.children())[1:3]:
                reduce, conv = branch[0], branch[3]
                k = conv.kernel_size[0]
                with_r = summary(Sequential(reduce, conv), shape)
                direct = summary(Sequential(Conv2d(reduce.in_channels, conv.out_channels, k, padding=k // 2)), shape)
                rows.append((f"inception {block}", shape, f"{reduce.in_channels} -> 1x1 {reduce.out_channels} -> "
                             f"{k}x{k} {conv.out_channels}", with_r.total_params, with_r.total_macs,
                             direct.total_params, direct.total_macs))
        shape = Sequential(m).output_shape(shape)
    return rows


def run(ctx) -> None:
    p = ctx.p
    ctx.note("1x1 convolution vs per-pixel Linear")
    one = conv1x1_vs_linear(p["batch"], p["channels"], p["outputs"], p["size"], ctx.seed)
    ctx.note("Linear over a 7x7 map vs 7x7 convolution")
    seven = linear_vs_conv7(p["batch"], p["channels"], p["outputs"], ctx.seed)
    ctx.note("GoogLeNet's 1x1 reductions")
    red = googlenet_reductions()

    def verdict(c):
        return "bitwise equal" if c["bitwise"] else ("equal to float32 rounding" if c["equal"] else "DIFFERENT")

    r = ctx.report
    r.setup += [f"random weights and inputs (seed {ctx.seed}); {p['batch']} maps of {p['channels']} channels, "
                f"{p['outputs']} outputs; the 1x1 check on {p['size']}x{p['size']} maps",
                f"equal to float32 rounding: max |difference| <= {RTOL:g} x the largest |output|",
                "GoogLeNet: the zoo's googlenet for 3x32x32 inputs; each 3x3 and 5x5 branch's 1x1 reduction + "
                "conv against one conv of the same size straight from the block's input (weights and biases)"]
    r.table(["check", "output shape", "max abs difference", "verdict"],
            [["Conv2d 1x1 vs Linear per pixel", "x".join(map(str, one["shape"])), f"{one['max_diff']:.3g}",
              verdict(one)],
             ["Linear over 7x7 vs Conv2d 7x7", "x".join(map(str, seven["shape"])), f"{seven['max_diff']:.3g}",
              verdict(seven)]])
    r.table(["block", "input", "branch", "params (with 1x1)", "MACs (with 1x1)", "params (direct)",
             "MACs (direct)", "MACs saved"],
            [[b, "x".join(map(str, s)), br, f"{pw:,}", f"{mw:,}", f"{pd:,}", f"{md:,}", f"{1 - mw / md:.0%}"]
             for b, s, br, pw, mw, pd, md in red])
    r.csv("googlenet_reductions.csv", ["block", "input", "branch", "params_with_1x1", "macs_with_1x1",
                                       "params_direct", "macs_direct"],
          [[b, "x".join(map(str, s)), br, pw, mw, pd, md] for b, s, br, pw, mw, pd, md in red],
          "GoogLeNet branches with and without their 1x1 reductions")
    r.csv("checks.csv", ["check", "max_abs_difference", "tolerance", "bitwise_equal"],
          [["conv1x1_vs_linear", one["max_diff"], one["tolerance"], one["bitwise"]],
           ["linear_vs_conv7x7", seven["max_diff"], seven["tolerance"], seven["bitwise"]]],
          "the two equivalence checks")
    r.plot("googlenet_macs.png", "GoogLeNet 3x3/5x5 branches: MACs with and without 1x1 reduction",
           "branch (in forward order)", "MACs per image",
           {"with 1x1 reduction": (np.arange(1, len(red) + 1), [row[4] for row in red]),
            "direct conv": (np.arange(1, len(red) + 1), [row[6] for row in red])})
    pw, mw, pd, md = (sum(row[k] for row in red) for k in (3, 4, 5, 6))
    r.finding = (f"A 1x1 convolution and a per-pixel Linear with the same weights gave {verdict(one)} outputs "
                 f"(max |difference| {one['max_diff']:.3g}), and a Linear over a 7x7 map and a 7x7 convolution gave "
                 f"{verdict(seven)} outputs (max |difference| {seven['max_diff']:.3g}). In googlenet the 1x1 reductions cut "
                 f"its 3x3 and 5x5 branches from {pd:,} to {pw:,} parameters and from {md / 1e6:,.1f} M to "
                 f"{mw / 1e6:,.1f} M MACs per image ({1 - mw / md:.0%} fewer).")
