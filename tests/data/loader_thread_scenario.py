"""Run by test_loader_threads.py in a child process: loader worker threads transform
batches (the data kernels) while this training thread runs a training step of the
engine's kernels on their own thread pool per batch."""

import numpy as np

from datasets import VisionDataset
from engine import manual_seed, nn, optim, tensor
from engine.data import DataLoader
from engine.data import transforms as T


def batches(num_workers):
    rng = np.random.default_rng(0)
    augment = T.Compose([T.RandomCrop(16, padding=2), T.RandomHorizontalFlip(), T.ColorJitter(0.2, 0.2, 0.2),
                         T.ToTensor(), T.Normalize((0.5,), (0.5,)), T.RandomErasing()])
    ds = VisionDataset(rng.integers(0, 256, (2048, 16, 16, 3), dtype=np.uint8), rng.integers(0, 10, 2048),
                       list("abcdefghij"), augment)
    return DataLoader(ds, batch_size=16, shuffle=True, num_workers=num_workers, seed=0)


def main():
    manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(8 * 8 * 8, 10))
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    crit = nn.CrossEntropyLoss()
    seen, same = 0, True
    for _ in range(2):
        for (x, y), (x0, _) in zip(batches(2), batches(0)):
            loss = crit(model(x), tensor(np.asarray(y)))
            opt.zero_grad()
            loss.backward()
            opt.step()
            same &= bool(np.array_equal(np.asarray(x), np.asarray(x0)))
            seen += len(x)
    print("ok" if same else "batches differ", seen)


if __name__ == "__main__":
    main()
