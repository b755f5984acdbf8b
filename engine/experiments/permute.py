"""permute: a CNN needs the pixels' neighbourhoods; a fully connected net does not care."""
from __future__ import annotations

import numpy as np

from .. import models
from ..nn import Flatten, Linear, ReLU, Sequential
from ..train.recipe import open_data
from .arms import loss_curves, pct, record, seeded
from .data import describe, with_images

QUESTION = ("Why does a CNN need the pixels' neighbourhoods? A fully connected net and a CNN with about the "
            "same number of parameters are trained on MNIST, then on MNIST with every image's pixels moved "
            "by one fixed random permutation (the same for all images): which one loses its accuracy?")

BUDGETS = {"tiny": dict(n_train=256, n_val=128, epochs=1, batch=32, lr=0.05),
           "quick": dict(n_train=10000, n_val=2000, epochs=3, batch=64, lr=0.05),
           "full": dict(n_train=None, n_val=None, epochs=10, batch=64, lr=0.05)}


def mlp_like(params: int, pixels: int = 784, classes: int = 10) -> Sequential:
    """Flatten, Linear(pixels, h), ReLU, Linear(h, classes) with h chosen so that the
    parameter count is closest to ``params``."""
    hidden = max(1, round((params - classes) / (pixels + 1 + classes)))
    return Sequential(Flatten(), Linear(pixels, hidden), ReLU(), Linear(hidden, classes))


def permuted(images: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """(N, H, W) images whose H*W pixels are reordered by ``perm`` (the same for every image)."""
    n, h, w = images.shape
    return images.reshape(n, h * w)[:, perm].reshape(n, h, w)


def run(ctx) -> None:
    p = ctx.p
    s = ctx.settings("mnist")
    data = open_data(s)
    h, w = data.shape[1:]
    perm = np.random.default_rng(ctx.seed).permutation(h * w)
    cnn_params = models.get("mnist_cnn").num_parameters()
    builds = {"CNN": (models.get, "mnist_cnn"), "fully connected": (mlp_like, cnn_params)}
    arms = {}
    for pixels, f in (("original", lambda a: a), ("permuted", lambda a: permuted(a, perm))):
        train, val = with_images(data.train, f), with_images(data.val, f)
        for net, (build, arg) in builds.items():
            arm = f"{net}, {pixels} pixels"
            ctx.note(arm)
            arms[arm] = ctx.train(arm, s, data, seeded(build, ctx.seed, arg), train=train, val=val)

    r = ctx.report
    r.setup += [describe(data), "CNN: the zoo's mnist_cnn (conv 5x5 6 - pool - conv 5x5 6 - pool - FC 50 - FC 10); "
                "fully connected: one hidden ReLU layer sized to the CNN's parameter count",
                f"permutation: one fixed shuffle of the 784 pixel positions (seed {ctx.seed}), applied to every "
                "training and validation image", f"SGD lr {p['lr']} momentum 0.9, batch {p['batch']}, "
                f"{p['epochs']} epoch(s), seed {ctx.seed} (each net starts from the same weights on both inputs)"]
    r.table(["arm", "parameters", "final train loss", "val accuracy"],
            [[a, f"{res.parameters():,}", f"{res.last('train_loss'):.3f}", pct(res.last("val_accuracy"))]
             for a, res in arms.items()])
    record(r, arms)
    r.plot("loss.png", "Training loss per step", "step", "loss", loss_curves(arms))
    acc = {a: res.last("val_accuracy") for a, res in arms.items()}
    co, cp = acc["CNN, original pixels"], acc["CNN, permuted pixels"]
    fo, fp = acc["fully connected, original pixels"], acc["fully connected, permuted pixels"]
    r.finding = (f"On the original images the CNN reached {pct(co)} and the fully connected net {pct(fo)}; on "
                 f"permuted pixels the CNN reached {pct(cp)} ({100 * (cp - co):+.1f} points) and the fully connected "
                 f"net {pct(fp)} ({100 * (fp - fo):+.1f} points).")
