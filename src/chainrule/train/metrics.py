"""Evaluation: predictions, loss and accuracy over a dataset in batches, confusion matrices."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import _tensor, function
from chainrule.nn import functional


def predict_scores(model: Any, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """The model's scores for every row of ``x``, in eval mode, without recording a graph.

    >>> from chainrule import nn
    >>> net = nn.MLP([4, 8, 3], rng=np.random.default_rng(0))
    >>> predict_scores(net, np.zeros((5, 4), np.float32)).shape
    (5, 3)
    """
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        with function.no_grad():
            parts = [
                np.asarray(model(_tensor.tensor(x[i : i + batch_size])).data)
                for i in range(0, len(x), batch_size)
            ]
    finally:
        if was_training:
            model.train()
    return np.concatenate(parts)


def evaluate(
    model: Any,
    x: np.ndarray,
    y: np.ndarray,
    loss_fn: Callable[[Any, Any], Any] | None = None,
    batch_size: int = 1024,
) -> tuple[float, float]:
    """``(mean loss, accuracy)`` of ``model`` on ``(x, y)``; cross-entropy by default.

    >>> from chainrule import nn
    >>> net = nn.MLP([4, 8, 3], rng=np.random.default_rng(0))
    >>> loss, acc = evaluate(net, np.zeros((6, 4), np.float32), np.zeros(6, np.int64))
    >>> 0.0 <= acc <= 1.0 and loss > 0
    True
    """
    if len(x) == 0:
        return float("nan"), float("nan")
    loss_fn = functional.cross_entropy if loss_fn is None else loss_fn
    scores = predict_scores(model, x, batch_size)
    with function.no_grad():
        loss = float(np.asarray(loss_fn(_tensor.tensor(scores), y).data))
    return loss, float(np.mean(scores.argmax(axis=1) == y))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts ``C[i, j]`` of samples of true class i predicted as class j.

    >>> confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 3)
    array([[1, 0, 0],
           [0, 1, 1],
           [0, 0, 1]])
    """
    idx = np.asarray(y_true, dtype=np.int64) * num_classes + np.asarray(y_pred, dtype=np.int64)
    return np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def format_confusion(matrix: np.ndarray, labels: list[str] | None = None) -> str:
    """A confusion matrix as a text table: rows are true classes, columns predictions.

    >>> print(format_confusion(np.array([[5, 1], [0, 4]])))
    true\\pred  0  1
            0  5  1
            1  0  4
    """
    n = len(matrix)
    labels = [str(i) for i in range(n)] if labels is None else labels
    width = 1 + max(len(str(int(matrix.max()))), *(len(s) for s in labels))
    head = "true\\pred"
    lines = [head + " " + " ".join(s.rjust(width) for s in labels)]
    for label, row in zip(labels, matrix, strict=True):
        cells = " ".join(str(int(v)).rjust(width) for v in row)
        lines.append(label.rjust(len(head)) + " " + cells)
    return "\n".join(lines)
