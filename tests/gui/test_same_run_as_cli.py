"""One recipe: the studio's worker and ``numbacnn train`` build the same run from the same
settings (engine.train.recipe), so 20 training steps give bit-identical losses and weights."""
import json
from pathlib import Path

import numpy as np

from engine import cli
from engine.train import load_checkpoint
from engine.train.threads import MAX_THREADS
from helpers.qt import wait_until


def test_twenty_steps_of_the_studio_and_the_command_line_are_bit_identical(qtbot, shared_data, tmp_path):
    from gui.state import AppState
    from gui.worker import Worker
    # 711 images, 71 held out: 640 trained on, 20 batches of 32
    rc = cli.main(["train", "--model", "mnist_cnn", "--dataset", "mnist", "--data-root", str(shared_data),
                   "--train-size", "711", "--val-split", "0.1", "--epochs", "1", "--batch-size", "32",
                   "--optimizer", "sgd", "--lr", "0.05", "--momentum", "0.9", "--nesterov", "--weight-decay", "5e-4",
                   "--schedule", "cosine", "--warmup", "0.5", "--augment", "flip", "--workers", "0", "--seed", "3",
                   "--threads", str(MAX_THREADS), "--log-every", "1", "--quiet", "--out", str(tmp_path / "cli")])
    assert rc == 0
    records = [json.loads(line) for line in open(tmp_path / "cli" / "metrics.jsonl")]
    cli_losses = [r["loss"] for r in records if r["event"] == "batch"]

    state = AppState()
    state.set_data(name="MNIST", root=str(shared_data), limit=711, val_fraction=0.1, augment=True, random_crop=False,
                   hflip=True, color_jitter=False)
    state.set_model(source="zoo", zoo_name="mnist_cnn")
    state.set_hyper(optimizer="SGD", lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4, batch_size=32,
                    epochs=1, schedule="CosineAnnealingLR", warmup_epochs=0.5, seed=3, num_workers=0, threads=0,
                    runs_dir=str(tmp_path / "studio"))
    worker = Worker(state)
    try:
        run = worker.start_training()
        assert wait_until(qtbot, lambda: not worker.training, 300), run.status
    finally:
        worker.shutdown(timeout=30)
    assert run.status == "completed", run.message
    studio_losses = run.batches["loss"].view().tolist()

    assert len(cli_losses) == 20 and studio_losses == cli_losses
    ours = load_checkpoint(Path(run.directory) / "last.npz").model_state
    theirs = load_checkpoint(tmp_path / "cli" / "last.npz").model_state
    assert ours.keys() == theirs.keys()
    for key in ours:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
