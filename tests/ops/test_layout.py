"""Shape and layout ops against NumPy, with first and second derivatives, and their errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 3, 4))
M = RNG.standard_normal((3, 4))


def _both(fn_cr, fn_np, x) -> None:
    t = cr.tensor(x, requires_grad=True)
    np.testing.assert_array_equal(fn_cr(t).data, fn_np(x))
    assert cr.gradcheck(fn_cr, t)
    assert cr.gradgradcheck(fn_cr, t)


@pytest.mark.parametrize(
    ("name", "fn_cr", "fn_np", "x"),
    [
        ("moveaxis", lambda t: cr.moveaxis(t, 0, -1), lambda a: np.moveaxis(a, 0, -1), X),
        (
            "moveaxis2",
            lambda t: cr.moveaxis(t, [0, 1], [2, 0]),
            lambda a: np.moveaxis(a, [0, 1], [2, 0]),
            X,
        ),
        ("swapaxes", lambda t: cr.swapaxes(t, 0, 2), lambda a: np.swapaxes(a, 0, 2), X),
        ("ravel", cr.ravel, np.ravel, X),
        ("roll", lambda t: cr.roll(t, 2), lambda a: np.roll(a, 2), X),
        ("roll_axis", lambda t: cr.roll(t, -1, axis=1), lambda a: np.roll(a, -1, axis=1), X),
        (
            "roll_axes",
            lambda t: cr.roll(t, (1, 3), axis=(0, 2)),
            lambda a: np.roll(a, (1, 3), axis=(0, 2)),
            X,
        ),
        ("repeat", lambda t: cr.repeat(t, 2), lambda a: np.repeat(a, 2), X),
        (
            "repeat_axis",
            lambda t: cr.repeat(t, [1, 0, 3], axis=1),
            lambda a: np.repeat(a, [1, 0, 3], axis=1),
            X,
        ),
        ("tile", lambda t: cr.tile(t, (2, 1, 2)), lambda a: np.tile(a, (2, 1, 2)), X),
        ("tile_more", lambda t: cr.tile(t, (2, 1, 1, 2)), lambda a: np.tile(a, (2, 1, 1, 2)), X),
        (
            "pad_constant",
            lambda t: cr.pad(t, ((1, 0), (0, 2), (1, 1)), constant_values=3.0),
            lambda a: np.pad(a, ((1, 0), (0, 2), (1, 1)), constant_values=3.0),
            X,
        ),
        ("pad_edge", lambda t: cr.pad(t, 2, mode="edge"), lambda a: np.pad(a, 2, mode="edge"), X),
        (
            "pad_reflect",
            lambda t: cr.pad(t, (2, 1), mode="reflect"),
            lambda a: np.pad(a, (2, 1), mode="reflect"),
            X,
        ),
        ("tril", lambda t: cr.tril(t, -1), lambda a: np.tril(a, -1), X),
        ("triu", lambda t: cr.triu(t, 1), lambda a: np.triu(a, 1), M),
        ("diagonal", lambda t: cr.diagonal(t, 1, 0, 2), lambda a: np.diagonal(a, 1, 0, 2), X),
        ("diagonal_neg", lambda t: cr.diagonal(t, -1), lambda a: np.diagonal(a, -1), M),
        ("trace", lambda t: cr.trace(t, 0, 1, 2), lambda a: np.trace(a, 0, 1, 2), X),
        ("diag_of_matrix", lambda t: cr.diag(t, 1), lambda a: np.diag(a, 1), M),
        ("diag_of_vector", lambda t: cr.diag(t, -2), lambda a: np.diag(a, -2), M[0]),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_matches_numpy_with_first_and_second_derivatives(name, fn_cr, fn_np, x) -> None:
    _both(fn_cr, fn_np, x)


def test_padding_copies_send_their_gradient_home() -> None:
    t = cr.tensor([1.0, 2.0, 3.0], dtype="float64", requires_grad=True)
    cr.pad(t, (2, 1), mode="reflect").sum().backward()  # [3 2 | 1 2 3 | 2]
    np.testing.assert_array_equal(t.grad.data, [1.0, 3.0, 2.0])


def test_layout_errors_name_the_op_and_the_argument() -> None:
    t = cr.tensor(X)
    with pytest.raises(ValueError, match=r"pad: mode must be one of constant, edge, reflect"):
        cr.pad(t, 1, mode="wrap")
    with pytest.raises(ValueError, match=r"pad: pad_width must be non-negative integers"):
        cr.pad(t, -1)
    with pytest.raises(ValueError, match=r"pad: pad_width .* does not fit an input of 3"):
        cr.pad(t, ((1, 1), (1, 1)))
    with pytest.raises(ValueError, match=r"repeat: repeats of shape \(2,\) do not match axis 1"):
        cr.repeat(t, [1, 2], axis=1)
    with pytest.raises(np.exceptions.AxisError, match=r"moveaxis: source 3 is out of bounds"):
        cr.moveaxis(t, 3, 0)
    with pytest.raises(ValueError, match=r"tril: needs an input of at least 2 dimensions"):
        cr.tril(cr.tensor([1.0]))
    with pytest.raises(ValueError, match=r"diagonal: axis1 and axis2 must differ"):
        cr.diagonal(t, 0, 1, 1)
    with pytest.raises(ValueError, match=r"diag: needs a 1-D or 2-D input"):
        cr.diag(t)


def test_tensor_methods_where_numpy_has_them() -> None:
    t = cr.tensor(X)
    np.testing.assert_array_equal(t.ravel().data, X.ravel())
    np.testing.assert_array_equal(t.repeat(2, axis=0).data, X.repeat(2, axis=0))
    np.testing.assert_array_equal(t.swapaxes(0, 1).data, X.swapaxes(0, 1))
    np.testing.assert_array_equal(t.diagonal(0, 1, 2).data, X.diagonal(0, 1, 2))
    np.testing.assert_allclose(t.trace(0, 1, 2).data, X.trace(0, 1, 2))
    np.testing.assert_array_equal(t.take([0, 5]).data, X.take([0, 5]))
    np.testing.assert_array_equal(t.argsort(axis=1).data, X.argsort(axis=1, kind="stable"))
    np.testing.assert_array_equal(t.round().data, X.round())
    np.testing.assert_array_equal(t.prod(axis=2).data, X.prod(axis=2))
    np.testing.assert_array_equal(t.cumsum(1).data, X.cumsum(1))
    np.testing.assert_array_equal(t.cumprod(1).data, X.cumprod(1))
