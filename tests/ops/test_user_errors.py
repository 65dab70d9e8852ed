"""Issue 11's error bullet, run as a user would: bad axes, float arguments, mismatched
sequences, out-of-range indices and bad loss options each raise one error naming the op and
the argument, never a NumPy internal message (the cases that used to leak one are here)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import functional as F  # noqa: N812

X = cr.tensor(np.arange(24.0).reshape(2, 3, 4))
M = cr.tensor(np.arange(12.0).reshape(3, 4))
V = cr.tensor([1.0, 2.0, 3.0])
Y = np.array([0, 1, 2])

# (what the user called, the error type, the message it must match)
CASES: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("moveaxis repeated", lambda: cr.moveaxis(X, [0, 0], [1, 2]), ValueError,
     r"moveaxis: source \[0, 0\] repeats an axis"),
    ("moveaxis repeated destination", lambda: cr.moveaxis(X, [0, 1], [2, -1]), ValueError,
     r"moveaxis: destination \[2, -1\] repeats an axis"),
    ("roll float shift", lambda: cr.roll(X, 1.5, axis=0), TypeError,
     r"roll: shift must be an integer, got 1.5"),
    ("roll lengths", lambda: cr.roll(X, (1, 2, 3), axis=(0, 1)), ValueError,
     r"roll: shift \(1, 2, 3\) and axis \(0, 1\) must be one each"),
    ("tile float", lambda: cr.tile(X, 1.5), TypeError, r"tile: reps must be an integer"),
    ("tile nested", lambda: cr.tile(X, [[1, 2]]), ValueError,
     r"tile: reps must be an integer or a sequence of integers"),
    ("tril float k", lambda: cr.tril(M, 0.5), TypeError, r"tril: k must be an integer"),
    ("triu float k", lambda: cr.triu(M, 1.0), TypeError, r"triu: k must be an integer"),
    ("diagonal float offset", lambda: cr.diagonal(M, 0.5), TypeError,
     r"diagonal: offset must be an integer"),
    ("diag float k", lambda: cr.diag(V, 1.5), TypeError, r"diag: k must be an integer"),
    ("trace 1-D", lambda: cr.trace(V), ValueError, r"trace: needs an input of at least 2"),
    ("take out of range", lambda: cr.take(X, [24]), IndexError,
     r"take: index 24 is out of range for an axis of length 24"),
    ("take_along_axis negative out of range", lambda: cr.take_along_axis(M, [[-5]], 1),
     IndexError, r"take_along_axis: index -5 is out of range for an axis of length 4"),
    ("put_along_axis out of range", lambda: cr.put_along_axis(M, [[4]], 1.0, 1), IndexError,
     r"put_along_axis: index 4 is out of range"),
    ("cross_entropy target -1 (sum)", lambda: F.cross_entropy(M, [0, 1, -1], reduction="sum"),
     IndexError, r"cross_entropy: target -1 is out of range for 4 classes"),
    ("cross_entropy float targets", lambda: F.cross_entropy(M, [0.0, 1.0, 2.0], weight=np.ones(4)),
     ValueError, r"cross_entropy: target must be \(3,\) integer classes or \(3, 4\) probabil"),
    ("nll_loss target -1", lambda: F.nll_loss(M, [0, 1, -1]), IndexError,
     r"nll_loss: target -1 is out of range for 4 classes"),
    ("nll_loss target 4", lambda: F.nll_loss(M, [0, 1, 4], reduction="none"), IndexError,
     r"nll_loss: target 4 is out of range for 4 classes"),
    ("svm_loss bad reduction", lambda: F.svm_loss(M, Y, reduction="avg"), ValueError,
     r"svm_loss: reduction must be 'mean', 'sum' or 'none'"),
    ("bce weight shape", lambda: F.binary_cross_entropy(cr.tensor([0.5, 0.5]), [1.0, 0.0],
                                                        weight=[1.0, 2.0, 3.0]),
     ValueError, r"binary_cross_entropy: weight of shape \(3,\) does not broadcast to the "
                 r"input's \(2,\)"),
    ("bce_with_logits pos_weight shape",
     lambda: F.binary_cross_entropy_with_logits(M, np.zeros((3, 4)), pos_weight=np.ones(3)),
     ValueError, r"binary_cross_entropy_with_logits: pos_weight of shape \(3,\) does not "),
    ("topk float k", lambda: cr.topk(M, 1.5), TypeError, r"topk: k must be an integer, got 1.5"),
    ("one_hot float classes", lambda: cr.one_hot(cr.tensor([0, 1]), 2.5), TypeError,
     r"one_hot: num_classes must be an integer, got 2.5"),
    ("kl_div target None", lambda: F.kl_div(M, None), TypeError,
     r"kl_div: target must be numbers \(an array or Tensor\), got NoneType"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "message"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_a_bad_argument_names_the_op_and_the_argument(
    call: Callable[[], Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as info:
        call()
    assert not re.search(r"cannot be interpreted|could not be broadcast|don't match array",
                         str(info.value))  # fmt: skip


def test_the_fixed_arguments_still_work_as_numpy() -> None:
    x = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(cr.roll(X, (1, 2), axis=0).data, np.roll(x, (1, 2), axis=0))
    np.testing.assert_array_equal(cr.roll(X, 1, axis=(0, 2)).data, np.roll(x, 1, axis=(0, 2)))
    np.testing.assert_array_equal(cr.roll(X, np.int64(2)).data, np.roll(x, 2))
    np.testing.assert_array_equal(cr.tile(X, np.int64(2)).data, np.tile(x, 2))
    np.testing.assert_array_equal(cr.tril(M, np.int32(1)).data, np.tril(M.data, 1))
    np.testing.assert_array_equal(cr.diagonal(X, 1, 2, 0).data, np.diagonal(x, 1, 2, 0))


def test_sort_and_argsort_take_axis_none_as_numpy() -> None:
    x = np.array([[3.0, 1.0, 2.0], [0.5, 1.0, -1.0]])
    t = cr.tensor(x, requires_grad=True)
    np.testing.assert_array_equal(
        cr.argsort(t, axis=None).data, np.argsort(x, axis=None, kind="stable")
    )
    s = cr.sort(t, axis=None)
    np.testing.assert_array_equal(s.data, np.sort(x, axis=None))
    (s * cr.tensor(np.arange(6.0))).sum().backward()  # element of rank r gets gradient r
    ranks = np.empty(6)
    ranks[np.argsort(x, axis=None, kind="stable")] = np.arange(6.0)
    np.testing.assert_array_equal(t.grad.data, ranks.reshape(2, 3))
