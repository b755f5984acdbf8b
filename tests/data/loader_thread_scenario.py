"""Run by test_loader_threads.py in a child process: loader workers transform
batches while this (training) thread runs a parallel Numba kernel per batch."""

import numpy as np
from numba import njit, prange

from datasets import VisionDataset
from engine.data import DataLoader
from engine.data import transforms as T


@njit(parallel=True, cache=True)
def train_step(a):
    total = 0.0
    for i in prange(a.shape[0]):
        total += np.sqrt(a[i]) * 0.5
    return total


def main():
    rng = np.random.default_rng(0)
    augment = T.Compose([T.RandomCrop(16, padding=2), T.RandomHorizontalFlip(), T.ColorJitter(0.2, 0.2, 0.2),
                         T.ToTensor(), T.Normalize((0.5,), (0.5,)), T.RandomErasing()])
    ds = VisionDataset(rng.integers(0, 256, (2048, 16, 16, 3), dtype=np.uint8), rng.integers(0, 10, 2048),
                       list("abcdefghij"), augment)
    loader = DataLoader(ds, batch_size=16, shuffle=True, num_workers=2, seed=0)
    work = rng.random(100_000)
    seen = 0
    for _ in range(2):
        for x, _ in loader:
            train_step(work)
            seen += len(x)
    print("ok", seen)


if __name__ == "__main__":
    main()
