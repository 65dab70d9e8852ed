"""Arithmetic gates: + - * / neg and power.

The add gate distributes its upstream gradient unchanged; the mul gate swaps its inputs and
scales by them. Gradients come back in the output's (broadcast) shape; the engine sums them to
each input's shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.function import Function


class Add(Function):
    """out = x + y;  dx = dout,  dy = dout  (the distributor)"""

    __slots__ = ()

    def forward(self, x: Any, y: Any) -> Any:
        return x + y

    def backward(self, dout: np.ndarray) -> tuple[Any, Any]:
        return dout, dout


class Sub(Function):
    """out = x - y;  dx = dout,  dy = -dout"""

    __slots__ = ()

    def forward(self, x: Any, y: Any) -> Any:
        return x - y

    def backward(self, dout: np.ndarray) -> tuple[Any, Any]:
        return dout, (-dout if self.needs_input_grad[1] else None)


class Mul(Function):
    """out = x * y;  dx = dout * y,  dy = dout * x  (swaps and scales)"""

    __slots__ = ("x", "y")

    def forward(self, x: Any, y: Any) -> Any:
        self.x = x
        self.y = y
        return x * y

    def backward(self, dout: np.ndarray) -> tuple[Any, Any]:
        nx, ny = self.needs_input_grad
        return (dout * self.y if nx else None), (dout * self.x if ny else None)


class Div(Function):
    """out = x / y;  dx = dout / y,  dy = -dout * out / y"""

    __slots__ = ("out", "y")

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


class Neg(Function):
    """out = -x;  dx = -dout"""

    __slots__ = ()

    def forward(self, x: Any) -> Any:
        return -x

    def backward(self, dout: np.ndarray) -> Any:
        return -dout


class Pow(Function):
    """out = x ** y;  dx = dout * y * x ** (y - 1),  dy = dout * out * log(x)"""

    __slots__ = ("out", "x", "y")

    def forward(self, x: Any, y: Any) -> Any:
        out = np.power(x, y)
        self.x, self.y, self.out = x, y, out
        return out

    def backward(self, dout: np.ndarray) -> tuple[Any, Any]:
        nx, ny = self.needs_input_grad
        x, y = self.x, self.y
        dx = dout * y * np.power(x, y - 1) if nx else None
        dy = None
        if ny:
            # d/dy x^y = x^y log x; where out == 0 (x = 0, y > 0) the limit is 0, not 0 * -inf
            with np.errstate(divide="ignore", invalid="ignore"):
                dy = np.where(self.out == 0, 0.0, dout * self.out * np.log(x))
        return dx, dy
