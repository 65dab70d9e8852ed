"""Diagnostics while training: the per-layer and per-parameter numbers CS231n and makemore watch.

``Diagnostics(every=100)`` is a ``Trainer`` callback. Every ``every`` optimizer steps it records:

- per layer of a ``Sequential`` model (each child's output, on a fixed probe batch, in eval mode
  and without a graph, so no random generator moves): mean, std, a histogram, and for tanh /
  sigmoid the % of saturated units (|a| > 0.97; a < 0.03 or a > 0.97), for ReLU the % of units
  that never fired on the probe batch (dead);
- per parameter: the gradient's norm and std (the gradient of the step just taken), the
  weight's std, and the update:data ratio std(update) / std(weight) of that step (about 1e-3 is
  healthy), from a copy of the weights taken one step before.

Between samples it does nothing but one modulo test; without it the training step is unchanged.
Each record is one line of ``diagnostics.jsonl`` in ``out_dir``; at each epoch end it prints at
most ``max_warnings`` plain-language warnings and rewrites ``diagnostics.html``, a self-contained
page of inline SVG plots (no script, no external URL).

>>> import numpy as np
>>> from chainrule import nn, optim, train
>>> from chainrule.data import spiral
>>> X, y = spiral(50, 3)
>>> net = nn.MLP([2, 32, 3], activation="tanh", rng=np.random.default_rng(0))
>>> diag = train.Diagnostics(every=5)
>>> run = train.fit(net, optim.Adam(net.parameters(), lr=0.02), (X, y), epochs=2,
...                 batch_size=30, verbose=False, callbacks=[diag])
>>> len(diag.records), sorted(diag.records[0]["layers"])
(2, ['0', '1', '2'])
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import _tensor, function
from chainrule.nn import activations

SATURATED = 0.97  # tanh |a| above this, sigmoid within this of 0 or 1: the local gradient ~0
HEALTHY_RATIO = (-4.0, -2.0)  # log10 update:data band around CS231n's ~1e-3 (plotted)
WARN_RATIO = (-4.5, -1.5)  # warned outside: ~30x off 1e-3 (a small net's last layer runs high)
BINS = 30


def _kind(m: Any) -> str:
    for cls, name in ((activations.Tanh, "tanh"), (activations.Sigmoid, "sigmoid"),
                      (activations.ReLU, "relu")):  # fmt: skip
        if isinstance(m, cls):
            return name
    return type(m).__name__.lower()


def layer_stats(kind: str, out: np.ndarray) -> dict[str, Any]:
    """One layer's numbers from its output ``out`` (N, units).

    >>> s = layer_stats("relu", np.array([[0.0, 1.0, 0.0], [0.0, 2.0, 3.0]]))
    >>> s["dead_pct"], s["mean"]
    (33.33, 1.0)
    """
    a = np.asarray(out, dtype=np.float64).reshape(len(out), -1)
    lo, hi = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}.get(kind, (a.min(), a.max()))
    if hi <= lo:
        hi = lo + 1.0
    counts, edges = np.histogram(a, bins=BINS, range=(lo, hi))
    s: dict[str, Any] = {
        "kind": kind,
        "mean": round(float(a.mean()), 6),
        "std": round(float(a.std()), 6),
        "hist": counts.tolist(),
        "range": [float(edges[0]), float(edges[-1])],
    }
    if kind == "tanh":
        s["saturated_pct"] = round(100 * float(np.mean(np.abs(a) > SATURATED)), 2)
    elif kind == "sigmoid":
        s["saturated_pct"] = round(100 * float(np.mean((a < 1 - SATURATED) | (a > SATURATED))), 2)
    elif kind == "relu":
        s["dead_pct"] = round(100 * float(np.mean(~(a > 0).any(axis=0))), 2)
    return s


def _std(a: np.ndarray) -> float:
    return float(np.asarray(a).std(dtype=np.float64))  # accumulated in float64, no copy


class Diagnostics:
    """A ``Trainer`` callback sampling the model's numbers every ``every`` steps (see the module
    docstring). ``probe`` is the ``X`` batch the activations are measured on (default: the first
    ``probe_size`` training samples); ``out_dir`` defaults to the trainer's run directory."""

    def __init__(
        self,
        every: int = 100,
        probe: np.ndarray | None = None,
        probe_size: int = 128,
        out_dir: str | os.PathLike[str] | None = None,
        max_warnings: int = 3,
    ) -> None:
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"Diagnostics: every must be a positive int, got {every!r}")
        self.every, self.probe, self.probe_size = every, probe, probe_size
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.max_warnings = max_warnings
        self.records: list[dict[str, Any]] = []
        self.warnings: list[str] = []
        self._before: dict[str, np.ndarray] | None = None
        self._epoch_start = 0  # index in records of the current epoch's first sample

    def __call__(self, trainer: Any) -> None:
        k = trainer.step % self.every
        if k == self.every - 1 or self.every == 1:  # the next step is sampled: keep the weights
            self._before = {n: p.data.copy() for n, p in trainer.model.named_parameters()}
        if k == 0 and self._before is not None:
            self.records.append(self.sample(trainer))
            self._write_line(trainer, self.records[-1])
            self._before = None
        if trainer.loader.position == 0:  # that step ended an epoch
            self._end_epoch(trainer)

    # -- measuring ----------------------------------------------------------------------------

    def sample(self, trainer: Any) -> dict[str, Any]:
        """The record of the step just taken."""
        model = trainer.model
        record: dict[str, Any] = {"step": trainer.step, "loss": trainer.last_loss}
        record["layers"] = self._layers(model, trainer)
        params: dict[str, Any] = {}
        before = self._before or {}
        for name, p in model.named_parameters():
            w = p.data
            g = None if p.grad is None else np.asarray(p.grad)
            ws = _std(w)
            entry: dict[str, Any] = {
                "shape": list(w.shape),
                "weight_std": ws,
                "grad_norm": None if g is None else math.sqrt(float(np.vdot(g, g))),
                "grad_std": None if g is None else _std(g),
            }
            if name in before and ws > 0:
                ratio = _std(w - before[name]) / ws  # the step in float32: ~1e-7 relative
                entry["update_ratio"] = ratio
                entry["log10_update_ratio"] = math.log10(ratio) if ratio > 0 else None
            params[name] = entry
        record["params"] = params
        return record

    def _layers(self, model: Any, trainer: Any) -> dict[str, Any]:
        children = list(model.named_children()) if hasattr(model, "named_children") else []
        if not children or not hasattr(model, "__getitem__"):
            return {}  # not a Sequential: the layers' order is unknown
        x = self.probe
        if x is None:
            x = trainer.loader.X[: self.probe_size]
        was = model.training
        model.eval()  # dropout off, BatchNorm's running statistics: no generator moves
        out: dict[str, Any] = {}
        try:
            with function.no_grad():
                h = _tensor.Tensor._wrap(np.asarray(x))
                for name, m in children:
                    h = m(h)
                    out[name] = layer_stats(_kind(m), h.data)
        finally:
            model.train(was)
        return out

    # -- reporting ----------------------------------------------------------------------------

    def epoch_warnings(self, records: list[dict[str, Any]], judge_ratios: bool = True) -> list[str]:
        """Plain-language warnings from ``records`` (one epoch's), the worst first: layers by the
        last sample, weights' update:data ratios (2-D parameters) by the epoch's median."""
        found: list[tuple[float, str]] = []
        if not records:
            return []
        last = records[-1]
        for name, s in last["layers"].items():
            sat = s.get("saturated_pct")
            if sat is not None and sat > 10:
                found.append((sat, f"{name} ({s['kind']}): {sat:.0f}% of units saturated; "
                              "inputs or weights too large? CS231n: check initialization "
                              "scale (Xavier for tanh/sigmoid)"))  # fmt: skip
            dead = s.get("dead_pct")
            if dead is not None and dead > 10:
                found.append((dead, f"{name} (relu): {dead:.0f}% of units never fired on the "
                              "probe batch (dead); learning rate too high, or a large negative "
                              "bias? CS231n: lower the learning rate, Kaiming init"))  # fmt: skip
        for name, p in last["params"].items():
            r = p.get("log10_update_ratio")
            if r is None or len(p["shape"]) < 2:
                continue  # biases start at 0: their ratio means nothing at first
            r = float(np.median([q["params"][name].get("log10_update_ratio") or r
                                 for q in records]))  # fmt: skip
            if not judge_ratios and r < -1.0:
                continue  # the first epoch's ratios still settle; an update of 10% does not
            if r > WARN_RATIO[1]:
                text = f"{name}: update/weight ratio 10^{r:.1f}, above the healthy ~1e-3; "
                found.append((50 + r, text + "learning rate too high? CS231n: lower it"))
            elif r < WARN_RATIO[0]:
                found.append((-r, f"{name}: update/weight ratio 10^{r:.1f}, below the "
                              "healthy ~1e-3; learning rate too low? raise it"))  # fmt: skip
        if not math.isfinite(last["loss"]):
            found.append((1e9, f"loss is {last['loss']} at step {last['step']}: learning rate "
                          "far too high, or NaN inputs (chainrule check)"))  # fmt: skip
        return [text for _, text in sorted(found, key=lambda t: -t[0])[: self.max_warnings]]

    def _dir(self, trainer: Any) -> Path | None:
        return self.out_dir if self.out_dir is not None else trainer.out_dir

    def _write_line(self, trainer: Any, record: dict[str, Any]) -> None:
        d = self._dir(trainer)
        if d is not None:
            d.mkdir(parents=True, exist_ok=True)
            with open(d / "diagnostics.jsonl", "a") as f:  # appended: one line per sample
                f.write(json.dumps(record, allow_nan=True) + "\n")

    def _end_epoch(self, trainer: Any) -> None:
        records = self.records[self._epoch_start :]
        self._epoch_start = len(self.records)
        for text in self.epoch_warnings(records, judge_ratios=trainer.epoch > 0):
            self.warnings.append(text)
            trainer._log(f"diagnose: {text}")
        d = self._dir(trainer)
        if d is not None and self.records:
            from chainrule.train import diagnostics_html

            diagnostics_html.write(d / "diagnostics.html", self.records)
