"""Issue 11's losses against loops over NumPy (PyTorch's formulas), with their gradients to
first and second order and their argument errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import losses2 as lo

RNG = np.random.default_rng(0)
Z = RNG.standard_normal((5, 4))
Y = np.array([0, 3, -100, 1, 3])
W = np.array([0.5, 1.0, 2.0, 1.5])


def _logsoftmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _ce_loop(z, y, w, ignore, smoothing):
    """PyTorch's cross-entropy with class weights, ignore_index and smoothing, row by row."""
    logp, c = _logsoftmax(z), z.shape[1]
    losses, denom = [], 0.0
    for i, yi in enumerate(y):
        if yi == ignore:
            losses.append(0.0)
            continue
        nll = -w[yi] * logp[i, yi]
        smooth = -(w * logp[i]).sum()
        losses.append((1 - smoothing) * nll + smoothing / c * smooth)
        denom += w[yi]
    return np.array(losses), denom


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_weights_ignore_index_smoothing(smoothing, weighted, reduction) -> None:
    w = W if weighted else np.ones(4)
    losses, denom = _ce_loop(Z, Y, w, -100, smoothing)
    want = {"none": losses, "sum": losses.sum(), "mean": losses.sum() / denom}[reduction]
    kw = {"weight": W if weighted else None, "reduction": reduction, "label_smoothing": smoothing}
    z = cr.tensor(Z, requires_grad=True)
    np.testing.assert_allclose(lo.cross_entropy(z, Y, **kw).data, want, rtol=1e-12)
    assert cr.gradcheck(lambda t: lo.cross_entropy(t, Y, **kw), z)
    assert cr.gradgradcheck(lambda t: lo.cross_entropy(t, Y, **kw), z)


def test_cross_entropy_plain_case_and_soft_targets() -> None:
    y = np.array([0, 3, 2, 1, 3])
    losses, _ = _ce_loop(Z, y, np.ones(4), -100, 0.0)
    np.testing.assert_allclose(lo.cross_entropy(cr.tensor(Z), y).data, losses.mean(), rtol=1e-6)
    probs = RNG.dirichlet(np.ones(4), 5)
    want = -(probs * _logsoftmax(Z)).sum(axis=1).mean()
    z = cr.tensor(Z, requires_grad=True)
    np.testing.assert_allclose(lo.cross_entropy(z, probs).data, want, rtol=1e-12)
    assert cr.gradgradcheck(lambda t: lo.cross_entropy(t, probs), z)


def test_nll_loss_matches_a_loop() -> None:
    logp = _logsoftmax(Z)
    want = np.mean([-logp[i, y] for i, y in enumerate(Y) if y != -100])
    np.testing.assert_allclose(lo.nll_loss(cr.tensor(logp), Y).data, want, rtol=1e-12)


def test_binary_cross_entropy_on_probabilities_clamps_the_log() -> None:
    p = np.array([0.2, 0.9, 0.5, 0.0, 1.0])
    t = np.array([1.0, 0.0, 1.0, 1.0, 1.0])
    logs = np.maximum(np.log(np.where(p > 0, p, 1e-300)), -100)
    log1m = np.maximum(np.log(np.where(p < 1, 1 - p, 1e-300)), -100)
    want = -(t * logs + (1 - t) * log1m)
    got = lo.binary_cross_entropy(cr.tensor(p), t, reduction="none")
    np.testing.assert_allclose(got.data, want, rtol=1e-12)
    x = cr.tensor(p[:3], requires_grad=True)
    assert cr.gradgradcheck(lambda q: lo.binary_cross_entropy(q, t[:3]), x)


