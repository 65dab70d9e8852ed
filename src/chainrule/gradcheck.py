"""Numerical gradients by central differences, and the check that compares them with backprop.

The relative error is CS231n's: ``|a - n| / max(|a|, |n|)``. An element passes when it is
within ``atol`` absolutely or ``rtol`` relatively (so gradients near zero are not judged by a
ratio of two round-off errors). Everything is computed in float64.

This module needs nothing of the engine but callables: ``numerical_gradient`` works on plain
NumPy functions, so a student can check a backward written by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


class GradcheckError(AssertionError):
    """Raised by ``gradcheck`` when backprop and central differences disagree."""


def relative_error(a: Any, n: Any) -> np.ndarray:
    """``|a - n| / max(|a|, |n|)`` elementwise, 0 where both are 0.

    >>> float(relative_error(1.0, 1.01).round(4))
    0.0099
    """
    a, n = np.asarray(a, dtype=np.float64), np.asarray(n, dtype=np.float64)
    scale = np.maximum(np.abs(a), np.abs(n))
    diff = np.abs(a - n)
    return np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)


def numerical_gradient(
    f: Callable[[np.ndarray], Any], x: np.ndarray, dout: Any = None, h: float = 1e-5
) -> np.ndarray:
    """Central-difference gradient of ``sum(f(x) * dout)`` with respect to ``x``.

    ``f`` takes and returns NumPy arrays; ``x`` is perturbed in place and restored. ``dout`` is
    the upstream gradient (ones when left out), so this checks any backward pass by hand::

        >>> import numpy as np
        >>> x = np.array([1.0, 2.0, 3.0])
        >>> numerical_gradient(lambda v: (v ** 2).sum(), x).round(6)
        array([2., 4., 6.])
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"numerical_gradient: x must be floating point, got {x.dtype}")
    grad = np.zeros(x.shape, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])  # type: ignore[list-item]
    while not it.finished:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = np.asarray(f(x), dtype=np.float64)
        x[i] = old - h
        minus = np.asarray(f(x), dtype=np.float64)
        x[i] = old
        d = np.ones_like(plus) if dout is None else np.asarray(dout, dtype=np.float64)
        grad[i] = np.sum((plus - minus) * d) / (2 * h)
        it.iternext()
    return grad


def gradcheck(
    fn: Callable[..., Any],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> bool:
    """Compare backprop's gradients of ``fn(*inputs)`` with central differences, in float64.

    Every input Tensor with ``requires_grad`` is checked. A non-scalar output is reduced with a
    fixed random upstream gradient, so every output element counts. Returns True, or raises
    ``GradcheckError`` naming the input, the worst element and its relative error.

    >>> import chainrule as cr
    >>> x = cr.tensor([0.5, -1.0, 2.0], dtype="float64", requires_grad=True)
    >>> cr.gradcheck(lambda t: (t * t).tanh(), x)
    True
    """
    from chainrule import _tensor as tensor
    from chainrule import engine, function

    checked = _differentiable_inputs("gradcheck", inputs)
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {i} has dtype {inputs[i].dtype}; central differences need "
                "float64 inputs (make them with dtype='float64')"
            )
    out = fn(*inputs)
    if not isinstance(out, tensor.Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    if out.dtype.kind == "f" and out.dtype.itemsize < 8:
        raise TypeError(
            f"gradcheck: fn returned {out.dtype}; central differences with eps={eps} need the "
            "whole computation in float64 (a cast inside fn loses the digits they measure)"
        )
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    targets = [inputs[i] for i in checked]
    if out.requires_grad:
        analytic = engine.grad(out, targets, grad_outputs=dout, allow_unused=True)
    else:
        analytic = (None,) * len(targets)

    def value() -> float:
        with function.no_grad():
            o = fn(*inputs)
        return float(np.sum(np.asarray(o.data, dtype=np.float64) * dout))

    for i, t, a in zip(checked, targets, analytic, strict=True):
        a_arr = np.zeros(t.shape) if a is None else np.asarray(a.data, dtype=np.float64)
        x = t.numpy()  # shared: a 0-d NumPy scalar becomes a 0-d array, once
        num = np.zeros(t.shape)
        flat = x.reshape(-1)  # a view: perturbing it perturbs the input
        if not np.shares_memory(flat, x):
            raise ValueError(f"gradcheck: input {i} is not contiguous; pass a contiguous array")
        for k in range(flat.size):
            old = flat[k]
            flat[k] = old + eps
            plus = value()
            flat[k] = old - eps
            minus = value()
            flat[k] = old
            num.reshape(-1)[k] = (plus - minus) / (2 * eps)
        err = relative_error(a_arr, num)
        bad = (np.abs(a_arr - num) > atol) & (err > rtol)
        if bad.any():
            flat_worst = int(np.argmax(np.where(bad, err, -1.0)))
            worst = tuple(int(k) for k in np.unravel_index(flat_worst, t.shape))
            raise GradcheckError(
                f"gradcheck failed for input {i} (shape {t.shape}) at element {worst}: "
                f"backprop {a_arr[worst]:.6g}, numerical {num[worst]:.6g}, relative error "
                f"{err[worst]:.3g} (rtol {rtol}, atol {atol}); {int(bad.sum())} of "
                f"{bad.size} elements disagree"
            )
    return True


def gradgradcheck(
    fn: Callable[..., Any],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> bool:
    """Check second derivatives of ``fn(*inputs)``: backprop through the recorded backward pass
    (``create_graph=True``) against central differences of the first derivatives, in float64.

    The first derivatives are contracted with fixed random weights (and a non-scalar output
    with a fixed random upstream gradient), so every element of the Hessian-vector product is
    compared. Returns True, or raises ``GradcheckError`` as ``gradcheck`` does.

    >>> import chainrule as cr
    >>> x = cr.tensor([0.5, -1.0, 2.0], dtype="float64", requires_grad=True)
    >>> cr.gradgradcheck(lambda t: (t * t).tanh(), x)
    True
    """
    from chainrule import _tensor as tensor
    from chainrule import engine, function

    checked = _differentiable_inputs("gradgradcheck", inputs)
    out = fn(*inputs)
    if not isinstance(out, tensor.Tensor):
        raise TypeError(f"gradgradcheck: fn must return a Tensor, got {type(out).__name__}")
    rng = np.random.default_rng(seed + 1)
    dout = tensor.Tensor(rng.standard_normal(out.shape))
    weights = [rng.standard_normal(inputs[i].shape) for i in checked]

    def first_derivatives(*ts: Any) -> Any:
        with function.enable_grad():
            o = fn(*ts)
            if not o.requires_grad:
                return tensor.Tensor(np.float64(0.0))
            grads = engine.grad(
                o, [ts[i] for i in checked], grad_outputs=dout, create_graph=True, allow_unused=True
            )
        total: Any = tensor.Tensor(np.float64(0.0))
        for g, w in zip(grads, weights, strict=True):
            if g is not None:
                total = total + (g * w).sum()
        return total

    try:
        return gradcheck(first_derivatives, *inputs, eps=eps, atol=atol, rtol=rtol, seed=seed)
    except GradcheckError as e:
        raise GradcheckError(f"gradgradcheck (second derivatives): {e}") from None


def _differentiable_inputs(name: str, inputs: tuple[Any, ...]) -> list[int]:
    """The positions of the inputs to check: Tensors that require grad (at least one)."""
    from chainrule import function

    checked = [
        i for i, t in enumerate(inputs) if isinstance(t, function.TensorBase) and t.requires_grad
    ]
    if not checked:
        raise ValueError(f"{name}: no input Tensor has requires_grad=True")
    return checked
