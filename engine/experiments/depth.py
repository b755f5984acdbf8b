"""depth: why very deep plain networks train worse and residual ones do not (He et al. 2016, Fig. 1)."""
from __future__ import annotations

import numpy as np

from ..models.resnet import _resnet
from ..nn import ReLU, Residual, Sequential
from ..train.recipe import open_data
from .arms import pct, record, seeded
from .data import describe

QUESTION = ("Why do very deep plain networks train worse, and residual ones not? CIFAR ResNets of two "
            "depths (6n + 2 layers) are trained beside their plain twins, the same networks with the "
            "shortcuts dropped; does the deeper plain net reach a higher training error than the shallower "
            "one (the degradation of He et al. 2016, Fig. 1), and do the shortcuts remove it?")

BUDGETS = {"tiny": dict(n_train=128, n_val=64, depths=(8, 14), epochs=1, batch=32, lr=0.05, window=2),
           "quick": dict(n_train=2500, n_val=500, depths=(20, 56), epochs=3, batch=64, lr=0.05, window=20),
           "full": dict(n_train=None, n_val=None, depths=(20, 56), epochs=40, batch=128, lr=0.1, window=100)}


def cifar_net(depth: int, residual: bool) -> Sequential:
    """The CIFAR ResNet of ``depth`` = 6n + 2 layers (16/32/64 channels, n blocks per stage);
    ``residual=False`` gives its plain twin: each block's body then ReLU, no shortcut."""
    if (depth - 2) % 6 or depth < 8:
        raise ValueError(f"depth must be 6n + 2 with n >= 1 (8, 14, 20, 56, ...), got {depth}")
    net = _resnet([16, 32, 64], [(depth - 2) // 6] * 3, 3, 10)
    if residual:
        return net
    return Sequential(*[Sequential(*m[0].body, ReLU()) if isinstance(m, Sequential) and isinstance(m[0], Residual)
                        else m for m in net])


def run(ctx) -> None:
    p = ctx.p
    s = ctx.settings("cifar10")
    data = open_data(s)
    arms = {}
    for residual in (False, True):
        for depth in p["depths"]:
            arm = f"{'residual' if residual else 'plain'}-{depth}"
            ctx.note(arm)
            arms[arm] = ctx.train(arm, s, data, seeded(cifar_net, ctx.seed, depth, residual))

    def train_error(res):
        """1 - mean training-batch accuracy over the last ``window`` steps."""
        return 1.0 - float(np.mean(res.column("accuracy")[-p["window"]:]))

    r = ctx.report
    shallow, deep = p["depths"]
    r.setup += [describe(data), f"depths {shallow} and {deep} (6n + 2: n = {(shallow - 2) // 6} and "
                f"{(deep - 2) // 6} basic blocks per stage), conv + batch norm + ReLU, global average pooling",
                f"SGD lr {p['lr']} momentum 0.9, batch {p['batch']}, {p['epochs']} epoch(s), seed {ctx.seed}, "
                f"same batches in every arm; training error = 1 - mean batch accuracy of the last {p['window']} steps"]
    r.table(["network", "parameters", "training error", "val accuracy", "seconds"],
            [[a, f"{res.parameters():,}", pct(train_error(res)),
              pct(res.last("val_accuracy")), f"{res.seconds:.1f}"] for a, res in arms.items()])
    record(r, arms)
    w = p["window"]
    r.plot("train_error.png", f"Training error ({w}-step mean)", "step", "training error",
           {a: (res.column("step")[w - 1:], 1 - np.convolve(res.column("accuracy"), np.ones(w) / w, "valid"))
            for a, res in arms.items()})
    e = {a: train_error(res) for a, res in arms.items()}
    ps, pd, rs, rd = (e[f"plain-{shallow}"], e[f"plain-{deep}"], e[f"residual-{shallow}"], e[f"residual-{deep}"])
    r.finding = (f"Plain nets: {deep} layers ended at {pct(pd)} training error against {pct(ps)} for {shallow} "
                 f"layers ({'worse: degradation' if pd > ps else 'no degradation at this budget'}). "
                 f"Residual nets: {pct(rd)} at {deep} layers against {pct(rs)} at {shallow} "
                 f"({'the deeper one trains at least as well' if rd <= rs else 'the deeper one is still behind'}).")
