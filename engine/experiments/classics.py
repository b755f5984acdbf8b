"""classics: the zoo's classic architectures side by side on CIFAR-10."""
from __future__ import annotations

from dataclasses import replace

from ..nn.summary import summary
from ..train.recipe import open_data
from .arms import loss_curves, pct, record
from .data import describe

QUESTION = ("How do the classic CNNs compare? LeNet-5, AlexNet, ZFNet, VGG11, VGG16, GoogLeNet, ResNet-20 and "
            "ResNet-18 from the zoo, all sized for 3x32x32 CIFAR-10 images: parameters, multiply-accumulates "
            "per image, training images per second on this machine, and validation accuracy after the same "
            "short training budget.")

MODELS = ("lenet5", "alexnet", "zfnet", "vgg11", "vgg16", "googlenet", "resnet20", "resnet18")
SHAPE = (3, 32, 32)

BUDGETS = {"tiny": dict(n_train=16, n_val=16, epochs=1, batch=8, lr=0.01),
           "quick": dict(n_train=1000, n_val=500, epochs=1, batch=32, lr=0.01),
           "full": dict(n_train=None, n_val=None, epochs=10, batch=128, lr=0.01)}


def run(ctx) -> None:
    p = ctx.p
    s = ctx.settings("cifar10")
    data = open_data(s)
    arms, macs = {}, {}
    for name in MODELS:
        ctx.note(name)
        arms[name] = ctx.train(name, replace(s, model=name), data, divergence_ok=True)
        macs[name] = summary(arms[name].model, SHAPE).total_macs

    def accuracy(res):
        return pct(res.last("val_accuracy")) if res.reason == "completed" else "diverged"

    r = ctx.report
    r.setup += [describe(data), f"every model: SGD lr {p['lr']} momentum 0.9, batch {p['batch']}, {p['epochs']} "
                f"epoch(s), seed {ctx.seed}, the same batches; LeNet-5 takes the 3x32x32 images directly",
                "images/s: median training throughput (forward + backward + update) over the steps after the first"]
    r.table(["model", "parameters", "MACs per image", "train images/s", "val accuracy"],
            [[n, f"{res.parameters():,}", f"{macs[n] / 1e6:,.1f} M", f"{res.images_per_sec():,.1f}", accuracy(res)]
             for n, res in arms.items()])
    r.csv("models.csv", ["model", "parameters", "macs", "images_per_sec", "val_accuracy"],
          [[n, res.parameters(), macs[n], res.images_per_sec(),
            res.last("val_accuracy") if res.reason == "completed" else ""] for n, res in arms.items()],
          "one row per model")
    record(r, arms)
    r.plot("loss.png", "Training loss per step", "step", "loss", loss_curves(arms))
    done = {n: res for n, res in arms.items() if res.reason == "completed"}
    fastest = max(arms, key=lambda n: arms[n].images_per_sec())
    slowest = min(arms, key=lambda n: arms[n].images_per_sec())
    best = max(done, key=lambda n: done[n].last("val_accuracy")) if done else None
    diverged = [n for n in arms if n not in done]
    r.finding = (f"Parameters ranged from {min(res.parameters() for res in arms.values()):,} to "
                 f"{max(res.parameters() for res in arms.values()):,} and MACs per image from "
                 f"{min(macs.values()) / 1e6:,.1f} M to {max(macs.values()) / 1e6:,.1f} M; {fastest} trained fastest "
                 f"({arms[fastest].images_per_sec():,.0f} images/s), {slowest} slowest "
                 f"({arms[slowest].images_per_sec():,.1f} images/s). "
                 + (f"After the same budget {best} was the most accurate ({pct(done[best].last('val_accuracy'))})"
                    if best else "Every model diverged at this budget")
                 + (f"; {', '.join(diverged)} diverged." if diverged else "."))
