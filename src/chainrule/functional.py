"""The functional API: Jacobians built from vector-Jacobian products, for teaching.

Backprop never builds a Jacobian: it computes ``dout @ J`` directly. ``jacobian`` shows the
matrix anyway by running one backward per output element with a one-hot upstream gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import _tensor as tensor
from chainrule import engine


def jacobian(f: Callable[[tensor.Tensor], tensor.Tensor], x: Any) -> np.ndarray:
    """The Jacobian of ``f`` at ``x``, shape ``f(x).shape + x.shape``, one backward per row.

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0], dtype="float64")
    >>> cr.jacobian(lambda t: t * t, x)
    array([[2., 0.],
           [0., 4.]])
    """
    xt = x if isinstance(x, tensor.Tensor) else tensor.Tensor(x)
    leaf = tensor.Tensor(xt.data.copy(), requires_grad=True)
    y = f(leaf)
    if not isinstance(y, tensor.Tensor):
        raise TypeError(f"jacobian: f must return a Tensor, got {type(y).__name__}")
    jac = np.zeros(y.shape + leaf.shape, dtype=np.result_type(y.data.dtype, leaf.data.dtype))
    if not y.requires_grad:
        return jac  # the output does not depend on x
    rows = jac.reshape(y.size, *leaf.shape)
    for k in range(y.size):
        onehot = np.zeros(y.size, dtype=y.data.dtype)
        onehot[k] = 1
        (g,) = engine.grad(
            y, leaf, grad_outputs=onehot.reshape(y.shape), retain_graph=True, allow_unused=True
        )
        if g is not None:
            rows[k] = g.data
    return jac
