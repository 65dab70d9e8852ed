"""Arithmetic gates: + - * / neg and power.

The add gate distributes its upstream gradient unchanged; the mul gate swaps its inputs and
scales by them. Gradients come back in the output's (broadcast) shape; the engine sums them to
each input's shape. Every rule is written with operators and the namespace of what it is
handed, so under ``create_graph=True`` the same lines record the gradient's graph.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import backend
from chainrule.function import Function
from chainrule.ops import registry

_xp = backend.get_array_module


@registry.op(
    family="arithmetic",
    function="add",
    method="__add__",
    label="+",
    local="add distributes",
    ufuncs=("add",),
    symbol="+",
    pattern="add distributes: each input gets the upstream gradient unchanged",
    elementwise=True,
    rebuildable=True,
    arity=2,
)
class Add(Function):
    """out = x + y;  dx = dout,  dy = dout  (the distributor)"""

    __slots__ = ()
    differentiable_backward = True

    def forward(self, x: Any, y: Any) -> Any:
        return x + y

    def backward(self, dout: np.ndarray) -> tuple[Any, Any]:
        return dout, dout


@registry.op(
    family="arithmetic",
    function="subtract",
    method="__sub__",
    label="-",
    local="sub distributes",
    ufuncs=("subtract",),
    symbol="-",
    pattern="sub distributes: the first input gets the upstream, the second its negative",
    elementwise=True,
    rebuildable=True,
    arity=2,
)
class Sub(Function):
    """out = x - y;  dx = dout,  dy = -dout"""

    __slots__ = ()
    differentiable_backward = True

    def forward(self, x: Any, y: Any) -> Any:
        return x - y

    def backward(self, dout: np.ndarray) -> tuple[Any, Any]:
        return dout, (-dout if self.needs_input_grad[1] else None)


@registry.op(
    family="arithmetic",
    function="multiply",
    method="__mul__",
    label="*",
    local="mul swaps and scales",
    ufuncs=("multiply",),
    symbol="*",
    pattern="mul swaps and scales: each input gets the upstream times the other input",
    elementwise=True,
    rebuildable=True,
    arity=2,
)
class Mul(Function):
    """out = x * y;  dx = dout * y,  dy = dout * x  (swaps and scales)"""

    __slots__ = ("x", "y")
    differentiable_backward = True

    def forward(self, x: Any, y: Any) -> Any:
        self.x = x
        self.y = y
        return x * y

    def backward(self, dout: np.ndarray) -> tuple[Any, Any]:
        nx, ny = self.needs_input_grad
        return (dout * self.y if nx else None), (dout * self.x if ny else None)


@registry.op(
    family="arithmetic",
    function="divide",
    method="__truediv__",
    label="/",
    local="div",
    ufuncs=("divide", "true_divide"),
    symbol="/",
    pattern="div: the numerator gets upstream / y, the denominator upstream * (-x / y^2)",
    elementwise=True,
    rebuildable=True,
    arity=2,
)
class Div(Function):
    """out = x / y;  dx = dout / y,  dy = -dout * out / y"""

    __slots__ = ("out", "y")
    differentiable_backward = True

    def forward(self, x: Any, y: Any) -> Any:
        out = x / y
        self.y = y
        self.out = out
        return out

    def backward(self, dout: np.ndarray) -> tuple[Any, Any]:
        nx, ny = self.needs_input_grad
        dx = dout / self.y if nx else None
        dy = -dout * self.out / self.y if ny else None
        return dx, dy


@registry.op(
    family="arithmetic",
    function="negative",
    method="__neg__",
    label="*-1",
    local="-1",
    ufuncs=("negative",),
    unary=True,
    elementwise=True,
    rebuildable=True,
)
class Neg(Function):
    """out = -x;  dx = -dout"""

    __slots__ = ()
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        return -x

    def backward(self, dout: np.ndarray) -> Any:
        return -dout


@registry.op(
    family="arithmetic",
    function="power",
    method="__pow__",
    label="**",
    local="pow",
    ufuncs=("power",),
    symbol="**",
    pattern="pow: the base gets upstream * y x^(y-1), the exponent upstream * ln(x) x^y",
    elementwise=True,
    rebuildable=True,
    arity=2,
)
class Pow(Function):
    """out = x ** y;  dx = dout * y * x ** (y - 1),  dy = dout * out * log(x)

    At x = 0 the conventions are PyTorch's: dx = 0 where y = 0 (x ** 0 is the constant 1) and
    dy = 0 where y >= 0 (the limit of x^y log x as x -> 0+ is 0, and 0 ** 0 = 1 by convention).
    """

    __slots__ = ("out", "x", "y")
    differentiable_backward = True

    def forward(self, x: Any, y: Any) -> Any:
        out = _xp(x, y).power(x, y)
        self.x, self.y, self.out = x, y, out
        return out

    def backward(self, dout: Any) -> tuple[Any, Any]:
        nx, ny = self.needs_input_grad
        x, y = self.x, self.y
        xp = _xp(dout)
        x0, y0 = backend.data_of(x), backend.data_of(y)  # masks: constants of the graph
        dx = dy = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if nx:
                dx = dout * y * x ** (y - 1)
                if not (isinstance(y0, float | int | np.generic) and y0 != 0):
                    # 0 * 0 ** -1 is nan: x ** 0 is the constant 1 (a nonzero scalar exponent,
                    # the common x ** 2, has nothing to mask)
                    dx = xp.where((x0 == 0) & (y0 == 0), 0.0, dx)
            if ny:
                dy = xp.where((x0 == 0) & (y0 >= 0), 0.0, dout * self.out * xp.log(x))
        return dx, dy
