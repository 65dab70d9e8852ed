"""The checker checked: a wrong backward must fail gradcheck, and the error must say where."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.gradcheck import GradcheckError, numerical_gradient, relative_error


def leaf(values: object, dtype: str = "float64") -> cr.Tensor:
    return cr.tensor(values, dtype=dtype, requires_grad=True)


class WrongSquare(cr.Function):
    """out = x^2 with a wrong local gradient at element 1: 3x instead of 2x there."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return x * x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = 2.0 * self.x * dout
        dx[..., 1] *= 1.5
        return dx


class ForgotTheChainRule(cr.Function):
    """out = x * y whose backward forgets to multiply by dout (a classic student bug)."""

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        self.x, self.y = x, y
        return x * y

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.y * dout, self.x + 0 * dout  # dy is missing the dout factor


def test_a_wrong_local_gradient_fails_and_is_located() -> None:
    x = leaf([1.0, 2.0, 3.0])
    with pytest.raises(GradcheckError) as info:
        cr.gradcheck(WrongSquare.apply, x)
    message = str(info.value)
    assert "input 0" in message
    assert "at element (1,)" in message
    # CS231n relative error |a - n| / max(|a|, |n|) of 3x against 2x is 1/3
    assert "relative error 0.333" in message
    assert "1 of 3 elements" in message


def test_the_wrong_input_is_named() -> None:
    x, y = leaf([1.0, -2.0]), leaf([0.5, 3.0])
    with pytest.raises(GradcheckError, match="input 1"):
        cr.gradcheck(ForgotTheChainRule.apply, x, y)


def test_only_inputs_that_require_grad_are_checked() -> None:
    x = leaf([1.0, -2.0])
    y = cr.tensor([0.5, 3.0], dtype="float64")  # constant: its wrong gradient is never used
    assert cr.gradcheck(ForgotTheChainRule.apply, x, y)


def test_correct_gates_pass_and_inputs_are_left_as_they_were() -> None:
    x = leaf(np.linspace(-1, 1, 6).reshape(2, 3))
    b = leaf([0.1, 0.2, 0.3])
    before = x.numpy().copy()
    assert cr.gradcheck(lambda x_, b_: (x_ * b_ + b_).tanh(), x, b)
    np.testing.assert_array_equal(x.numpy(), before)
    assert x.grad is None and b.grad is None  # gradcheck does not touch .grad


def test_float32_inputs_are_refused() -> None:
    with pytest.raises(TypeError, match="float64"):
        cr.gradcheck(cr.exp, leaf([1.0], dtype="float32"))


def test_no_input_requiring_grad_is_refused() -> None:
    with pytest.raises(ValueError, match="requires_grad"):
        cr.gradcheck(cr.exp, cr.tensor([1.0], dtype="float64"))


def test_fn_must_return_a_tensor() -> None:
    with pytest.raises(TypeError, match="Tensor"):
        cr.gradcheck(lambda t: t.numpy(), leaf([1.0]))


def test_an_output_that_ignores_the_input_has_zero_gradient() -> None:
    assert cr.gradcheck(lambda t: cr.tensor(2.0, dtype="float64"), leaf([1.0]))


def test_a_gradient_that_is_zero_instead_of_nonzero_fails() -> None:
    class Frozen(cr.Function):
        def forward(self, x: np.ndarray) -> np.ndarray:
            return 3.0 * x

        def backward(self, dout: np.ndarray) -> np.ndarray:
            return np.zeros_like(dout)

    with pytest.raises(GradcheckError, match="relative error 1 "):
        cr.gradcheck(Frozen.apply, leaf([1.0, 2.0]))


def test_tolerances_are_respected() -> None:
    class SlightlyOff(cr.Function):
        def forward(self, x: np.ndarray) -> np.ndarray:
            return x.copy()

        def backward(self, dout: np.ndarray) -> np.ndarray:
            return dout * (1 + 1e-2)  # 1 % relative error

    x = leaf([1.0, 2.0])
    with pytest.raises(GradcheckError):
        cr.gradcheck(SlightlyOff.apply, x)
    assert cr.gradcheck(SlightlyOff.apply, x, rtol=0.05)


# -- relative error as CS231n defines it ----------------------------------------------------------


def test_relative_error_definition() -> None:
    a = np.array([1.0, -1.0, 0.0, 1e-8, 5.0])
    n = np.array([1.01, 1.0, 0.0, 2e-8, 5.0])
    with np.errstate(invalid="ignore"):
        expected = np.abs(a - n) / np.maximum(np.abs(a), np.abs(n))
    expected[2] = 0.0  # 0 / 0 is defined as 0: both gradients are exactly zero
    np.testing.assert_allclose(relative_error(a, n), expected)
    np.testing.assert_allclose(relative_error(n, a), expected)  # symmetric
    assert relative_error(-1.0, 1.0) == 2.0
    assert relative_error(1.0, 1.01) == pytest.approx(0.01 / 1.01)


# -- numerical_gradient on plain NumPy -------------------------------------------------------------


class MultiplyGate:
    """The lecture's gate in plain NumPy, as a student writes it before any library."""

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        self.x, self.y = x, y
        return x * y

    def backward(self, dz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.y * dz, self.x * dz


def test_numerical_gradient_checks_a_hand_written_backward() -> None:
    rng = np.random.default_rng(0)
    x, y, dz = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    gate = MultiplyGate()
    gate.forward(x, y)
    dx, dy = gate.backward(dz)
    num_dx = numerical_gradient(lambda v: MultiplyGate().forward(v, y), x, dz)
    num_dy = numerical_gradient(lambda v: MultiplyGate().forward(x, v), y, dz)
    assert relative_error(dx, num_dx).max() < 1e-7
    assert relative_error(dy, num_dy).max() < 1e-7
    # and it catches a wrong one: swapping the inputs is the classic mistake
    assert relative_error(x * dz, num_dx).max() > 0.1


def test_numerical_gradient_defaults_and_restores_x() -> None:
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    before = x.copy()
    g = numerical_gradient(lambda v: (v**3).sum(), x)
    np.testing.assert_allclose(g, 3 * x**2, rtol=1e-8)
    np.testing.assert_array_equal(x, before)


def test_numerical_gradient_needs_floats() -> None:
    with pytest.raises(TypeError, match="floating"):
        numerical_gradient(lambda v: v.sum(), np.array([1, 2]))


def test_a_float32_computation_inside_fn_is_refused() -> None:
    with pytest.raises(TypeError, match=r"float32.*float64"):
        cr.gradcheck(lambda t: t.astype("float32") * 2, leaf([1.0, 2.0]))
