"""The Jacobian lens: the matrix, its structure, and the VJP that backprop computes instead."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.viz import explain_expression


def _t(a):
    return cr.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def test_elementwise_gate_is_diagonal_and_vjp_agrees():
    x = _t([0.5, -1.0, 2.0])
    e = cr.explain(cr.tanh(x).sum())
    lens = e.jacobian(e.nodes[1])
    (part,) = lens.parts
    np.testing.assert_allclose(part.matrix, np.diag(1 - np.tanh(x.data) ** 2))
    assert part.structure.startswith("diagonal") and part.agree
    np.testing.assert_allclose(part.vjp, e.gradients["x"])


def test_matmul_blocks():
    rng = np.random.default_rng(1)
    X, W = _t(rng.normal(size=(3, 2))), _t(rng.normal(size=(2, 4)))
    e = cr.explain((X @ W).sum())
    lens = e.jacobian("q")
    by_input = {p.input.name: p for p in lens.parts}
    dX = by_input["X"].matrix.reshape(3, 4, 3, 2)
    for i in range(3):  # each block is W^T
        np.testing.assert_allclose(dX[i, :, i, :], W.data.T)
    assert by_input["X"].structure.startswith("block-diagonal, 3 blocks of shape (4, 2)")
    assert by_input["W"].structure.startswith("block structure")
    assert all(p.agree for p in lens.parts)
    text = str(lens)
    assert "backprop never builds this matrix" in text and "they agree" in text


def test_reduction_and_gate_with_options_use_the_recorded_backward():
    x = _t([[1.0, 2.0], [3.0, 4.0]])
    e = cr.explain(x.sum(axis=1).mean())
    lens = e.jacobian("q")  # sum over axis 1: rebuilt from the gate's backward
    (part,) = lens.parts
    np.testing.assert_allclose(part.matrix, [[1, 1, 0, 0], [0, 0, 1, 1]])
    assert "one-hot" in part.method and part.agree


def test_lens_of_matmul_wrt_a_vector_is_the_matrix():
    e = explain_expression("sum(sigmoid(W@x))", {"W": [[0.1, 0.5], [-0.3, 0.8]], "x": [0.2, 0.4]})
    q = e.node("q")
    part = next(p for p in e.jacobian(q).parts if p.input.name == "x")
    W = np.array([[0.1, 0.5], [-0.3, 0.8]])
    np.testing.assert_allclose(part.matrix, W)


def test_lens_refuses_inputs_and_freed_graphs():
    x = _t([1.0, 2.0])
    f = (x * x).sum()
    e = cr.explain(f)
    with pytest.raises(ValueError, match="is an input"):
        e.jacobian("x")
    f.backward()
    with pytest.raises(RuntimeError, match="freed"):
        e.jacobian("q")
