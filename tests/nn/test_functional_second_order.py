"""Second derivatives of every fused gate in chainrule.nn.functional, by gradgradcheck."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import functional as F  # noqa: N812
from chainrule.nn import functional_losses as FL  # noqa: N812
from chainrule.ops import registry
from graphs import gates_in_graph

rng = np.random.default_rng(7)


def f64(shape, scale=1.0):
    return cr.tensor(rng.standard_normal(shape) * scale, requires_grad=True)


CASES = {
    "linear": (lambda x, w, b: F.linear(x, w, b), [(4, 3), (3, 2), (2,)]),
    "linear_batched": (lambda x, w: F.linear(x, w), [(2, 4, 3), (3, 2)]),
    "cross_entropy": (lambda z: F.cross_entropy(z, np.array([0, 2, 1, 2])), [(4, 3)]),
    "cross_entropy_smoothing": (
        lambda z: F.cross_entropy(z, np.array([1, 0]), label_smoothing=0.2),
        [(2, 3)],
    ),
    "batch_norm": (lambda x, g, b: F.batch_norm(x, None, None, g, b), [(5, 3), (3,), (3,)]),
    "batch_norm_frozen": (
        lambda x, g, b: F.batch_norm(
            x, np.array([0.1, -0.2, 0.3]), np.array([1.5, 0.5, 2.0]), g, b, training=False
        ),
        [(5, 3), (3,), (3,)],
    ),
    "dropout": (
        lambda x: F.dropout(x, 0.5, rng=np.random.default_rng(0)) * x,
        [(3, 4)],
    ),
    "mse": (lambda p, t: F.mse_loss(p, t), [(3, 2), (3, 2)]),
    "bce_with_logits": (
        lambda x: F.binary_cross_entropy_with_logits(x, cr.tensor(np.array([0.0, 1.0, 0.3]))),
        [(3,)],
    ),
    "svm": (lambda s: F.svm_loss(s, np.array([0, 1, 2])) * (s * s).sum(), [(3, 4)]),
    "l2_penalty": (lambda w1, w2: F.l2_penalty([w1, w2], 0.3), [(2, 3), (3, 2)]),
    "maxout": (lambda x, w, b: F.maxout(x, w, b, 2), [(3, 2), (2, 4), (4,)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fused_gate_second_derivatives(name: str) -> None:
    fn, shapes = CASES[name]
    inputs = [f64(s) for s in shapes]
    assert cr.gradcheck(fn, *inputs)
    assert cr.gradgradcheck(fn, *inputs)


def test_every_fused_gate_is_marked_twice_differentiable() -> None:
    gates = [
        v
        for v in vars(F).values()
        if isinstance(v, type)
        and issubclass(v, cr.Function)
        and v.__module__ in (F.__name__, FL.__name__)  # the fused losses live beside F
    ]
    assert len(gates) >= 8
    assert all(g.differentiable_backward for g in gates), [
        g.__name__ for g in gates if not g.differentiable_backward
    ]


def test_every_nn_gate_has_a_second_order_case() -> None:
    """tests/nn/test_functional_second_order.py's cases reach every fused gate."""
    seen: set[type] = set()
    for fn, shapes in CASES.values():
        seen |= gates_in_graph(fn(*[cr.tensor(np.ones(s), requires_grad=True) for s in shapes]))
    # (the activations of chainrule.ops.activations are gradgradchecked by their op-table rows,
    # tests/ops/op_table_more.py)
    fused = [g for g in registry.gates("nn") if g.__module__ != "chainrule.ops.activations"]
    missing = [g.__name__ for g in fused if g not in seen]
    assert not missing, f"fused gates without a gradgradcheck case: {missing}"
