"""Sanity checks before training: CS231n's "babysitting the learning process" as one call.

``sanity_check(model, (X, y))`` runs, on copies of the model (the model itself is untouched):

- data: labels are integers in [0, C), inputs are finite, every class is present and none is
  rare, the inputs are standardized (feature means near 0, stds near 1);
- initial loss: without regularization, softmax starts at ln(C) and the SVM at C - 1 when the
  scores start small, within a stated tolerance;
- regularization: turning ``reg`` up raises the loss;
- gradcheck: backprop against central differences in float64 on a few samples, for every
  parameter (a sample of its entries), the worst relative error named with its parameter;
- overfit: 20 training samples reach 100% training accuracy within a bounded number of steps.

>>> import numpy as np
>>> from chainrule import nn, train
>>> from chainrule.data import spiral
>>> X, y = spiral(30, 3)
>>> X = (X - X.mean(0)) / X.std(0)
>>> report = train.sanity_check(nn.MLP([2, 50, 3], rng=np.random.default_rng(0)), (X, y),
...                             verbose=False)
>>> report.passed, [c.name for c in report.checks]
(True, ['labels', 'finite inputs', 'class balance', 'standardized', 'initial loss', 'regularization', 'gradcheck', 'overfit'])
"""  # noqa: E501

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import _tensor, optim
from chainrule.nn import functional, init

LOSS_TOL = 0.05  # initial loss within 5% of ln(C) (softmax) or C - 1 (SVM)
GRAD_RTOL = 1e-4  # worst relative error allowed (CS231n: 1e-4 is fine with kinks; bugs give ~1e-1)
GRAD_FLOOR = 1e-6  # relative to max(|a|, |n|, this): central differences carry ~1e-10 round-off
OVERFIT_SAMPLES = 20
OVERFIT_STEPS = 300
GRAD_SAMPLES = 4  # samples in the gradcheck's batch
GRAD_ENTRIES = 40  # entries of each parameter perturbed at most


@dataclasses.dataclass
class Check:
    """One check's result: its name, PASS or FAIL, and the numbers that decided it."""

    name: str
    passed: bool
    detail: str

    def __str__(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name:<15} {self.detail}"


@dataclasses.dataclass
class SanityReport:
    """Every check's result; ``passed`` is True when all passed."""

    checks: list[Check]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def __str__(self) -> str:
        return "\n".join(map(str, self.checks))


def _losses(loss: str) -> tuple[Callable[[Any, Any], Any], Callable[[int], float], str]:
    if loss == "softmax":
        return functional.cross_entropy, math.log, "ln(C)"
    if loss == "svm":
        return functional.svm_loss, lambda c: c - 1.0, "C - 1"
    raise ValueError(f"sanity_check: loss must be 'softmax' or 'svm', got {loss!r}")


def _data_checks(x: np.ndarray, y: np.ndarray, num_classes: int) -> list[Check]:
    checks = []
    ints = np.issubdtype(y.dtype, np.integer)
    bad = np.flatnonzero((y < 0) | (y >= num_classes)) if ints else np.arange(len(y))
    if not ints:
        checks.append(Check("labels", False, f"labels have dtype {y.dtype}; expected integers"))
    elif bad.size:
        checks.append(Check("labels", False, f"{bad.size} labels outside [0, {num_classes}), "
                            f"e.g. y[{bad[0]}] = {y[bad[0]]}"))  # fmt: skip
    else:
        checks.append(Check("labels", True, f"all {len(y)} in [0, {num_classes})"))
    nonfinite = int(np.count_nonzero(~np.isfinite(x)))
    checks.append(Check("finite inputs", nonfinite == 0,
                        f"{nonfinite} NaN/inf values in X {x.shape}" if nonfinite
                        else f"no NaN/inf in X {x.shape}"))  # fmt: skip
    counts = np.bincount(y[(y >= 0) & (y < num_classes)].astype(np.int64), minlength=num_classes)
    rare = counts.min() / max(counts.max(), 1)
    checks.append(Check("class balance", bool(counts.min() > 0 and rare >= 0.2),
                        f"smallest class {counts.min()} samples, largest {counts.max()} "
                        f"(ratio {rare:.2f}, needs >= 0.20)"))  # fmt: skip
    with np.errstate(all="ignore"):
        mean, std = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
    live = std > 1e-8  # constant features (a digit's blank corner) cannot be scaled to std 1
    worst_mean = float(np.abs(mean).max())
    worst_std = float(np.abs(std[live] - 1).max()) if live.any() else 0.0
    checks.append(Check("standardized", worst_mean < 0.1 and worst_std < 0.1,
                        f"max |feature mean| {worst_mean:.3g} (< 0.1), max |feature std - 1| "
                        f"{worst_std:.3g} (< 0.1)"))  # fmt: skip
    return checks


def _loss(model: Any, x: np.ndarray, y: np.ndarray, loss_fn: Any, reg: float) -> Any:
    out = loss_fn(model(_tensor.Tensor._wrap(x)), y)
    if reg > 0 and any(p.ndim >= 2 for p in model.parameters()):  # l2 needs a weight
        out = out + functional.l2_penalty(model, reg)
    return out


