"""Losses and the L2 penalty: values against NumPy references, gradchecks, bad targets."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F  # noqa: N812

F64 = np.float64


def rand(*shape: int, seed: int = 0, scale: float = 1.0) -> cr.Tensor:
    data = np.random.default_rng(seed).standard_normal(shape) * scale
    return cr.tensor(data, dtype=F64, requires_grad=True)


Y = np.array([0, 2, 1, 2, 0])


def softmax_ce_reference(z: np.ndarray, y: np.ndarray, s: float = 0.0) -> float:
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    q = np.full(z.shape, s / z.shape[1])
    q[np.arange(len(y)), y] += 1 - s
    return float(-(q * np.log(p)).sum(1).mean())


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_value_and_gradcheck(smoothing: float) -> None:
    z = rand(5, 3)
    loss = F.cross_entropy(z, Y, label_smoothing=smoothing)
    assert loss.item() == pytest.approx(softmax_ce_reference(z.data, Y, smoothing), rel=1e-12)
    assert cr.gradcheck(lambda z: F.cross_entropy(z, Y, smoothing), z)
    assert nn.CrossEntropyLoss(smoothing)(z, Y).item() == loss.item()


def test_cross_entropy_is_one_fused_node_and_stable() -> None:
    z = cr.tensor([[1000.0, 0.0, -1000.0]], dtype=F64, requires_grad=True)
    loss = F.cross_entropy(z, np.array([1]))
    assert type(loss.grad_fn).__name__ == "CrossEntropy"
    assert loss.grad_fn.inputs[0] is z  # softmax fused: the node reads the logits directly
    assert loss.item() == pytest.approx(1000.0)
    loss.backward()
    np.testing.assert_allclose(z.grad.data, [[1.0, -1.0, 0.0]], atol=1e-12)


def test_cross_entropy_float32_keeps_dtype() -> None:
    z = cr.tensor(np.zeros((2, 4), np.float32), requires_grad=True)
    loss = F.cross_entropy(z, np.array([1, 3]))
    assert loss.dtype == np.float32
    loss.backward()
    assert z.grad.dtype == np.float32


def test_svm_loss_matches_cs231n() -> None:
    # the lecture's three examples (cat, car, frog scores): losses 2.9, 0, 12.9; mean 5.27
    scores = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    loss = F.svm_loss(cr.tensor(scores, dtype=F64), np.array([0, 1, 2]))
    assert loss.item() == pytest.approx((2.9 + 0 + 12.9) / 3)


def test_svm_loss_gradcheck_and_module() -> None:
    s = rand(5, 4, scale=2.0)
    y = np.array([0, 3, 1, 2, 0])
    assert cr.gradcheck(lambda s: F.svm_loss(s, y, margin=0.5), s)
    ref = np.maximum(0, s.data - s.data[np.arange(5), y][:, None] + 0.5)
    ref[np.arange(5), y] = 0
    assert F.svm_loss(s, y, 0.5).item() == pytest.approx(ref.sum(1).mean())
    assert nn.SVMLoss(0.5)(s, y).item() == pytest.approx(ref.sum(1).mean())


def test_mse_loss() -> None:
    a, b = rand(3, 4), rand(3, 4, seed=1)
    assert F.mse_loss(a, b).item() == pytest.approx(((a.data - b.data) ** 2).mean())
    assert cr.gradcheck(F.mse_loss, a, b)
    assert nn.MSELoss()(a, b.data).item() == pytest.approx(((a.data - b.data) ** 2).mean())
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(4, 3\)"):
        F.mse_loss(a, np.zeros((4, 3)))


def test_bce_with_logits() -> None:
    x = rand(6, scale=5.0)
    t = cr.tensor(np.random.default_rng(1).random(6), dtype=F64, requires_grad=True)
    p = 1 / (1 + np.exp(-x.data))
    ref = -(t.data * np.log(p) + (1 - t.data) * np.log(1 - p)).mean()
    assert F.binary_cross_entropy_with_logits(x, t).item() == pytest.approx(ref, rel=1e-10)
    assert cr.gradcheck(F.binary_cross_entropy_with_logits, x, t)
    big = cr.tensor([800.0, -800.0], dtype=F64)
    assert np.isfinite(nn.BCEWithLogitsLoss()(big, np.array([0.0, 1.0])).item())
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        F.binary_cross_entropy_with_logits(x, np.full(6, 2.0))


@pytest.mark.parametrize("loss", [F.cross_entropy, F.svm_loss])
def test_bad_targets_are_refused(loss) -> None:  # type: ignore[no-untyped-def]
    z = rand(3, 4)
    with pytest.raises(ValueError, match="target 4 is out of range for 4 classes"):
        loss(z, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match="out of range"):
        loss(z, np.array([0, -1, 1]))
    with pytest.raises(TypeError, match="integer class indices"):
        loss(z, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        loss(z, np.array([[0, 1, 2]]))
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        loss(rand(4), np.array([0]))
    with pytest.raises(ValueError, match="empty batch"):
        loss(rand(0, 4), np.zeros(0, np.int64))


def test_l2_penalty_leaves_biases_and_batchnorm_out() -> None:
    net = nn.MLP([3, 4, 2], batchnorm=True, dtype=F64)
    weights = [p for n, p in net.named_parameters() if n.endswith("weight") and p.ndim == 2]
    assert len(weights) == 2
    pen = F.l2_penalty(net, 0.3)
    assert pen.item() == pytest.approx(0.3 * sum((w.data**2).sum() for w in weights))
    pen.backward()
    for w in weights:
        np.testing.assert_allclose(w.grad.data, 0.6 * w.data)
    assert all(p.grad is None for p in net.parameters() if p.ndim == 1)
    assert cr.gradcheck(lambda a, b: F.l2_penalty([a, b], 0.1), rand(2, 3), rand(3, 2, seed=2))
    with pytest.raises(ValueError, match="no weight"):
        F.l2_penalty(nn.BatchNorm1d(2), 0.1)


def test_functional_activations_and_maxout_gradcheck() -> None:
    x = rand(3, 4)
    for fn in (F.relu, F.sigmoid, F.tanh, F.leaky_relu, F.elu, F.softmax, F.log_softmax):
        assert cr.gradcheck(fn, x)
    w, b = rand(4, 6, seed=1), rand(6, seed=2)
    assert cr.gradcheck(lambda x, w, b: F.maxout(x, w, b, 3), x, w, b)
    with pytest.raises(ValueError, match="pieces"):
        F.maxout(x, w, b, 4)


def test_relu_gate_routes_exact_zeros_even_for_inf_upstream() -> None:
    x = cr.tensor([-1.0, 2.0, -3.0, 0.0], dtype=F64, requires_grad=True)
    out = F.relu(x)
    np.testing.assert_array_equal(out.data, [0.0, 2.0, 0.0, 0.0])
    out.backward(np.array([np.inf, 5.0, np.nan, 1.0]))
    np.testing.assert_array_equal(x.grad.data, [0.0, 5.0, 0.0, 0.0])
    y = cr.tensor([1.0, -1.0], dtype=F64, requires_grad=True)
    F.relu(y).backward(np.array([np.inf, 1.0]))  # inf where the unit is on stays inf
    np.testing.assert_array_equal(y.grad.data, [np.inf, 0.0])
