"""CI's short real run: mnist_cnn on 10,000 real MNIST training images for one epoch
reaches >= 95% on the 10,000 test images."""
import time

import numpy as np

import datasets
import engine
from engine import models, nn, optim
from engine.data import DataLoader, Subset
from engine.data import transforms as T
from engine.train import Trainer


def test_mnist_cnn_one_epoch_on_10k_images(shared_data):
    train = datasets.get("mnist", root=shared_data, train=True)
    test = datasets.get("mnist", root=shared_data, train=False)
    norm = T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))])
    train_loader = DataLoader(Subset(train, np.arange(10_000)), batch_size=32, shuffle=True, seed=0, transform=norm)
    test_loader = DataLoader(test, batch_size=500, transform=norm)
    engine.manual_seed(0)
    model = models.get("mnist_cnn")
    opt = optim.Adam(model.parameters(), lr=0.01)
    sched = optim.OneCycleLR(opt, max_lr=0.01, total_steps=len(train_loader))
    trainer = Trainer(model, opt, nn.CrossEntropyLoss(), train_loader, scheduler=sched)
    t0 = time.perf_counter()
    done = trainer.fit(1)
    ev = trainer.evaluate(test_loader)
    seconds = time.perf_counter() - t0
    print(f"mnist_cnn, 10,000 images, 1 epoch: test accuracy {ev.accuracy:.4f} in {seconds:.1f} s")
    assert done.reason == "completed" and done.step == 313
    assert ev.num_samples == 10_000
    assert ev.accuracy >= 0.95