def _gradcheck(model: Any, x: np.ndarray, y: np.ndarray, loss_fn: Any, reg: float) -> Check:
    """Backprop against central differences for a sample of every parameter's entries."""
    m = copy.deepcopy(model).eval().double()
    x = x.astype(np.float64)
    rng = np.random.default_rng(0)
    m.zero_grad()
    _loss(m, x, y, loss_fn, reg).backward()
    worst, worst_name = 0.0, "-"
    for name, p in m.named_parameters():
        if not p.requires_grad:
            continue
        analytic = np.zeros(p.shape) if p.grad is None else np.asarray(p.grad, np.float64)
        arr = p._writable()
        flat = rng.permutation(arr.size)[:GRAD_ENTRIES]
        for i in flat:
            idx = np.unravel_index(i, arr.shape)
            old, h = arr[idx], 1e-5
            arr[idx] = old + h
            plus = float(_loss(m, x, y, loss_fn, reg).data)
            arr[idx] = old - h
            minus = float(_loss(m, x, y, loss_fn, reg).data)
            arr[idx] = old
            num, ana = (plus - minus) / (2 * h), float(analytic[idx])
            err = abs(num - ana) / max(abs(num), abs(ana), GRAD_FLOOR)
            if err > worst:
                worst, worst_name = err, f"{name}{list(map(int, idx))}"
    ok = worst <= GRAD_RTOL
    return Check("gradcheck", ok, f"worst relative error {worst:.2e} at {worst_name} "
                 f"(float64, {len(y)} samples, needs <= {GRAD_RTOL:g})")  # fmt: skip


def _overfit(model: Any, x: np.ndarray, y: np.ndarray, loss_fn: Any) -> Check:
    """Train a copy on 20 samples, no regularization, until it classifies all of them."""
    m = copy.deepcopy(model)  # its own copies of any Dropout's generator
    g = init.get_rng()
    state = g.bit_generator.state  # a Dropout without its own generator draws from nn's
    try:
        return _fit_subset(m, x[:OVERFIT_SAMPLES], y[:OVERFIT_SAMPLES], loss_fn)
    finally:
        g.bit_generator.state = state


def _fit_subset(m: Any, xs: np.ndarray, ys: np.ndarray, loss_fn: Any) -> Check:
    opt = optim.Adam(list(m.parameters()), lr=1e-2)
    acc, loss = 0.0, float("nan")
    for step in range(1, OVERFIT_STEPS + 1):
        m.train()
        out = _loss(m, xs, ys, loss_fn, 0.0)
        opt.zero_grad()
        out.backward()
        opt.step()
        loss = float(out.data)
        m.eval()
        acc = float(np.mean(m(_tensor.Tensor._wrap(xs)).data.argmax(axis=1) == ys))
        if acc == 1.0:
            return Check("overfit", True, f"{len(ys)} samples at 100% training accuracy after "
                         f"{step} steps (loss {loss:.3g}; allowed {OVERFIT_STEPS})")  # fmt: skip
    return Check("overfit", False, f"{len(ys)} samples reached only {acc:.0%} training accuracy "
                 f"in {OVERFIT_STEPS} steps (loss {loss:.3g}): the model cannot fit, or its "
                 "gradients do not reach its weights")  # fmt: skip


def sanity_check(
    model: Any,
    data: tuple[np.ndarray, np.ndarray],
    *,
    num_classes: int | None = None,
    loss: str = "softmax",
    reg: float = 1e-4,
    verbose: bool = True,
) -> SanityReport:
    """Run the checks (see the module docstring) on ``model`` and the training pair ``data``.

    ``num_classes`` defaults to the model's output width. ``loss`` is ``"softmax"`` or
    ``"svm"``; ``reg`` the L2 strength training would use. Prints each check as PASS/FAIL with
    its numbers unless ``verbose`` is False, and returns the ``SanityReport``. The model's
    weights and train/eval mode are left as they were.

    >>> import numpy as np
    >>> from chainrule import nn, train
    >>> x = np.random.default_rng(0).standard_normal((40, 3)).astype(np.float32)
    >>> y = np.arange(40) % 7  # 7 labels, but the model below has 3 outputs
    >>> report = train.sanity_check(nn.MLP([3, 8, 3]), (x, y))  # doctest: +ELLIPSIS
    FAIL  labels          22 labels outside [0, 3), e.g. y[3] = 3
    ...
    >>> report.passed
    False
    """
    x, y = np.asarray(data[0]), np.asarray(data[1])
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(f"sanity_check: data must be X (N, D) and y (N,), got {x.shape} and "
                         f"{y.shape}")  # fmt: skip
    loss_fn, expected_of, formula = _losses(loss)
    was_training = getattr(model, "training", True)
    if num_classes is None:
        model.eval()
        num_classes = int(model(_tensor.Tensor._wrap(x[:1])).shape[1])
    checks = _data_checks(x, y, num_classes)
    if not all(c.passed for c in checks[:2]):  # bad labels or NaN make the model checks moot
        for name in ("initial loss", "regularization", "gradcheck", "overfit"):
            checks.append(Check(name, False, "skipped: fix the labels/inputs first"))
    else:
        model.eval()
        n = min(len(y), 500)
        loss0 = float(_loss(model, x[:n], y[:n], loss_fn, 0.0).data)
        expected = expected_of(num_classes)
        tol = LOSS_TOL * expected
        checks.append(Check("initial loss", abs(loss0 - expected) <= tol,
                            f"{loss0:.4f} on {n} samples, expected {formula} = {expected:.4f} "
                            f"+- {tol:.4f} (reg 0)"))  # fmt: skip
        big = max(reg, 1e-3) * 100
        loss_big = float(_loss(model, x[:n], y[:n], loss_fn, big).data)
        checks.append(
            Check(
                "regularization",
                loss_big > loss0,
                f"loss {loss0:.4f} at reg 0, {loss_big:.4f} at reg {big:g}",
            )
        )
        checks.append(_gradcheck(model, x[:GRAD_SAMPLES], y[:GRAD_SAMPLES], loss_fn, reg))
        checks.append(_overfit(model, x, y, loss_fn))
    model.train(was_training)
    report = SanityReport(checks)
    if verbose:
        print(report)
    return report
