"""Every built-in gate can be explained, drawn and put under the Jacobian lens, and the lens's
vector-Jacobian product agrees with the gate's backward."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.viz import png


def T(*shape):
    rng = np.random.default_rng(len(shape) * 7 + sum(shape))
    data = rng.normal(size=shape) if shape else 0.7
    return cr.tensor(data, requires_grad=True, dtype="float64")


CASES = {
    "sub": lambda: (T(3) - T(3)).sum(),
    "div": lambda: (T(3) / (T(3) ** 2 + 1)).sum(),
    "pow": lambda: (cr.abs(T(3)) ** T(3)).sum(),
    "log": lambda: cr.log(cr.abs(T(3)) + 1).sum(),
    "sin_cos": lambda: (cr.sin(T(3)) * cr.cos(T(3))).sum(),
    "leaky_relu": lambda: cr.leaky_relu(T(3), 0.1).sum(),
    "elu": lambda: cr.elu(T(3)).sum(),
    "minimum": lambda: cr.minimum(T(3), T(3)).sum(),
    "clip": lambda: cr.clip(T(3), -0.5, 0.5).sum(),
    "where": lambda: cr.where(np.array([True, False, True]), T(3), T(3)).sum(),
    "var_std": lambda: T(2, 3).var(axis=0).sum() + T(3).std(),
    "max_min": lambda: T(2, 3).max(axis=1).sum() + T(3).min(),
    "softmax": lambda: cr.softmax(T(2, 3)).sum() + cr.logsumexp(T(2, 3), axis=1).sum(),
    "log_softmax": lambda: cr.log_softmax(T(2, 3)).sum(),
    "reshape_transpose": lambda: T(2, 3).reshape(3, 2).T.sum(),
    "broadcast_to": lambda: cr.broadcast_to(T(3), (2, 3)).sum(),
    "expand_squeeze": lambda: cr.squeeze(cr.expand_dims(T(3), 0)).sum(),
    "index": lambda: T(4, 3)[1:3, [0, 2]].sum(),
    "concatenate_stack": lambda: cr.concatenate([T(2), T(3)]).sum() + cr.stack([T(2), T(2)]).sum(),
    "batched_matmul": lambda: (T(2, 3, 4) @ T(4, 2)).sum(),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gate_is_explained_drawn_and_lensed(name):
    y = CASES[name]()
    e = cr.explain(y)
    assert "gradients:" in str(e)
    assert e.to_svg().startswith("<svg") and "<script" in e.to_html()
    png.figure(e)
    for n in e.nodes:
        if not n.is_input:
            lens = e.jacobian(n)
            assert all(p.agree in (True, None) for p in lens.parts), str(lens)
    assert e.gradients  # the gradient reached the inputs
