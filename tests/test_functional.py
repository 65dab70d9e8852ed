"""``chainrule.grad`` (gradients returned, ``.grad`` untouched) and ``chainrule.jacobian``."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


def leaf(values: object) -> cr.Tensor:
    return cr.tensor(values, dtype="float64", requires_grad=True)


def test_grad_returns_gradients_without_touching_dot_grad() -> None:
    x, y = leaf([1.0, 2.0]), leaf([3.0, -1.0])
    z = (x * y).sum()
    dx, dy = cr.grad(z, [x, y])
    assert dx is not None and dy is not None
    np.testing.assert_array_equal(dx.numpy(), [3.0, -1.0])
    np.testing.assert_array_equal(dy.numpy(), [1.0, 2.0])
    assert x.grad is None and y.grad is None


def test_grad_leaves_existing_dot_grad_alone() -> None:
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()
    assert x.grad is not None
    before = x.grad.numpy().copy()
    (dx,) = cr.grad((x * 3).sum(), x)
    assert dx is not None
    np.testing.assert_array_equal(dx.numpy(), [3.0, 3.0])
    np.testing.assert_array_equal(x.grad.numpy(), before)


def test_grad_of_an_intermediate() -> None:
    x = leaf([1.0, 2.0])
    h = x * 2
    out = (h * h).sum()
    dh, dx = cr.grad(out, [h, x])
    assert dh is not None and dx is not None
    np.testing.assert_array_equal(dh.numpy(), [4.0, 8.0])  # 2 h
    np.testing.assert_array_equal(dx.numpy(), [8.0, 16.0])  # 2 h * 2
    assert h.grad is None


def test_grad_with_grad_outputs_and_retain_graph() -> None:
    x = leaf([1.0, 2.0, 3.0])
    y = x * x
    (g1,) = cr.grad(y, x, grad_outputs=np.array([1.0, 0.0, 2.0]), retain_graph=True)
    (g2,) = cr.grad(y, x, grad_outputs=np.array([0.0, 1.0, 0.0]))
    assert g1 is not None and g2 is not None
    np.testing.assert_array_equal(g1.numpy(), [2.0, 0.0, 12.0])
    np.testing.assert_array_equal(g2.numpy(), [0.0, 4.0, 0.0])
    with pytest.raises(RuntimeError, match="second time"):
        cr.grad(y, x, grad_outputs=np.ones(3))


def test_grad_of_several_outputs_sums() -> None:
    x = leaf(2.0)
    (dx,) = cr.grad([x * x, x * 3], x)
    assert dx is not None and dx.item() == 7.0


def test_grad_unused_input() -> None:
    x, unused = leaf(1.0), leaf(5.0)
    with pytest.raises(RuntimeError, match="allow_unused"):
        cr.grad(x * 2, [x, unused])
    dx, du = cr.grad(x * 2, [x, unused], allow_unused=True)
    assert dx is not None and dx.item() == 2.0 and du is None


def test_grad_needs_inputs_that_require_grad() -> None:
    x = leaf(1.0)
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.grad(x * 2, cr.tensor(1.0))
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.grad(cr.tensor(1.0) * 2, x)


def test_grad_of_a_non_scalar_needs_grad_outputs() -> None:
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="gradient"):
        cr.grad(x * 2, x)


def test_grad_result_is_not_shared_between_calls() -> None:
    x = leaf([1.0, 2.0])
    (g,) = cr.grad((x + 0).sum(), x)
    assert g is not None
    g.numpy()[:] = 100.0  # the caller owns what grad() returns
    (g2,) = cr.grad((x + 0).sum(), x)
    assert g2 is not None
    np.testing.assert_array_equal(g2.numpy(), [1.0, 1.0])


# -- jacobian --------------------------------------------------------------------------------------


def test_jacobian_of_an_elementwise_function_is_diagonal() -> None:
    x = cr.tensor([0.5, -1.0, 2.0], dtype="float64")
    J = cr.jacobian(cr.tanh, x)
    np.testing.assert_allclose(J, np.diag(1 - np.tanh(x.numpy()) ** 2))


def test_jacobian_of_a_matrix_vector_product_is_the_matrix() -> None:
    W = np.arange(6.0).reshape(2, 3)
    J = cr.jacobian(lambda v: W @ v, cr.tensor([1.0, 2.0, 3.0], dtype="float64"))
    np.testing.assert_array_equal(J, W)


def test_jacobian_of_a_batched_product_has_the_kronecker_structure() -> None:
    W = np.random.default_rng(0).standard_normal((3, 2))
    X = np.random.default_rng(1).standard_normal((4, 3))
    J = cr.jacobian(lambda x: x @ W, X)  # out (4, 2), x (4, 3): J[i, j, k, l] = [i == k] W[l, j]
    assert J.shape == (4, 2, 4, 3)
    expected = np.einsum("ik,lj->ijkl", np.eye(4), W)
    np.testing.assert_allclose(J, expected)


def test_jacobian_of_softmax() -> None:
    x = cr.tensor([1.0, 2.0, 0.5], dtype="float64")
    s = cr.softmax(x).numpy()
    np.testing.assert_allclose(cr.jacobian(cr.softmax, x), np.diag(s) - np.outer(s, s))


def test_jacobian_of_a_reduction_and_of_a_constant() -> None:
    x = cr.tensor([[1.0, 2.0], [3.0, 4.0]], dtype="float64")
    np.testing.assert_array_equal(cr.jacobian(lambda t: t.sum(), x), np.ones((2, 2)))
    np.testing.assert_array_equal(
        cr.jacobian(lambda t: cr.tensor([1.0, 2.0]), x), np.zeros((2, 2, 2))
    )


def test_jacobian_accepts_arrays_and_leaves_the_input_alone() -> None:
    x = leaf([1.0, 2.0])
    J = cr.jacobian(lambda t: t**2, x)
    np.testing.assert_array_equal(J, np.diag([2.0, 4.0]))
    assert x.grad is None
    np.testing.assert_array_equal(cr.jacobian(lambda t: 3 * t, np.array([1.0])), [[3.0]])


def test_jacobian_needs_a_tensor_result() -> None:
    with pytest.raises(TypeError, match="Tensor"):
        cr.jacobian(lambda t: 1.0, np.array([1.0]))  # type: ignore[arg-type,return-value]
