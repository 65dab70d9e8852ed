"""The worked examples of CS231n Lecture 4, with the numbers on the slides, exactly."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


def leaves(*values: float, dtype: str = "float64") -> list[cr.Tensor]:
    return [cr.tensor(v, dtype=dtype, requires_grad=True) for v in values]


def grads(*ts: cr.Tensor) -> list[float]:
    out = []
    for t in ts:
        assert t.grad is not None
        out.append(t.grad.item())
    return out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_add_then_multiply(dtype: str) -> None:
    """f = (x + y) z at x=-2, y=5, z=-4: q = 3, f = -12; df/dx = df/dy = z = -4, df/dz = q = 3."""
    x, y, z = leaves(-2.0, 5.0, -4.0, dtype=dtype)
    q = x + y
    f = q * z
    assert (q.item(), f.item()) == (3.0, -12.0)
    f.backward()
    assert grads(x, y, z) == [-4.0, -4.0, 3.0]


SIGMOID_INPUTS = (2.0, -1.0, -3.0, -2.0, -3.0)  # w0, x0, w1, x1, w2
SIGMOID_GRADS = [-0.1966, 0.3932, -0.3932, -0.5898, 0.1966]  # dw0, dx0, dw1, dx1, dw2


def _check_neuron(f: cr.Tensor, ts: list[cr.Tensor]) -> None:
    assert f.item() == pytest.approx(0.7311, abs=5e-5)  # sigmoid(1)
    f.backward()
    np.testing.assert_allclose(grads(*ts), SIGMOID_GRADS, atol=5e-5)
    # the slide rounds to two decimals
    assert [round(g, 2) for g in grads(*ts)] == [-0.20, 0.39, -0.39, -0.59, 0.20]


def test_sigmoid_neuron_gate_by_gate() -> None:
    w0, x0, w1, x1, w2 = ts = leaves(*SIGMOID_INPUTS)
    f = 1.0 / (1.0 + cr.exp(-(w0 * x0 + w1 * x1 + w2)))
    _check_neuron(f, ts)


def test_sigmoid_neuron_with_the_fused_sigmoid_gate() -> None:
    w0, x0, w1, x1, w2 = ts = leaves(*SIGMOID_INPUTS)
    f = cr.sigmoid(w0 * x0 + w1 * x1 + w2)
    assert type(f.grad_fn).__name__ == "Sigmoid"  # one node, not four
    _check_neuron(f, ts)


class FusedSigmoid(cr.Function):
    """The lecture's grouped gate, written by a user: dsigma/dx = (1 - sigma) sigma."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.out = 1.0 / (1.0 + np.exp(-x))
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * (1.0 - self.out) * self.out


def test_sigmoid_neuron_with_a_user_written_fused_gate() -> None:
    w0, x0, w1, x1, w2 = ts = leaves(*SIGMOID_INPUTS)
    dot = w0 * x0 + w1 * x1 + w2
    f = FusedSigmoid.apply(dot)
    assert isinstance(f.grad_fn, FusedSigmoid)
    _check_neuron(f, ts)
    # the local gradient at the dot product's value 1: (1 - 0.73) * 0.73 = 0.2 on the slide
    g = cr.tensor(1.0, dtype="float64", requires_grad=True)
    FusedSigmoid.apply(g).backward()
    assert g.grad is not None and g.grad.item() == pytest.approx(0.1966, abs=5e-5)


def test_add_mul_max_patterns() -> None:
    """f = 2 (x y + max(z, w)) at x=3, y=-4, z=2, w=-1: add distributes, max routes, mul swaps."""
    x, y, z, w = leaves(3.0, -4.0, 2.0, -1.0)
    f = 2 * (x * y + cr.maximum(z, w))
    assert f.item() == -20.0
    f.backward()
    assert grads(x, y, z, w) == [-8.0, 6.0, 2.0, 0.0]


def test_vectorized_l2_of_a_matrix_vector_product() -> None:
    """f = ||W x||^2: dW = 2 q x^T, dx = 2 W^T q with q = W x."""
    x = cr.tensor([0.2, 0.4], dtype="float64", requires_grad=True)
    W = cr.tensor([[0.1, 0.5], [-0.3, 0.8]], dtype="float64", requires_grad=True)
    q = W @ x
    np.testing.assert_allclose(q.numpy(), [0.22, 0.26], rtol=1e-14)
    f = (q**2).sum()
    assert f.item() == pytest.approx(0.116, abs=1e-15)
    f.backward()
    assert W.grad is not None and x.grad is not None
    np.testing.assert_allclose(W.grad.numpy(), [[0.088, 0.176], [0.104, 0.208]], rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), [-0.112, 0.636], rtol=1e-12)


def test_vectorized_example_written_with_the_gate_api_matches() -> None:
    x = cr.tensor([0.2, 0.4], dtype="float64", requires_grad=True)
    W = cr.tensor([[0.1, 0.5], [-0.3, 0.8]], dtype="float64", requires_grad=True)
    assert cr.gradcheck(lambda W_, x_: ((W_ @ x_) * (W_ @ x_)).sum(), W, x)
