"""Every loss, as ``nn.functional`` function and as ``nn`` module, takes
``reduction="mean"|"sum"|"none"`` with PyTorch's meaning: checked against per-element losses
written out in NumPy (closed forms and loops), with PyTorch as an optional cross-check."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F  # noqa: N812

RNG = np.random.default_rng(7)
N, C = 5, 4
Z = RNG.standard_normal((N, C))
Y = np.array([0, 3, 2, 1, 3])
Y_IGNORED = np.array([0, 3, -100, 1, 3])
P = RNG.uniform(0.05, 0.95, (N, C))  # probabilities
T = RNG.uniform(0.0, 1.0, (N, C))  # targets in [0, 1]
D = RNG.standard_normal((N, C)) * 2.0  # differences, some past the Huber/smooth-L1 kinks
Q = RNG.dirichlet(np.ones(C), N)  # soft targets: class probabilities per row
W = np.array([0.5, 1.0, 2.0, 1.5])  # class weights
POS = np.array([1.0, 2.0, 0.5, 3.0])  # pos_weight per class


def _logsoftmax(z: np.ndarray) -> np.ndarray:
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _ce_rows(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-row weighted NLL of the softmax and the mean's denominator, by a loop."""
    logp = _logsoftmax(z)
    rows, denom = np.zeros(len(y)), 0.0
    for i, yi in enumerate(y):
        if yi != -100:
            rows[i] = -w[yi] * logp[i, yi]
            denom += w[yi]
    return rows, denom


def _svm_rows(s: np.ndarray, y: np.ndarray, margin: float) -> np.ndarray:
    rows = np.zeros(len(y))
    for i, yi in enumerate(y):
        for j in range(s.shape[1]):
            if j != yi:
                rows[i] += max(0.0, s[i, j] - s[i, yi] + margin)
    return rows


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _smooth_l1(d: np.ndarray, beta: float) -> np.ndarray:
    a = np.abs(d)
    return np.where(a < beta, 0.5 * a * a / beta, a - 0.5 * beta)


def _huber(d: np.ndarray, delta: float) -> np.ndarray:
    a = np.abs(d)
    return np.where(a < delta, 0.5 * a * a, delta * (a - 0.5 * delta))


