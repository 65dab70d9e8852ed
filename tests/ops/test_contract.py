"""einsum on every listed subscripts, tensordot/inner/outer/dot against NumPy, and their errors."""

from __future__ import annotations

import numpy as np
import pytest
from op_table_more import _EINSUMS

import chainrule as cr

RNG = np.random.default_rng(0)


@pytest.mark.parametrize(("spec", "shapes"), _EINSUMS, ids=[s for s, _ in _EINSUMS])
def test_every_einsum_forward_gradient_and_second_derivative(spec, shapes) -> None:
    arrays = [RNG.standard_normal(s) for s in shapes]
    ts = [cr.tensor(a, requires_grad=True) for a in arrays]
    np.testing.assert_allclose(cr.einsum(spec, *ts).data, np.einsum(spec, *arrays), atol=1e-12)
    assert cr.gradcheck(lambda *xs: cr.einsum(spec, *xs), *ts)
    assert cr.gradgradcheck(lambda *xs: cr.einsum(spec, *xs), *ts)


@pytest.mark.parametrize(
    ("sa", "sb", "axes"),
    [((2, 3), (3, 4), 1), ((2, 3, 4), (3, 4, 5), 2), ((3, 2), (4, 3), ([0], [1])), ((2,), (3,), 0)],
)
def test_tensordot_matches_numpy(sa, sb, axes) -> None:
    a, b = RNG.standard_normal(sa), RNG.standard_normal(sb)
    ta, tb = cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)
    np.testing.assert_allclose(cr.tensordot(ta, tb, axes).data, np.tensordot(a, b, axes))
    assert cr.gradcheck(lambda x, y: cr.tensordot(x, y, axes), ta, tb)


@pytest.mark.parametrize(
    ("sa", "sb"),
    [((), (3,)), ((3,), (3,)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((2, 3, 4), (5, 4, 2))],
)
def test_dot_inner_outer_match_numpy_on_any_ranks(sa, sb) -> None:
    a, b = RNG.standard_normal(sa), RNG.standard_normal(sb)
    ta, tb = cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)
    np.testing.assert_allclose(cr.dot(ta, tb).data, np.dot(a, b))
    assert cr.gradcheck(cr.dot, ta, tb)
    np.testing.assert_allclose(cr.outer(ta, tb).data, np.outer(a, b))
    b2 = RNG.standard_normal((*sb[:-1], sa[-1])) if sa else b
    np.testing.assert_allclose(cr.inner(ta, cr.tensor(b2)).data, np.inner(a, b2))


def test_einsum_errors_name_the_subscripts_and_what_was_expected() -> None:
    a = cr.ones(2, 3)
    with pytest.raises(ValueError, match=r"einsum: subscripts 'ij,jk' name 2 operands, got 1"):
        cr.einsum("ij,jk", a)
    with pytest.raises(ValueError, match=r"does not match its subscripts 'i'"):
        cr.einsum("i", a)
    with pytest.raises(ValueError, match=r"letter 'j' of 'ij,jk' has sizes 3 and 4"):
        cr.einsum("ij,jk", a, cr.ones(4, 2))
    with pytest.raises(ValueError, match=r"output letter 'k' of 'ij->k' is in no operand"):
        cr.einsum("ij->k", a)
    with pytest.raises(ValueError, match=r"may only use letters"):
        cr.einsum("i1", a)
    with pytest.raises(TypeError, match=r"subscripts must be a string"):
        cr.einsum(3, a)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"tensordot: axis 1 of a \(size 3\) and axis 0 of b"):
        cr.tensordot(a, cr.ones(2, 3), axes=([1], [0]))
    with pytest.raises(ValueError, match=r"tensordot: axes=3 needs 0 <= axes <= min"):
        cr.tensordot(a, a, axes=3)
