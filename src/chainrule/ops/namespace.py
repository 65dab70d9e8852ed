"""chainrule's differentiable array namespace: NumPy's names, acting on Tensors.

A Tensor's ``__array_namespace__`` returns this module, so a backward rule that asks for the
namespace of what it is handed (``xp = backend.get_array_module(dout)``) gets NumPy or CuPy on
arrays (the fast path) and this module on Tensors (``create_graph=True``), where every call
records a node and the gradient gets a graph of its own. Functions without a derivative
(``sign``, comparisons, ``zeros_like``) return constants of the input's own backend.

>>> import chainrule as cr
>>> from chainrule.ops import namespace as xp
>>> x = cr.tensor([-1.0, 2.0], requires_grad=True)
>>> xp.where(xp.sign(x) > 0, xp.exp(x), 0.0).requires_grad
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule import backend
from chainrule.ops import (
    abs,
    add,
    broadcast_to,
    clip,
    concatenate,
    cos,
    divide,
    exp,
    expand_dims,
    log,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    multiply,
    negative,
    power,
    reshape,
    sigmoid,
    sin,
    softmax,
    sqrt,
    squeeze,
    stack,
    subtract,
    sum,
    tanh,
    transpose,
    where,
)

__all__ = [
    "abs",
    "add",
    "broadcast_to",
    "clip",
    "concatenate",
    "cos",
    "divide",
    "exp",
    "expand_dims",
    "log",
    "log_softmax",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "multiply",
    "negative",
    "power",
    "reshape",
    "sigmoid",
    "sin",
    "softmax",
    "sqrt",
    "squeeze",
    "stack",
    "subtract",
    "sum",
    "tanh",
    "transpose",
    "where",
]


def _constant(name: str) -> Callable[..., Any]:
    """A function with no derivative: computed on the values' own backend, as a constant."""

    def call(*args: Any, **kwargs: Any) -> Any:
        arrays = [backend.data_of(a) for a in args]
        return getattr(backend.get_array_module(*arrays), name)(*arrays, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"``{name}`` of the values' data: no derivative, so a constant of the graph."
    return call


_CONSTANTS = (
    "sign",
    "isfinite",
    "isnan",
    "isinf",
    "zeros_like",
    "ones_like",
    "full_like",
    "equal",
    "not_equal",
    "greater",
    "greater_equal",
    "less",
    "less_equal",
    "logical_and",
    "logical_or",
    "logical_not",
    "floor",
    "ceil",
    "round",
)
for _name in _CONSTANTS:
    globals()[_name] = _constant(_name)
    __all__.append(_name)
del _name
