"""Small, fast fixtures for the trainer tests: a synthetic, learnable image dataset and
a tiny model with every kind of state a resume must carry (BatchNorm, Dropout)."""
import numpy as np

import engine
from engine import nn, optim
from engine.data import DataLoader
from engine.data import transforms as T


class ArrayDataset:
    """uint8 (N, H, W) images whose class is where they are bright: top half, bottom half,
    centre, or nowhere (so left-right flips and small crops keep the label)."""

    def __init__(self, n=192, size=8, classes=4, seed=0):
        rng = np.random.default_rng(seed)
        self.targets = rng.integers(0, classes, n).astype(np.int64)
        data = rng.integers(0, 60, (n, size, size)).astype(np.uint8)
        h, q = size // 2, size // 4
        for i, t in enumerate(self.targets):
            if t == 0:
                data[i, :h] += 150
            elif t == 1:
                data[i, h:] += 150
            elif t == 2:
                data[i, q:size - q, q:size - q] += 150
        self.data = data
        self.classes = [f"c{i}" for i in range(classes)]
        self.transform = None

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        return self.data[i], int(self.targets[i])


def tiny_model(classes=4, dropout=True, bn=True):
    layers = [nn.Conv2d(1, 4, 3, padding=1)]
    if bn:
        layers.append(nn.BatchNorm2d(4))
    layers += [nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()]
    if dropout:
        layers.append(nn.Dropout(0.2))
    layers += [nn.Linear(4 * 4 * 4, classes)]
    return nn.Sequential(*layers)


NORM = [T.ToTensor(), T.Normalize((0.3,), (0.3,))]


def make_loaders(n=192, batch_size=16, seed=0, augment=True, val=True, n_val=64):
    ds = ArrayDataset(n)
    aug = [T.RandomCrop(8, padding=1), T.RandomHorizontalFlip()] if augment else []
    train = DataLoader(ds, batch_size=batch_size, shuffle=True, seed=seed, transform=T.Compose(aug + NORM))
    val_loader = DataLoader(ArrayDataset(n_val, seed=1), batch_size=32, transform=T.Compose(NORM)) if val else None
    return train, val_loader


def make_trainer(seed=0, lr=0.05, scheduler="onecycle", epochs_for_schedule=3, callbacks=(), model_seed=None,
                 opt="adam", **kw):
    from engine.train import Trainer
    engine.manual_seed(seed if model_seed is None else model_seed)
    model = tiny_model()
    loader_args = ("n", "batch_size", "augment", "val", "n_val")
    train, val = make_loaders(seed=seed, **{k: kw.pop(k) for k in list(kw) if k in loader_args})
    o = optim.Adam(model.parameters(), lr=lr) if opt == "adam" else optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    sched = None
    if scheduler == "onecycle":
        sched = optim.OneCycleLR(o, max_lr=lr, total_steps=epochs_for_schedule * len(train))
    elif scheduler == "step":
        sched = optim.StepLR(o, step_size=1, gamma=0.5)
    return Trainer(model, o, nn.CrossEntropyLoss(), train, val, scheduler=sched, callbacks=callbacks,
                   input_shape=(1, 8, 8), **kw)





