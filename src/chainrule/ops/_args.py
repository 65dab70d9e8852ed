"""Argument checks shared by the op families: axes, integer arrays, and the Tensor wrappers.

Each check raises one error naming the op, the argument and what was expected. Out-of-range
axes raise NumPy's ``AxisError``, which is both a ``ValueError`` and an ``IndexError``.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

AxisError = np.exceptions.AxisError


def axis(op: str, value: Any, ndim: int, name: str = "axis") -> int:
    """``value`` as an axis in ``[0, ndim)``, or AxisError naming op, the axis and ndim.

    >>> axis("flip", -1, 3)
    2
    """
    try:
        a = operator.index(value)
    except TypeError:
        raise TypeError(f"{op}: {name} must be an integer, got {value!r}") from None
    if not -ndim <= a < ndim:
        raise AxisError(
            f"{op}: {name} {a} is out of bounds for an input with ndim {ndim} "
            f"(expected {-ndim} <= {name} < {ndim})"
        )
    return a % ndim if ndim else 0


def integer(op: str, value: Any, name: str) -> int:
    """``value`` as a Python int (an int or an integer NumPy scalar), or a TypeError naming op
    and the argument: a float never silently truncates.

    >>> integer("tril", 1, "k")
    1
    """
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{op}: {name} must be an integer, got {value!r}") from None


def axes(op: str, value: Any, ndim: int) -> tuple[int, ...] | None:
    """None, one axis or a tuple of distinct axes, each normalised by ``axis``.

    >>> axes("sum", (0, -1), 3)
    (0, 2)
    """
    if value is None:
        return None
    items = value if isinstance(value, tuple | list) else (value,)
    out = tuple(axis(op, a, ndim) for a in items)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: axis {value!r} repeats an axis")
    return out


def tensor(x: Any) -> Any:
    """x as a chainrule Tensor (the ops package's converter, bound once Tensor exists)."""
    from chainrule import ops

    return ops._t(x)


def pair(x: Any, y: Any) -> tuple[Any, Any]:
    """Two operands as Tensors; a plain operand takes the other's float dtype."""
    from chainrule import ops

    return ops._pair(x, y)


def register(
    *,
    function: str | None,
    method: str | None,
    ufunc: str | None,
    family: str,
    label: str,
    local: str,
    rebuildable: bool,
    arity: int = 1,
) -> Any:
    """The ``@registry.op`` decorator of one of this issue's gates; ``ufunc`` is the NumPy ufunc
    it serves on Tensors (``np.tan(t)``), taking ``arity`` Tensor inputs.

    >>> register(function="tan", method=None, ufunc="tan", family="elementwise", label="tan",
    ...          local="1 + tan^2 x", rebuildable=True).__name__
    'register'
    """
    from chainrule.ops import registry

    return registry.op(family=family, function=function, method=method, label=label,
                       local=local, rebuildable=rebuildable, ufuncs=(ufunc,) if ufunc else (),
                       arity=arity)  # fmt: skip


def fn(xp: Any, name: str) -> Any:
    """``xp.<name>``; where xp is chainrule's Tensor namespace and lacks it, chainrule's own
    function of that name (one of this issue's ops), so a rule stays twice differentiable.

    >>> import numpy as np
    >>> fn(np, "cosh") is np.cosh
    True
    """
    f = getattr(xp, name, None)
    if f is None:
        import chainrule

        f = getattr(chainrule, name)
    return f
