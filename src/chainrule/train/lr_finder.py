"""The learning-rate range test: train a copy with an exponentially growing learning rate.

``find_lr`` trains a deep copy of the model for up to ``steps`` minibatches, the learning rate
growing from ``lr_min`` to ``lr_max`` by the same factor each step, and stops when the smoothed
loss exceeds ``diverge`` times its best (the rate has become too large). It suggests a tenth of
the rate at which the smoothed loss was lowest: still on the steep, stable part of the curve.
The model, its optimizer and every random generator are left as they were; ``plot`` writes
``lr_find.png`` (loss against learning rate, log scale, the suggestion marked).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import _tensor, optim
from chainrule.data.loader import DataLoader
from chainrule.nn import functional, init


@dataclasses.dataclass
class LRFinderResult:
    """The rates tried, the smoothed loss at each, the suggestion and why the test stopped."""

    lrs: list[float]
    losses: list[float]
    suggestion: float
    stopped: str


def _optimizer(name: str, params: list[Any], lr: float) -> Any:
    makers: dict[str, Callable[[], Any]] = {
        "sgd": lambda: optim.SGD(params, lr=lr),
        "momentum": lambda: optim.SGD(params, lr=lr, momentum=0.9, nesterov=True),
        "rmsprop": lambda: optim.RMSprop(params, lr=lr),
        "adam": lambda: optim.Adam(params, lr=lr),
        "adamw": lambda: optim.AdamW(params, lr=lr),
    }
    if name not in makers:
        raise ValueError(f"find_lr: optimizer must be one of {', '.join(makers)}, got {name!r}")
    return makers[name]()


def find_lr(
    model: Any,
    data: tuple[np.ndarray, np.ndarray],
    *,
    optimizer: str = "adam",
    lr_min: float = 1e-6,
    lr_max: float = 10.0,
    steps: int = 300,
    batch_size: int = 32,
    reg: float = 0.0,
    diverge: float = 4.0,
    seed: int = 0,
    plot: str | os.PathLike[str] | None = None,
) -> LRFinderResult:
    """Run the range test (see the module docstring) and return its ``LRFinderResult``.

    >>> import numpy as np
    >>> from chainrule import nn, train
    >>> from chainrule.data import spiral
    >>> X, y = spiral(100, 3)
    >>> net = nn.MLP([2, 50, 3], rng=np.random.default_rng(0))
    >>> w = net[0].weight.data.copy()
    >>> r = train.find_lr(net, (X, y), steps=200)
    >>> 1e-4 < r.suggestion < 1.0, bool((net[0].weight.data == w).all())
    (True, True)
    """
    if not 0 < lr_min < lr_max or not math.isfinite(lr_max):
        raise ValueError(f"find_lr: need 0 < lr_min < lr_max, got {lr_min:g} and {lr_max:g}")
    if steps < 10:
        raise ValueError(f"find_lr: steps must be at least 10, got {steps}")
    g = init.get_rng()
    rng_state = g.bit_generator.state  # a Dropout without its own rng draws from this one
    net = copy.deepcopy(model).train()
    opt = _optimizer(optimizer, list(net.parameters()), lr_min)
    loader = DataLoader(data[0], data[1], batch_size=batch_size, seed=seed)
    factor = (lr_max / lr_min) ** (1.0 / (steps - 1))
    lrs: list[float] = []
    losses: list[float] = []
    avg, best, stopped = 0.0, math.inf, f"reached lr_max {lr_max:g}"
    try:
        while len(lrs) < steps:
            for xb, yb in loader:
                lr = lr_min * factor ** len(lrs)
                opt.lr = lr
                loss = functional.cross_entropy(net(_tensor.Tensor._wrap(xb)), yb)
                if reg > 0:
                    loss = loss + functional.l2_penalty(net, reg)
                opt.zero_grad()
                loss.backward()
                opt.step()
                value = float(loss.data)
                # an exponential average, bias-corrected, so one noisy batch does not decide
                avg = 0.9 * avg + 0.1 * value
                smooth = avg / (1 - 0.9 ** (len(lrs) + 1))
                lrs.append(lr)
                losses.append(smooth)
                if not math.isfinite(smooth) or smooth > diverge * best:
                    stopped = f"loss diverged at lr {lr:.3g}"
                    break
                best = min(best, smooth)
                if len(lrs) == steps:
                    break
            if stopped.startswith("loss diverged"):
                break
    finally:
        g.bit_generator.state = rng_state
    finite = [i for i, v in enumerate(losses) if math.isfinite(v)]
    i_best = min(finite, key=lambda i: losses[i])
    suggestion = max(lrs[i_best] / 10, lr_min)
    result = LRFinderResult(lrs, losses, suggestion, stopped)
    if plot is not None:
        plot_lr(result, plot)
    return result


def plot_lr(result: LRFinderResult, path: str | os.PathLike[str]) -> None:
    """Write the loss-against-learning-rate curve as a PNG (matplotlib's Agg backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from chainrule.train import checkpoint

    fig = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ok = [(lr, v) for lr, v in zip(result.lrs, result.losses, strict=True) if math.isfinite(v)]
    ax.plot([p[0] for p in ok], [p[1] for p in ok], color="#1f77b4")
    ax.axvline(result.suggestion, color="#d62728", linestyle="--",
               label=f"suggested lr {result.suggestion:.2g}")  # fmt: skip
    ax.set_xscale("log")
    top = max(ok[0][1], 1.5 * min(p[1] for p in ok))  # the start, not the divergence
    ax.set_ylim(min(p[1] for p in ok) * 0.9, top * 1.05)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("smoothed training loss")
    ax.set_title(f"learning-rate range test ({result.stopped})")
    ax.legend()
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    checkpoint.atomic_write_bytes(path, buf.getvalue())
