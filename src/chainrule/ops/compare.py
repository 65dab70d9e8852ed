"""Comparisons and predicates: ``== != < <= > >=``, isnan, isinf, isfinite, the logical
functions, and ``& | ^ ~`` on bool (or integer) tensors.

None of these is differentiable: each returns a bool (or integer) tensor outside the graph,
with ``requires_grad=False``, however its inputs were made. Use the result as a mask through
``chainrule.where``, whose gradient is defined.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import backend


def _data(x: Any) -> Any:
    return x.data if backend.is_tensor(x) else np.asarray(x)


def _result(value: Any) -> Any:
    from chainrule import _tensor

    return _tensor.Tensor(np.asarray(value))


def _binary(ufunc: np.ufunc, doc: str) -> Any:
    def fn(x: Any, y: Any) -> Any:
        return _result(ufunc(_data(x), _data(y)))

    fn.__name__ = fn.__qualname__ = ufunc.__name__
    fn.__doc__ = doc
    return fn


def _unary(ufunc: np.ufunc, doc: str) -> Any:
    def fn(x: Any) -> Any:
        return _result(ufunc(_data(x)))

    fn.__name__ = fn.__qualname__ = ufunc.__name__
    fn.__doc__ = doc
    return fn


_EX2 = """{what}, elementwise and broadcasting; a bool tensor with no gradient.

    >>> import chainrule as cr
    >>> cr.{name}(cr.tensor([1.0, 2.0, 3.0]), 2.0)
    {out}
"""

equal = _binary(np.equal, _EX2.format(what="x == y", name="equal",
                out="tensor([False,  True, False])"))  # fmt: skip
not_equal = _binary(np.not_equal, _EX2.format(what="x != y", name="not_equal",
                    out="tensor([ True, False,  True])"))  # fmt: skip
less = _binary(np.less, _EX2.format(what="x < y", name="less",
               out="tensor([ True, False, False])"))  # fmt: skip
less_equal = _binary(np.less_equal, _EX2.format(what="x <= y", name="less_equal",
                     out="tensor([ True,  True, False])"))  # fmt: skip
greater = _binary(np.greater, _EX2.format(what="x > y", name="greater",
                  out="tensor([False, False,  True])"))  # fmt: skip
greater_equal = _binary(np.greater_equal, _EX2.format(what="x >= y", name="greater_equal",
                        out="tensor([False,  True,  True])"))  # fmt: skip

_EX1 = """{what}, elementwise; a bool tensor with no gradient.

    >>> import chainrule as cr
    >>> cr.{name}(cr.tensor([1.0, float("nan"), float("inf")]))
    {out}
"""

isnan = _unary(np.isnan, _EX1.format(what="x is NaN", name="isnan",
               out="tensor([False,  True, False])"))  # fmt: skip
isinf = _unary(np.isinf, _EX1.format(what="x is +inf or -inf", name="isinf",
               out="tensor([False, False,  True])"))  # fmt: skip
isfinite = _unary(np.isfinite, _EX1.format(what="x is neither NaN nor inf", name="isfinite",
                  out="tensor([ True, False, False])"))  # fmt: skip

_EXL = """{what}, elementwise (any nonzero is true); a bool tensor with no gradient.

    >>> import chainrule as cr
    >>> cr.{name}(cr.tensor([True, True, False]), cr.tensor([True, False, False]))
    {out}
"""

logical_and = _binary(np.logical_and, _EXL.format(what="x and y", name="logical_and",
                      out="tensor([ True, False, False])"))  # fmt: skip
logical_or = _binary(np.logical_or, _EXL.format(what="x or y", name="logical_or",
                     out="tensor([ True,  True, False])"))  # fmt: skip
logical_xor = _binary(np.logical_xor, _EXL.format(what="x xor y", name="logical_xor",
                      out="tensor([False,  True, False])"))  # fmt: skip


def logical_not(x: Any) -> Any:
    """not x, elementwise (zero is false); a bool tensor with no gradient.

    >>> import chainrule as cr
    >>> cr.logical_not(cr.tensor([True, False]))
    tensor([False,  True])
    """
    return _result(np.logical_not(_data(x)))


def _bits(op: str, *xs: Any) -> list[Any]:
    arrays = [_data(x) for x in xs]
    for a in arrays:
        if np.asarray(a).dtype.kind not in "biu":
            raise TypeError(
                f"{op}: needs bool or integer tensors, got dtype {np.asarray(a).dtype} "
                "(compare first, e.g. (x > 0) & (x < 1))"
            )
    return arrays


def bitwise_and(x: Any, y: Any) -> Any:
    """x & y: logical and on bool tensors, bitwise on integers; no gradient.

    >>> import chainrule as cr
    >>> x = cr.tensor([-1.0, 0.5, 2.0])
    >>> (x > 0) & (x < 1)
    tensor([False,  True, False])
    """
    a, b = _bits("&", x, y)
    return _result(np.bitwise_and(a, b))


def bitwise_or(x: Any, y: Any) -> Any:
    """x | y on bool or integer tensors; no gradient.

    >>> import chainrule as cr
    >>> cr.tensor([True, False]) | cr.tensor([False, False])
    tensor([ True, False])
    """
    a, b = _bits("|", x, y)
    return _result(np.bitwise_or(a, b))


def bitwise_xor(x: Any, y: Any) -> Any:
    """x ^ y on bool or integer tensors; no gradient.

    >>> import chainrule as cr
    >>> cr.tensor([True, False]) ^ cr.tensor([True, True])
    tensor([False,  True])
    """
    a, b = _bits("^", x, y)
    return _result(np.bitwise_xor(a, b))


def invert(x: Any) -> Any:
    """~x: not on bool tensors, bitwise not on integers; no gradient.

    >>> import chainrule as cr
    >>> ~cr.tensor([True, False])
    tensor([False,  True])
    """
    (a,) = _bits("~", x)
    return _result(np.invert(a))
