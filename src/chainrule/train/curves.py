"""Loss and accuracy curves as a PNG, drawn with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import Any

from chainrule.train.checkpoint import atomic_write_bytes


def plot_curves(
    history: Sequence[dict[str, Any]],
    iteration_losses: Sequence[float],
    path: str | os.PathLike[str],
) -> None:
    """Save the loss (per iteration and per epoch) and accuracy (per epoch) curves to ``path``.

    ``history`` holds one record per epoch with ``train_loss`` (the data loss), ``train_acc``,
    ``val_loss`` and ``val_acc`` (the validation keys may be None), and ``l2_penalty`` where
    the run had one (drawn as a line of its own: the data losses are what compare with the
    validation loss). ``iteration_losses`` are the data losses of each step.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "curves.png"
    >>> h = [{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.1, "val_acc": 0.4}]
    >>> plot_curves(h, [1.5, 1.2, 0.9], p)
    >>> p.read_bytes()[:4]
    b'\\x89PNG'
    """
    # the object-oriented API with an explicit Agg canvas: no pyplot, no global backend switch
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax_loss, ax_acc = fig.subplots(1, 2)
    epochs = [h["epoch"] for h in history]
    per_epoch = len(iteration_losses) / max(len(history), 1)
    if iteration_losses:
        xs = [(i + 1) / per_epoch for i in range(len(iteration_losses))] if history else None
        ax_loss.plot(
            xs if xs else range(len(iteration_losses)),
            iteration_losses,
            color="tab:blue",
            alpha=0.3,
            linewidth=0.8,
            label="train data loss (per batch)",
        )
    if history:
        ax_loss.plot(epochs, [h["train_loss"] for h in history], "o-", color="tab:blue",
                     label="train data loss (epoch mean)")  # fmt: skip
        if any(h.get("l2_penalty") for h in history):
            ax_loss.plot(epochs, [h.get("l2_penalty", 0.0) for h in history], "s--",
                         color="tab:green", label="L2 penalty (epoch mean)")  # fmt: skip
        ax_acc.plot(epochs, [h["train_acc"] for h in history], "o-", color="tab:blue",
                    label="train (running)")  # fmt: skip
        if any(h.get("val_loss") is not None for h in history):
            ax_loss.plot(epochs, [h.get("val_loss") for h in history], "o-", color="tab:orange",
                         label="validation data loss")  # fmt: skip
            ax_acc.plot(epochs, [h.get("val_acc") for h in history], "o-", color="tab:orange",
                        label="validation")  # fmt: skip
    ax_loss.set(xlabel="epoch", ylabel="loss", title="Loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())
