"""The public gate API: a user subclass of ``chainrule.Function`` is a node like the built-ins."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


class MultiplyGate(cr.Function):
    """The lecture's gate: forward caches x and y, backward swaps and scales."""

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        self.x, self.y = x, y
        return x * y

    def backward(self, dz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return dz * self.y, dz * self.x


def leaf(values: object) -> cr.Tensor:
    return cr.tensor(values, dtype="float64", requires_grad=True)


def test_multiply_gate_as_a_user_subclass() -> None:
    x, y = leaf([1.0, -2.0]), leaf([3.0, 4.0])
    z = MultiplyGate.apply(x, y)
    assert isinstance(z, cr.Tensor) and isinstance(z.grad_fn, MultiplyGate)
    assert z.requires_grad and not z.is_leaf
    np.testing.assert_array_equal(z.numpy(), [3.0, -8.0])
    z.backward(np.array([1.0, 10.0]))
    assert x.grad is not None and y.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 40.0])
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, -20.0])
    assert cr.gradcheck(MultiplyGate.apply, leaf([0.5, 2.0]), leaf([-1.0, 3.0]))


def test_user_gate_composes_with_builtin_ops_and_broadcasting() -> None:
    x, b = leaf(np.ones((2, 3))), leaf([1.0, 2.0, 3.0])
    out = MultiplyGate.apply(x + 1, b).sum()  # (2, 3) * (3,): the engine sums dy over rows
    out.backward()
    assert b.grad is not None and x.grad is not None
    np.testing.assert_array_equal(b.grad.numpy(), [4.0, 4.0, 4.0])
    np.testing.assert_array_equal(x.grad.numpy(), [[1.0, 2.0, 3.0]] * 2)


def test_the_gate_sees_arrays_and_its_options() -> None:
    seen = {}

    class Scale(cr.Function):
        def forward(self, x: np.ndarray, factor: float = 1.0) -> np.ndarray:
            seen["type"], seen["factor"] = type(x), factor
            self.factor = factor
            return x * factor

        def backward(self, dout: np.ndarray) -> np.ndarray:
            return dout * self.factor

    x = leaf([1.0, 2.0])
    Scale.apply(x, factor=3.0).sum().backward()
    assert seen == {"type": np.ndarray, "factor": 3.0}
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_needs_input_grad_and_constants() -> None:
    needs = []

    class Affine(cr.Function):
        def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
            needs.append(tuple(self.needs_input_grad))
            self.x, self.w = x, w
            return x * w + b

        def backward(self, dout: np.ndarray) -> tuple:
            nx, nw, nb = self.needs_input_grad
            return (
                dout * self.w if nx else None,
                dout * self.x if nw else None,
                dout if nb else None,
            )

    x, w = cr.tensor([1.0, 2.0], dtype="float64"), leaf([3.0, 4.0])
    out = Affine.apply(x, w, 0.5)  # a Python number is a constant input
    out.sum().backward()
    assert needs == [(False, True, False)]
    assert x.grad is None
    assert w.grad is not None
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 2.0])


def test_a_gate_may_return_none_for_an_input() -> None:
    class IgnoreSecond(cr.Function):
        def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
            return x + y

        def backward(self, dout: np.ndarray) -> tuple[np.ndarray, None]:
            return dout, None  # "no gradient flows to y", e.g. a stop-gradient

    x, y = leaf([1.0]), leaf([2.0])
    z = IgnoreSecond.apply(x, y) * 2
    (z + y).sum().backward()  # y still gets the gradient of its other use
    assert x.grad is not None and y.grad is not None
    assert x.grad.item() == 2.0
    assert y.grad.item() == 1.0


