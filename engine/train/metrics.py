"""Classification metrics over host numpy arrays: accuracy, top-k, confusion matrix,
per-class accuracy, and a streaming accumulator the Trainer's evaluate() uses."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["accuracy", "topk_accuracy", "topk_correct", "confusion_matrix", "per_class_accuracy",
           "MetricAccumulator", "Evaluation", "format_confusion"]


def _targets(targets) -> np.ndarray:
    return np.asarray(targets).reshape(-1).astype(np.int64, copy=False)


def accuracy(scores, targets) -> float:
    """Top-1 accuracy in [0, 1] of ``scores`` (N, K) logits or probabilities, or (N,)
    predicted classes, against ``targets`` (N,)."""
    scores = np.asarray(scores)
    t = _targets(targets)
    if t.size == 0:
        return float("nan")
    pred = scores if scores.ndim == 1 else scores.argmax(axis=1)
    return float(np.mean(pred == t))


def topk_correct(scores, targets, k: int) -> int:
    """How many rows of ``scores`` (N, K) have their target among the k highest scores
    (ties broken toward the lower class index, as argsort)."""
    scores = np.asarray(scores)
    t = _targets(targets)
    k = min(int(k), scores.shape[1])
    if k == 1:
        return int(np.sum(scores.argmax(axis=1) == t))
    # a target is in the top k when fewer than k classes score strictly higher
    # (or equal with a lower index): rank of the target's score in its row
    tgt = scores[np.arange(len(t)), t][:, None]
    higher = (scores > tgt).sum(axis=1)
    equal_before = ((scores == tgt) & (np.arange(scores.shape[1])[None, :] < t[:, None])).sum(axis=1)
    return int(np.sum(higher + equal_before < k))


def topk_accuracy(scores, targets, k: int = 5) -> float:
    t = _targets(targets)
    return float("nan") if t.size == 0 else topk_correct(scores, t, k) / t.size


def confusion_matrix(pred, targets, num_classes: int) -> np.ndarray:
    """(K, K) int64 counts: row = true class, column = predicted class."""
    pred = _targets(pred)
    t = _targets(targets)
    return np.bincount(t * num_classes + pred, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes).astype(np.int64)


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    """Recall of each class (diagonal over row sums); NaN for a class with no samples."""
    cm = np.asarray(cm)
    rows = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(rows > 0, np.diag(cm) / np.maximum(rows, 1), np.nan)


@dataclass
class Evaluation:
    """What ``Trainer.evaluate`` returns; also readable as a dict (``ev["accuracy"]``).
    ``to_dict`` leaves out the per-sample ``predictions``."""

    loss: float
    accuracy: float
    top5: float
    per_class: np.ndarray          # (K,) accuracy of each true class
    confusion: np.ndarray          # (K, K) counts, row = true, column = predicted
    num_samples: int
    class_names: list = field(default_factory=list)
    predictions: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))   # (N,) predicted classes

    def __getitem__(self, key):
        return getattr(self, key)

    def to_dict(self) -> dict:
        """JSON-able."""
        return {"loss": self.loss, "accuracy": self.accuracy, "top5": self.top5,
                "per_class": [None if np.isnan(v) else float(v) for v in self.per_class],
                "confusion": self.confusion.tolist(), "num_samples": self.num_samples,
                "class_names": list(self.class_names)}

    def report(self) -> str:
        """Accuracy, per-class accuracy and the confusion matrix as text."""
        names = self.class_names or [str(i) for i in range(len(self.per_class))]
        lines = [f"samples: {self.num_samples:,}   loss: {self.loss:.4f}   accuracy: {100 * self.accuracy:.2f}%   "
                 f"top-5: {100 * self.top5:.2f}%", "", "per-class accuracy:"]
        w = max(len(n) for n in names)
        for n, a, c in zip(names, self.per_class, self.confusion.sum(axis=1)):
            lines.append(f"  {n.ljust(w)}  {'   n/a' if np.isnan(a) else f'{100 * a:6.2f}%'}  ({c:,} images)")
        lines += ["", "confusion matrix (rows: true class, columns: predicted):",
                  format_confusion(self.confusion, names)]
        return "\n".join(lines)


def format_confusion(cm: np.ndarray, names=None) -> str:
    """Rows: true class ("index name"), columns: predicted class index."""
    cm = np.asarray(cm)
    k = cm.shape[0]
    names = [str(n) for n in (names or range(k))]
    labels = [n if n.startswith(str(i)) else f"{i} {n}" for i, n in enumerate(names)]
    labels = [lab[:16] for lab in labels]
    lw = max(len(lab) for lab in labels) if labels else 1
    w = max(len(str(int(cm.max()))) if cm.size else 1, len(str(k - 1)))
    head = " " * (lw + 2) + " ".join(str(i).rjust(w) for i in range(k))
    rows = [labels[i].ljust(lw) + "  " + " ".join(str(int(v)).rjust(w) for v in cm[i]) for i in range(k)]
    return "\n".join([head] + rows)


class MetricAccumulator:
    """Streams batches of (probabilities or logits, targets, mean loss) into running totals."""

    def __init__(self, num_classes: int | None = None, k: int = 5):
        self.num_classes, self.k = num_classes, k
        self.reset()

    def reset(self):
        self.loss_sum = 0.0
        self.n = 0
        self.correct = 0
        self.correct_k = 0
        self.cm = None if self.num_classes is None else np.zeros((self.num_classes, self.num_classes), np.int64)
        self.predictions = []

    def update(self, scores, targets, loss: float) -> None:
        scores = np.asarray(scores)
        t = _targets(targets)
        if self.cm is None:
            self.num_classes = scores.shape[1]
            self.cm = np.zeros((self.num_classes, self.num_classes), np.int64)
        pred = scores.argmax(axis=1)
        self.predictions.append(pred.astype(np.int64, copy=False))
        self.loss_sum += float(loss) * t.size
        self.n += t.size
        self.correct += int(np.sum(pred == t))
        self.correct_k += topk_correct(scores, t, self.k)
        self.cm += confusion_matrix(pred, t, self.num_classes)

    def result(self, class_names=()) -> Evaluation:
        n = max(self.n, 1)
        cm = self.cm if self.cm is not None else np.zeros((0, 0), np.int64)
        nan = float("nan")
        return Evaluation(loss=self.loss_sum / n if self.n else nan, accuracy=self.correct / n if self.n else nan,
                          top5=self.correct_k / n if self.n else nan, per_class=per_class_accuracy(cm),
                          confusion=cm, num_samples=self.n, class_names=list(class_names),
                          predictions=np.concatenate(self.predictions) if self.predictions else np.zeros(0, np.int64))
