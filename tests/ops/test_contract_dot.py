"""dot, inner, outer and tensordot against NumPy on every rank combination NumPy defines,
with gradients to first and second order in float64, and the shape errors (naming the op)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

RNG = np.random.default_rng(11)


def _pair(sa: tuple[int, ...], sb: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    return RNG.standard_normal(sa), RNG.standard_normal(sb)


def _check(fn, ref, a: np.ndarray, b: np.ndarray) -> None:
    ta, tb = cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)
    out = fn(ta, tb)
    want = ref(a, b)
    assert out.shape == np.shape(want)
    np.testing.assert_allclose(out.data, want, rtol=1e-12, atol=1e-12)
    assert cr.gradcheck(fn, ta, tb)
    assert cr.gradgradcheck(fn, ta, tb)


DOT_SHAPES = [
    ((), ()),
    ((), (2, 3)),
    ((2, 3), ()),
    ((3,), (3,)),  # inner product
    ((3,), (3, 4)),  # 1-D . 2-D: b's first axis
    ((3,), (2, 3, 4)),  # 1-D . N-D: b's second-to-last
    ((2, 3), (3,)),  # N-D . 1-D: a's last with b's only axis
    ((2, 3, 4), (4,)),
    ((2, 3), (3, 4)),  # matmul
    ((2, 3, 4), (4, 5)),
    ((2, 3, 4), (5, 4, 2)),  # N-D . M-D: a's last with b's second-to-last
    ((1, 3), (2, 3, 1)),
    ((2, 1, 2, 3), (3, 3, 2)),
]


@pytest.mark.parametrize(("sa", "sb"), DOT_SHAPES)
def test_dot_follows_numpy_dot(sa, sb) -> None:
    a, b = _pair(sa, sb)
    _check(cr.dot, np.dot, a, b)


@pytest.mark.parametrize(("sa", "sb"), DOT_SHAPES)
def test_tensor_dot_method_is_cr_dot(sa, sb) -> None:
    a, b = _pair(sa, sb)
    _check(lambda x, y: x.dot(y), np.dot, a, b)


@pytest.mark.parametrize(("sa", "sb"), [((2, 3), (4, 5)), ((3,), (4,)), ((2, 3, 4), (5, 3, 2)),
                                       ((2, 1), (3, 4)), ((4,), (2, 3, 5))])  # fmt: skip
def test_dot_refuses_unaligned_shapes_as_numpy_does(sa, sb) -> None:
    a, b = _pair(sa, sb)
    with pytest.raises(ValueError):
        np.dot(a, b)
    with pytest.raises(ValueError, match=r"dot: shapes .* are not aligned"):
        cr.dot(cr.tensor(a), cr.tensor(b))
    with pytest.raises(ValueError, match=r"dot: shapes .* are not aligned"):
        cr.tensor(a).dot(b)


@pytest.mark.parametrize(
    ("sa", "sb"),
    [((), (2, 3)), ((3,), (3,)), ((2, 3), (3,)), ((3,), (4, 3)), ((2, 3), (4, 5, 3)),
     ((2, 1, 3), (3,)), ((1, 3), (2, 1, 3))],
)  # fmt: skip
def test_inner_follows_numpy_inner(sa, sb) -> None:
    a, b = _pair(sa, sb)
    _check(cr.inner, np.inner, a, b)


def test_inner_refuses_different_last_axes() -> None:
    a, b = _pair((2, 3), (3, 2))
    with pytest.raises(ValueError):
        np.inner(a, b)
    with pytest.raises(ValueError, match=r"inner: shapes \(2, 3\) and \(3, 2\) are not aligned"):
        cr.inner(cr.tensor(a), cr.tensor(b))


@pytest.mark.parametrize(
    ("sa", "sb"), [((), ()), ((), (3,)), ((2, 3), (4,)), ((2, 2), (3, 1, 2)), ((1,), (1,))]
)
def test_outer_follows_numpy_outer_on_flattened_inputs(sa, sb) -> None:
    a, b = _pair(sa, sb)
    _check(cr.outer, np.outer, a, b)


@pytest.mark.parametrize(
    ("sa", "sb", "axes"),
    [
        ((2, 3), (4,), 0),  # an outer product of N-D operands
        ((2, 3, 4), (2, 3, 4), 3),  # everything contracted: a scalar
        ((3, 2), (2, 3), ([1, 0], [0, 1])),  # pairs in another order
        ((2, 3, 4), (4, 3), ([-1, -2], [0, 1])),  # negative axes
        ((2, 3, 4), (3,), ([1], [0])),
        ((4,), (2, 4, 3), ([0], [1])),
        ((2, 3), (3, 2), ([0, 1], [1, 0])),
    ],
)
def test_tensordot_follows_numpy_on_odd_ranks_and_axes(sa, sb, axes) -> None:
    a, b = _pair(sa, sb)
    _check(lambda x, y: cr.tensordot(x, y, axes), lambda x, y: np.tensordot(x, y, axes), a, b)


def test_tensordot_errors_name_the_axes() -> None:
    a, b = cr.ones(2, 3), cr.ones(4, 3)
    with pytest.raises(ValueError, match=r"tensordot: axis 1 of a \(size 3\) and axis 0 of b"):
        cr.tensordot(a, b, axes=1)
    with pytest.raises(ValueError, match=r"tensordot: axes=3 needs 0 <= axes <= min"):
        cr.tensordot(a, b, axes=3)