def test_a_single_input_gate_may_return_a_bare_array() -> None:
    class Double(cr.Function):
        def forward(self, x: np.ndarray) -> np.ndarray:
            return 2 * x

        def backward(self, dout: np.ndarray) -> np.ndarray:
            return 2 * dout

    x = leaf([1.0, 2.0])
    Double.apply(x).sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_forward_returning_a_python_number_gives_a_tensor() -> None:
    class Norm2(cr.Function):
        def forward(self, x: np.ndarray) -> float:
            self.x = x
            return float((x * x).sum())

        def backward(self, dout: np.ndarray) -> np.ndarray:
            return 2 * self.x * dout

    x = leaf([3.0, 4.0])
    out = Norm2.apply(x)
    assert isinstance(out, cr.Tensor) and out.shape == () and out.item() == 25.0
    out.backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 8.0])


def test_wrong_number_of_gradients_is_a_clear_error() -> None:
    class TooFew(cr.Function):
        def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
            return x * y

        def backward(self, dout: np.ndarray) -> tuple[np.ndarray]:
            return (dout,)

    out = TooFew.apply(leaf([1.0]), leaf([2.0]))
    with pytest.raises(ValueError, match=r"TooFew\.backward returned 1 gradients? for 2 inputs"):
        out.sum().backward()


def test_a_gradient_of_the_wrong_shape_is_a_clear_error() -> None:
    class BadShape(cr.Function):
        def forward(self, x: np.ndarray) -> np.ndarray:
            return x.copy()

        def backward(self, dout: np.ndarray) -> np.ndarray:
            return np.ones(5)

    out = BadShape.apply(leaf([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"BadShape.*\(5,\).*\(2,\)"):
        out.sum().backward()


def test_unimplemented_forward_names_the_gate() -> None:
    class Empty(cr.Function):
        pass

    with pytest.raises(NotImplementedError, match=r"Empty\.forward"):
        Empty.apply(leaf([1.0]))


def test_user_gate_cache_is_freed_and_second_backward_raises() -> None:
    x, y = leaf([1.0]), leaf([2.0])
    z = MultiplyGate.apply(x, y)
    node = z.grad_fn
    z.backward()
    assert not hasattr(node, "x")  # what forward cached is dropped after backward
    with pytest.raises(RuntimeError, match="second time"):
        z.backward()


def test_user_gate_under_no_grad_records_nothing() -> None:
    x, y = leaf([1.0]), leaf([2.0])
    with cr.no_grad():
        z = MultiplyGate.apply(x, y)
    assert not z.requires_grad and z.grad_fn is None


def test_graph_can_be_walked_from_the_output() -> None:
    x, y = leaf([1.0]), leaf([2.0])
    q = x + y
    z = MultiplyGate.apply(q, y)
    node = z.grad_fn
    assert node is not None and node.inputs[0] is q and node.inputs[1] is y
    assert q.grad_fn is not None and q.grad_fn.inputs == (x, y)


# -- shape errors name the op and both shapes ----------------------------------------------------


def test_broadcast_mismatch_names_the_op_and_both_shapes() -> None:
    a, b = leaf(np.ones((2, 3))), leaf(np.ones(4))
    with pytest.raises(ValueError, match=r"Add.*\(2, 3\).*\(4,\)"):
        a + b
    with pytest.raises(ValueError, match=r"Mul.*\(2, 3\).*\(4,\)"):
        a * np.ones(4)
    with pytest.raises(ValueError, match=r"Maximum.*\(2, 3\).*\(4,\)"):
        cr.maximum(a, b)


def test_matmul_mismatch_message() -> None:
    a, b = leaf(np.ones((2, 3))), leaf(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3\).*\(4, 5\).*not aligned"):
        a @ b
    with pytest.raises(ValueError, match=r"matmul.*\(3,\).*\(2,\)"):
        cr.matmul(leaf(np.ones(3)), leaf(np.ones(2)))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        cr.matmul(leaf(1.0), leaf(np.ones(2)))


def test_reshape_mismatch_message() -> None:
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\).*6 elements.*\(4,\)"):
        leaf(np.ones((2, 3))).reshape(4)


def test_broadcast_to_mismatch_message() -> None:
    with pytest.raises(ValueError, match=r"broadcast_to.*\(3,\).*\(2, 4\)"):
        cr.broadcast_to(leaf(np.ones(3)), (2, 4))
