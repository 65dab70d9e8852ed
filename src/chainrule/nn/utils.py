"""Gradient clipping, as ``torch.nn.utils``: call between ``backward()`` and ``optimizer.step()``.

>>> import chainrule as cr
>>> from chainrule import nn
>>> w = nn.Parameter([3.0, 4.0])
>>> (w * w).sum().backward()  # grad = 2w = [6, 8], norm 10
>>> float(nn.utils.clip_grad_norm_([w], max_norm=5.0))
10.0
>>> [round(g, 4) for g in w.grad.tolist()]
[3.0, 4.0]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from chainrule import _tensor


def _params(parameters: Any) -> list[Any]:
    if isinstance(parameters, _tensor.Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def _number(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    return v


def clip_grad_norm_(
    parameters: Iterable[Any] | Any,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    """Scale the gradients of ``parameters`` together so that their total ``norm_type``-norm
    (over all of them, as if one vector) is at most ``max_norm``; returns the norm before
    clipping. ``norm_type`` may be ``inf`` (the largest absolute value). With
    ``error_if_nonfinite`` a nan or inf total norm raises ``RuntimeError``.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> a, b = nn.Parameter([1.0]), nn.Parameter([1.0])
    >>> a.grad, b.grad = cr.tensor([3.0]), cr.tensor([4.0])
    >>> clip_grad_norm_([a, b], 1.0)
    5.0
    >>> round(a.grad.item(), 4), round(b.grad.item(), 4)
    (0.6, 0.8)
    """
    max_norm, norm_type = _number("max_norm", max_norm), _number("norm_type", norm_type)
    if max_norm < 0 or math.isnan(max_norm):
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0, got {max_norm}")
    if not (norm_type > 0):
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 or inf, got {norm_type}")
    params = _params(parameters)
    if not params:
        return 0.0
    grads = [np.asarray(p.grad.data, dtype=np.float64) for p in params]
    if math.isinf(norm_type):
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in grads)
    else:
        total = float(sum(float(np.sum(np.abs(g) ** norm_type)) for g in grads)) ** (
            1.0 / norm_type
        )
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total {norm_type:g}-norm of the gradients is {total}; "
            "pass error_if_nonfinite=False to clip anyway"
        )
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for p in params:
            g = p.grad.data
            p.grad = _tensor.Tensor._wrap((g * coef).astype(g.dtype, copy=False), False)
    return total


def clip_grad_value_(parameters: Iterable[Any] | Any, clip_value: float) -> None:
    """Clip every gradient element of ``parameters`` into ``[-clip_value, clip_value]``.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> w = nn.Parameter([0.0, 0.0, 0.0])
    >>> w.grad = cr.tensor([-3.0, 0.5, 9.0])
    >>> clip_grad_value_([w], 1.0); w.grad.tolist()
    [-1.0, 0.5, 1.0]
    """
    clip_value = _number("clip_value", clip_value)
    if not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for p in _params(parameters):
        g = p.grad.data
        p.grad = _tensor.Tensor._wrap(np.clip(g, -clip_value, clip_value).astype(g.dtype), False)