def test_bce_with_logits_pos_weight_matches_the_formula() -> None:
    x = RNG.standard_normal((4, 3))
    t = (RNG.random((4, 3)) > 0.5).astype(float)
    pw = np.array([1.0, 2.0, 3.0])
    sig = 1 / (1 + np.exp(-x))
    want = -(pw * t * np.log(sig) + (1 - t) * np.log(1 - sig))
    xt = cr.tensor(x, requires_grad=True)
    got = lo.binary_cross_entropy_with_logits(xt, t, pos_weight=pw, reduction="none")
    np.testing.assert_allclose(got.data, want, rtol=1e-10)
    assert cr.gradgradcheck(lambda v: lo.binary_cross_entropy_with_logits(v, t, pos_weight=pw), xt)
    plain = lo.binary_cross_entropy_with_logits(xt, t)
    np.testing.assert_allclose(plain.data, (-(t * np.log(sig) + (1 - t) * np.log(1 - sig))).mean())


D = np.array([-3.0, -0.5, 0.25, 0.8, 2.5])


@pytest.mark.parametrize(
    ("fn", "ref"),
    [
        (lambda x: lo.l1_loss(x, np.zeros(5), reduction="none"), np.abs(D)),
        (lambda x: lo.mse_loss(x, np.zeros(5), reduction="sum"), (D * D).sum()),
        (lambda x: lo.mse_loss(x, np.zeros(5)), (D * D).mean()),
        (
            lambda x: lo.smooth_l1_loss(x, np.zeros(5), reduction="none", beta=0.5),
            np.where(np.abs(D) < 0.5, 0.5 * D * D / 0.5, np.abs(D) - 0.25),
        ),
        (
            lambda x: lo.huber_loss(x, np.zeros(5), reduction="none", delta=2.0),
            np.where(np.abs(D) < 2.0, 0.5 * D * D, 2.0 * (np.abs(D) - 1.0)),
        ),
    ],
)
def test_regression_losses_match_their_formulas(fn, ref) -> None:
    x = cr.tensor(D, requires_grad=True)
    np.testing.assert_allclose(fn(x).data, ref, rtol=1e-12)
    assert cr.gradcheck(fn, x)


def test_kl_div_matches_the_definition() -> None:
    q = RNG.dirichlet(np.ones(4), 3)
    p = RNG.dirichlet(np.ones(4), 3)
    p[0, 1] = 0.0  # a zero target contributes 0
    want = np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0) - p * np.log(q)
    logq = cr.tensor(np.log(q), requires_grad=True)
    np.testing.assert_allclose(lo.kl_div(logq, p, reduction="none").data, want, rtol=1e-12)
    np.testing.assert_allclose(lo.kl_div(logq, p, reduction="batchmean").data, want.sum() / 3)
    np.testing.assert_allclose(
        lo.kl_div(logq, np.log(np.where(p > 0, p, 1e-300)), log_target=True, reduction="sum").data,
        want.sum(),
        rtol=1e-9,
    )
    assert cr.gradgradcheck(lambda t: lo.kl_div(t, p), logq)


def test_loss_errors_name_the_loss_and_the_argument() -> None:
    z = cr.tensor(Z)
    with pytest.raises(ValueError, match=r"cross_entropy: reduction must be 'mean', 'sum' or"):
        lo.cross_entropy(z, Y, reduction="avg")
    with pytest.raises(IndexError, match=r"cross_entropy: index 4 is out of range .* length 4"):
        lo.cross_entropy(z, [0, 1, 2, 3, 4])
    with pytest.raises(IndexError, match=r"nll_loss: target -5 is out of range for 4 classes"):
        lo.nll_loss(z, [0, 1, 2, 3, -5], reduction="sum")
    with pytest.raises(IndexError, match=r"nll_loss: target -1 is out of range"):  # never wraps
        lo.nll_loss(z, [0, 1, 2, 3, -1])
    with pytest.raises(ValueError, match=r"cross_entropy: weight must have one entry per class"):
        lo.cross_entropy(z, Y, weight=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"binary_cross_entropy: input must be probabilities"):
        lo.binary_cross_entropy(cr.tensor([1.5]), [1.0])
    with pytest.raises(ValueError, match=r"l1_loss: input of shape \(2,\) and target of shape"):
        lo.l1_loss(cr.tensor([1.0, 2.0]), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"huber_loss: delta must be positive"):
        lo.huber_loss(cr.tensor([1.0]), [1.0], delta=0.0)
