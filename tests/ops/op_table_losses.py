"""Op-table rows for the losses (``nn.functional``; compositions in ``nn.losses2``): each
reduction, class weights, ``ignore_index``, soft targets, ``pos_weight``, against the loss
written out in NumPy, through the harness of ``test_op_table.py`` (forward, gradcheck,
gradgradcheck, the strict backend). Inputs keep away from each loss's kinks (the hinge at a
zero margin, smooth L1 and Huber at ``|d| = beta``, L1 at ``d = 0``).

Targets that are class indices are options (constants); real-valued targets are inputs, so
their gradients are checked too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from op_table import Case, Row

from chainrule.nn import functional as F  # noqa: N812
from chainrule.ops import activations, arithmetic, elementwise, reduce
from chainrule.ops import shape as shape_ops
from strategies import MAX_SIDE, away_from_zero, floats, grid, shapes

_REDUCTIONS = ("mean", "sum", "none")


def _reduced(loss: np.ndarray, reduction: str, denominator: Any = None) -> Any:
    if reduction == "none":
        return loss
    total = loss.sum()
    return (
        total if reduction == "sum" else total / (loss.size if denominator is None else denominator)
    )


def _log_softmax(z: np.ndarray) -> np.ndarray:
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


@st.composite
def _classes(d: st.DrawFn, values: Any = floats) -> tuple[np.ndarray, int, int]:
    n, c = d(st.integers(1, MAX_SIDE)), d(st.integers(1, MAX_SIDE))
    return d(values((n, c))), n, c


@st.composite
def _ce_case(d: st.DrawFn, soft: bool) -> Case:
    z, n, c = d(_classes())
    opts: dict[str, Any] = {"reduction": d(st.sampled_from(_REDUCTIONS))}
    opts["weight"] = d(st.one_of(st.none(), floats((c,), 0.2, 2.0)))
    opts["label_smoothing"] = d(st.sampled_from([0.0, 0.3]))
    if soft:
        opts["target"] = d(floats((n, c), 0.0, 1.0))  # need not sum to 1 (PyTorch either)
    else:
        y = d(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
        ignored = d(hnp.arrays(np.bool_, (n,)))
        if not ignored.all():  # a mean over no targets at all is nan (PyTorch too)
            y = np.where(ignored, -100, y)
        opts["target"] = y
    if opts["reduction"] == "mean" and opts["weight"] is None and not soft:
        opts["weight"] = np.ones(c)  # the plain mean runs the fused gate: its own row
    return Case((z,), opts)


def _ref_ce(z: Any, target: Any, weight: Any, reduction: str, label_smoothing: float) -> Any:
    logp, c = _log_softmax(z), z.shape[1]
    w = np.ones(c) if weight is None else weight
    if target.ndim == 2:  # soft: the smoothing mixes the probabilities with uniform
        q = target * (1 - label_smoothing) + label_smoothing / c
        return _reduced(-(q * w * logp).sum(axis=1), reduction)
    rows, denom = np.zeros(len(target)), 0.0
    for i, yi in enumerate(target):  # a loop over the rows, PyTorch's formula
        if yi != -100:
            nll = -w[yi] * logp[i, yi]
            rows[i] = (1 - label_smoothing) * nll - label_smoothing / c * (w * logp[i]).sum()
            denom += w[yi]
    return _reduced(rows, reduction, denom)


@st.composite
def _fused_ce_case(d: st.DrawFn) -> Case:
    z, n, c = d(_classes())
    y = d(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    return Case((z,), {"target": y, "label_smoothing": d(st.sampled_from([0.0, 0.2]))})


@st.composite
def _nll_case(d: st.DrawFn) -> Case:
    z, n, c = d(_classes())
    y = d(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    weight = d(st.one_of(st.none(), floats((c,), 0.2, 2.0)))
    return Case((z,), {"target": y, "weight": weight, "reduction": d(st.sampled_from(_REDUCTIONS))})


def _ref_nll(x: Any, target: Any, weight: Any, reduction: str) -> Any:
    w = np.ones(x.shape[1]) if weight is None else weight
    rows = np.array([-w[yi] * x[i, yi] for i, yi in enumerate(target)])
    return _reduced(rows, reduction, w[target].sum())


@st.composite
def _svm_case(d: st.DrawFn, reductions: tuple[str, ...]) -> Case:
    # scores on the grid 0.2 k and a margin of 0.1 or 0.5: no margin is ever exactly 0
    s, n, c = d(_classes(lambda sh: grid(sh)))
    y = d(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    opts = {"target": y, "margin": d(st.sampled_from([0.1, 0.5]))}
    return Case((s,), {**opts, "reduction": d(st.sampled_from(reductions))})


def _ref_svm(s: Any, target: Any, margin: float, reduction: str) -> Any:
    rows = np.zeros(len(target))
    for i, yi in enumerate(target):
        for j in range(s.shape[1]):
            if j != yi:
                rows[i] += max(0.0, s[i, j] - s[i, yi] + margin)
    return _reduced(rows, reduction)


@st.composite
def _pair_case(d: st.DrawFn, gap: Any = floats, reductions: tuple[str, ...] = _REDUCTIONS) -> Case:
    """(input, target) of one shape, input = target + a drawn difference."""
    sh = d(shapes())
    t = d(floats(sh))
    return Case((t + d(gap(sh)), t), {"reduction": d(st.sampled_from(reductions))})


def _off_kink(beta: float) -> Any:
    # |d| on the grid 0.2 k + 0.1 (odd tenths) never equals beta = 0.4 or delta = 1.0, nor 0
    return lambda sh: grid(sh, offset=0.1)


@st.composite
def _bce_case(d: st.DrawFn) -> Case:
    sh = d(shapes())
    p, t = d(floats(sh, 0.05, 0.95)), d(floats(sh, 0.05, 0.95))
    weight = d(st.one_of(st.none(), floats(sh, 0.2, 2.0)))
    return Case((p, t), {"weight": weight, "reduction": d(st.sampled_from(_REDUCTIONS))})


def _ref_bce(p: Any, t: Any, weight: Any, reduction: str) -> Any:
    loss = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    return _reduced(loss if weight is None else loss * weight, reduction)


@st.composite
def _bce_logits_case(d: st.DrawFn) -> Case:
    sh = d(shapes(min_dims=1))
    x, t = d(floats(sh)), d(floats(sh, 0.05, 0.95))
    pos = d(floats(sh[-1:], 0.2, 3.0))  # one per class: the last axis
    weight = d(st.one_of(st.none(), floats(sh, 0.2, 2.0)))
    opts = {"weight": weight, "pos_weight": pos, "reduction": d(st.sampled_from(_REDUCTIONS))}
    return Case((x, t), opts)


@st.composite
def _bce_fused_case(d: st.DrawFn) -> Case:
    sh = d(shapes())
    return Case((d(floats(sh)), d(floats(sh, 0.05, 0.95))))


def _ref_bce_logits(x: Any, t: Any, weight: Any, pos_weight: Any, reduction: str) -> Any:
    log_sig, log_1m = -np.log1p(np.exp(-x)), -np.log1p(np.exp(x))
    loss = -(pos_weight * t * log_sig + (1 - t) * log_1m)
    return _reduced(loss if weight is None else loss * weight, reduction)


@st.composite
def _kl_case(d: st.DrawFn) -> Case:
    sh = d(shapes(min_dims=1))
    logq, t = d(floats(sh, -3.0, -0.1)), d(floats(sh, 0.05, 1.0))
    reduction = d(st.sampled_from((*_REDUCTIONS, "batchmean")))
    log_target = d(st.booleans())
    return Case((logq, np.log(t) if log_target else t), {"reduction": reduction,
                                                          "log_target": log_target})  # fmt: skip


def _ref_kl(x: Any, t: Any, reduction: str, log_target: bool) -> Any:
    p = np.exp(t) if log_target else t
    loss = p * (np.log(p) - x)
    if reduction == "batchmean":
        return loss.sum() / x.shape[0]
    return _reduced(loss, reduction)


def _smooth_l1(x: Any, t: Any, reduction: str) -> Any:
    a = np.abs(x - t)
    return _reduced(np.where(a < 0.4, 0.5 * a * a / 0.4, a - 0.2), reduction)  # beta = 0.4


def _huber(x: Any, t: Any, reduction: str) -> Any:
    a = np.abs(x - t)
    return _reduced(np.where(a < 1.0, 0.5 * a * a, a - 0.5), reduction)  # delta = 1


ROWS: tuple[Row, ...] = (
    Row("cross_entropy", reduce.LogSoftmax, _ce_case(soft=False),
        lambda z, target, **kw: F.cross_entropy(z, target, **kw), _ref_ce),
    Row("cross_entropy_soft", reduce.LogSoftmax, _ce_case(soft=True),
        lambda z, target, **kw: F.cross_entropy(z, target, **kw), _ref_ce),
    Row("cross_entropy_fused", F.CrossEntropy, _fused_ce_case(),
        lambda z, target, label_smoothing: F.cross_entropy(z, target, label_smoothing),
        lambda z, target, label_smoothing: _ref_ce(z, target, None, "mean", label_smoothing)),
    Row("nll_loss", shape_ops.Index, _nll_case(),
        lambda x, target, **kw: F.nll_loss(x, target, **kw), _ref_nll),
    Row("svm_loss", elementwise.Maximum, _svm_case(("sum", "none")),
        lambda s, target, **kw: F.svm_loss(s, target, **kw), _ref_svm),
    Row("svm_loss_fused", F.SVMLoss, _svm_case(("mean",)),
        lambda s, target, **kw: F.svm_loss(s, target, **kw), _ref_svm),
    Row("mse_loss", arithmetic.Mul, _pair_case(reductions=("sum", "none")), F.mse_loss,
        lambda x, t, reduction: _reduced((x - t) ** 2, reduction)),
    Row("mse_loss_fused", F.MSE, _pair_case(reductions=("mean",)), F.mse_loss,
        lambda x, t, reduction: _reduced((x - t) ** 2, reduction)),
    Row("l1_loss", elementwise.Abs, _pair_case(away_from_zero), F.l1_loss,
        lambda x, t, reduction: _reduced(np.abs(x - t), reduction)),
    Row("smooth_l1_loss", elementwise.Where, _pair_case(_off_kink(0.4)),
        lambda x, t, reduction: F.smooth_l1_loss(x, t, reduction, beta=0.4), _smooth_l1),
    Row("huber_loss", elementwise.Where, _pair_case(_off_kink(1.0)),
        lambda x, t, reduction: F.huber_loss(x, t, reduction, delta=1.0), _huber),
    Row("binary_cross_entropy", elementwise.Log, _bce_case(), F.binary_cross_entropy, _ref_bce),
    Row("binary_cross_entropy_with_logits", activations.Softplus, _bce_logits_case(),
        F.binary_cross_entropy_with_logits, _ref_bce_logits),
    Row("bce_with_logits_fused", F.BCEWithLogits, _bce_fused_case(),
        F.binary_cross_entropy_with_logits,
        lambda x, t: _ref_bce_logits(x, t, None, 1.0, "mean")),
    Row("kl_div", arithmetic.Mul, _kl_case(), F.kl_div, _ref_kl),
)  # fmt: skip