# name -> (chainrule call with reduction, elementwise losses in NumPy, mean's denominator)
_z = (_logsoftmax(Z),)
CASES: dict[str, tuple[Callable[[str], Any], np.ndarray, float]] = {
    "cross_entropy": (
        lambda r: F.cross_entropy(cr.tensor(Z), Y, reduction=r),
        _ce_rows(Z, Y, np.ones(C))[0],
        N,
    ),
    "cross_entropy_ignore_weight": (
        lambda r: F.cross_entropy(cr.tensor(Z), Y_IGNORED, weight=W, reduction=r),
        *_ce_rows(Z, Y_IGNORED, W),
    ),
    "cross_entropy_ignore": (
        lambda r: F.cross_entropy(cr.tensor(Z), Y_IGNORED, reduction=r),
        _ce_rows(Z, Y_IGNORED, np.ones(C))[0],
        N - 1,  # the mean divides by the count of targets not ignored
    ),
    "cross_entropy_soft": (
        lambda r: F.cross_entropy(cr.tensor(Z), Q, reduction=r),
        -(Q * _logsoftmax(Z)).sum(axis=1),
        N,
    ),
    "nll_loss": (
        lambda r: F.nll_loss(cr.tensor(_z[0]), Y_IGNORED, reduction=r),
        _ce_rows(Z, Y_IGNORED, np.ones(C))[0],
        N - 1,
    ),
    "svm_loss": (
        lambda r: F.svm_loss(cr.tensor(Z), Y, 0.5, reduction=r),
        _svm_rows(Z, Y, 0.5),
        N,
    ),
    "mse_loss": (lambda r: F.mse_loss(cr.tensor(D), np.zeros_like(D), r), D * D, D.size),
    "l1_loss": (lambda r: F.l1_loss(cr.tensor(D), np.zeros_like(D), r), np.abs(D), D.size),
    "smooth_l1_loss": (
        lambda r: F.smooth_l1_loss(cr.tensor(D), np.zeros_like(D), r, beta=0.7),
        _smooth_l1(D, 0.7),
        D.size,
    ),
    "huber_loss": (
        lambda r: F.huber_loss(cr.tensor(D), np.zeros_like(D), r, delta=1.3),
        _huber(D, 1.3),
        D.size,
    ),
    "binary_cross_entropy": (
        lambda r: F.binary_cross_entropy(cr.tensor(P), T, reduction=r),
        -(T * np.log(P) + (1 - T) * np.log(1 - P)),
        P.size,
    ),
    "binary_cross_entropy_with_logits": (
        lambda r: F.binary_cross_entropy_with_logits(cr.tensor(Z), T, reduction=r),
        -(T * np.log(_sigmoid(Z)) + (1 - T) * np.log(1 - _sigmoid(Z))),
        Z.size,
    ),
    "bce_with_logits_pos_weight": (
        lambda r: F.binary_cross_entropy_with_logits(
            cr.tensor(Z), T, weight=W, pos_weight=POS, reduction=r
        ),
        -W * (POS * T * np.log(_sigmoid(Z)) + (1 - T) * np.log(1 - _sigmoid(Z))),
        Z.size,
    ),
    "kl_div": (
        lambda r: F.kl_div(cr.tensor(np.log(P)), Q, r),
        Q * (np.log(Q) - np.log(P)),
        Q.size,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_reduction_against_numpy(name: str, reduction: str) -> None:
    call, elementwise, denominator = CASES[name]
    want = {
        "none": elementwise,
        "sum": elementwise.sum(),
        "mean": elementwise.sum() / denominator,
    }[reduction]
    got = call(reduction)
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got.data, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_a_bad_reduction_is_refused_by_name(name: str) -> None:
    call, _, _ = CASES[name]
    bce = "binary_cross_entropy_with_logits"
    loss = bce if name.startswith("bce") else name.split("_ignore")[0].split("_soft")[0]
    with pytest.raises(ValueError, match=rf"{loss}.*reduction must be"):
        call("avg")


def test_kl_div_batchmean_is_the_sum_over_the_batch_size() -> None:
    got = F.kl_div(cr.tensor(np.log(P)), Q, "batchmean")
    np.testing.assert_allclose(got.data, (Q * np.log(Q / P)).sum() / N, rtol=1e-12)


def test_all_ignored_mean_is_nan_as_pytorch() -> None:
    with np.errstate(invalid="ignore"):
        got = F.cross_entropy(cr.tensor(Z), np.full(N, -100)).item()
    assert np.isnan(got)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_the_reductions_are_differentiable_twice(reduction: str) -> None:
    z = cr.tensor(Z, requires_grad=True)
    for fn in (
        lambda t: F.cross_entropy(t, Y_IGNORED, 0.1, weight=W, reduction=reduction),
        lambda t: F.svm_loss(t, Y, reduction=reduction) * (t * t).sum(),
        lambda t: F.binary_cross_entropy_with_logits(t, T, pos_weight=POS, reduction=reduction),
        lambda t: F.mse_loss(t, T, reduction),
    ):
        assert cr.gradcheck(fn, z)
        assert cr.gradgradcheck(fn, z)


# module -> (constructor options, the functional call it must equal)
MODULES: list[tuple[Any, dict[str, Any], Any, Callable[..., Any]]] = [
    (nn.CrossEntropyLoss, {"weight": W, "ignore_index": 3}, (Z, Y),
     lambda r: F.cross_entropy(cr.tensor(Z), Y, weight=W, ignore_index=3, reduction=r)),
    (nn.NLLLoss, {"weight": W}, (_z[0], Y),
     lambda r: F.nll_loss(cr.tensor(_z[0]), Y, W, reduction=r)),
    (nn.SVMLoss, {"margin": 0.5}, (Z, Y), lambda r: F.svm_loss(cr.tensor(Z), Y, 0.5, reduction=r)),
    (nn.MSELoss, {}, (D, T), lambda r: F.mse_loss(cr.tensor(D), T, r)),
    (nn.L1Loss, {}, (D, T), lambda r: F.l1_loss(cr.tensor(D), T, r)),
    (nn.SmoothL1Loss, {"beta": 0.5}, (D, T), lambda r: F.smooth_l1_loss(cr.tensor(D), T, r, 0.5)),
    (nn.HuberLoss, {"delta": 2.0}, (D, T), lambda r: F.huber_loss(cr.tensor(D), T, r, 2.0)),
    (nn.BCELoss, {"weight": W}, (P, T),
     lambda r: F.binary_cross_entropy(cr.tensor(P), T, W, r)),
    (nn.BCEWithLogitsLoss, {"pos_weight": POS}, (Z, T),
     lambda r: F.binary_cross_entropy_with_logits(cr.tensor(Z), T, pos_weight=POS, reduction=r)),
    (nn.KLDivLoss, {"log_target": True}, (np.log(P), np.log(Q)),
     lambda r: F.kl_div(cr.tensor(np.log(P)), np.log(Q), r, log_target=True)),
]  # fmt: skip


@pytest.mark.parametrize("entry", MODULES, ids=lambda e: e[0].__name__)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_each_module_takes_reduction_and_equals_its_function(entry: Any, reduction: str) -> None:
    cls, options, (x, target), functional = entry
    module = cls(reduction=reduction, **options)
    got = module(cr.tensor(x), target)
    np.testing.assert_array_equal(got.data, functional(reduction).data)
    assert (reduction == "mean") != ("reduction=" in repr(module))
    with pytest.raises(ValueError, match=rf"{cls.__name__}: reduction must be one of"):
        cls(reduction="avg")


def test_against_pytorch_when_installed() -> None:
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    z, y, yi = torch.tensor(Z), torch.tensor(Y), torch.tensor(Y_IGNORED)
    w, q, pw = torch.tensor(W), torch.tensor(Q), torch.tensor(POS)
    for r in ("mean", "sum", "none"):
        with warnings.catch_warnings():  # torch warns that kl_div's "mean" is not "batchmean"
            warnings.simplefilter("ignore", UserWarning)
            kl = tf.kl_div(torch.tensor(np.log(P)), q, reduction=r)
        pairs = [
            (F.cross_entropy(cr.tensor(Z), Y_IGNORED, 0.2, weight=W, reduction=r),
             tf.cross_entropy(z, yi, weight=w, reduction=r, label_smoothing=0.2)),
            (F.cross_entropy(cr.tensor(Z), Q, reduction=r), tf.cross_entropy(z, q, reduction=r)),
            (F.nll_loss(cr.tensor(_z[0]), Y, W, reduction=r),
             tf.nll_loss(torch.tensor(_z[0]), y, weight=w, reduction=r)),
            (F.binary_cross_entropy_with_logits(cr.tensor(Z), T, W, POS, r),
             tf.binary_cross_entropy_with_logits(z, torch.tensor(T), w, pos_weight=pw,
                                                 reduction=r)),
            (F.smooth_l1_loss(cr.tensor(D), T, r, 0.7),
             tf.smooth_l1_loss(torch.tensor(D), torch.tensor(T), reduction=r, beta=0.7)),
            (F.huber_loss(cr.tensor(D), T, r, 1.3),
             tf.huber_loss(torch.tensor(D), torch.tensor(T), reduction=r, delta=1.3)),
            (F.kl_div(cr.tensor(np.log(P)), Q, r), kl),
        ]  # fmt: skip
        for ours, theirs in pairs:
            np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-10, atol=1e-12)
