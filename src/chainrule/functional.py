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


def _leaves(x: Any) -> tuple[list[tensor.Tensor], bool]:
    """The points to differentiate at, as leaves (a Tensor that requires grad is used as it is,
    so ``f`` may close over it, e.g. a model's parameters), and whether one was given alone."""
    single = not isinstance(x, list | tuple)
    out = []
    for t in [x] if single else list(x):
        if isinstance(t, tensor.Tensor) and t.requires_grad:
            out.append(t)
        else:
            data = t.data if isinstance(t, tensor.Tensor) else np.asarray(t)
            out.append(tensor.Tensor(np.array(data), requires_grad=True))
    return out, single


def hvp(f: Callable[..., tensor.Tensor], x: Any, v: Any) -> Any:
    """The Hessian of the scalar ``f`` at ``x`` times ``v``, without building the Hessian.

    Two backward passes (reverse over reverse): ``g = grad(f(x), x, create_graph=True)``, then
    the gradient of ``sum(g * v)``. ``x`` is a Tensor or a list of them (then ``v`` is a list of
    the same shapes, and ``f`` takes them as separate arguments); the result has ``x``'s shapes.

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0], dtype="float64")
    >>> cr.hvp(lambda t: (t**3).sum(), x, cr.tensor([1.0, 0.0], dtype="float64"))  # 6x e1
    tensor([6., 0.], dtype=float64)
    """
    xs, single = _leaves(x)
    vs = [v] if single else list(v)
    if len(vs) != len(xs):
        raise ValueError(f"hvp: {len(xs)} inputs but {len(vs)} vectors; give one v per input")
    for i, (t, w) in enumerate(zip(xs, vs, strict=True)):
        if np.shape(w.data if isinstance(w, tensor.Tensor) else w) != t.shape:
            raise ValueError(
                f"hvp: v[{i}] has shape {np.shape(getattr(w, 'data', w))} but x[{i}] has shape "
                f"{t.shape}; each v must have its x's shape"
            )
    out = f(*xs)
    if not isinstance(out, tensor.Tensor) or out.size != 1:
        raise ValueError("hvp: f must return a scalar Tensor (e.g. a loss)")
    grads = engine.grad(out, xs, create_graph=True, allow_unused=True)
    total: Any = None
    for g, w in zip(grads, vs, strict=True):
        if g is not None and g.requires_grad:
            term = (g * (w.data if isinstance(w, tensor.Tensor) else w)).sum()
            total = term if total is None else total + term
    if total is None:
        hv: tuple[Any, ...] = (None,) * len(xs)
    else:
        hv = engine.grad(total, xs, allow_unused=True)
    result = [
        tensor.Tensor(np.zeros(t.shape, t.dtype)) if h is None else h
        for t, h in zip(xs, hv, strict=True)
    ]
    return result[0] if single else result


def hessian(f: Callable[[tensor.Tensor], tensor.Tensor], x: Any) -> np.ndarray:
    """The Hessian of the scalar ``f`` at ``x``, shape ``x.shape + x.shape``: one backward
    through the gradient's graph per element of ``x``.

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0], dtype="float64")
    >>> cr.hessian(lambda t: (t[0] ** 2) * t[1], x)    # [[2 x1, 2 x0], [2 x0, 0]]
    array([[4., 2.],
           [2., 0.]])
    """
    (leaf,), _ = _leaves(x if not isinstance(x, tensor.Tensor) else tensor.Tensor(x.data))
    out = f(leaf)
    if not isinstance(out, tensor.Tensor) or out.size != 1:
        raise ValueError("hessian: f must return a scalar Tensor (e.g. a loss)")
    hess = np.zeros(leaf.shape + leaf.shape, dtype=leaf.dtype)
    if not out.requires_grad:
        return hess
    (g,) = engine.grad(out, leaf, create_graph=True, allow_unused=True)
    if g is None or not g.requires_grad:
        return hess  # f is linear (or constant) in x
    rows = hess.reshape(leaf.size, *leaf.shape)
    flat = g.reshape(-1)
    for k in range(leaf.size):
        (h,) = engine.grad(flat[k], leaf, retain_graph=True, allow_unused=True)
        if h is not None:
            rows[k] = h.data
    return hess
