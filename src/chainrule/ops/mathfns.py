"""Elementwise maths beyond the lecture's: trigonometry and its inverses, hyperbolic functions,
logarithms and exponentials in other bases, rounding, ``%`` and ``//``, logaddexp and erf.

Every gate's local gradient is diagonal, so backward is one elementwise product written against
the array namespace it is handed (``xp``), from the cached inputs and output only. The rounding
functions (sign, floor, ceil, round, trunc) and ``//`` are piecewise constant: their gradient is
0 wherever it is defined (PyTorch's convention, also at the jumps).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.function import Function
from chainrule.ops import _args

_xp = backend.get_array_module
_SQRT_PI = math.sqrt(math.pi)
_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
erf_values = np.frompyfunc(math.erf, 1, 1)  # math.erf on each element (NumPy has no erf)


@_args.register(
    function="tan",
    method=None,
    ufunc="tan",
    family="elementwise",
    label="tan",
    local="1 + tan^2 x",
    rebuildable=True,
)
class Tan(Function):
    """out = tan x;  dx = dout * (1 + out^2)"""

    __slots__ = ("out",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.out = _xp(x).tan(x)
        return self.out

    def backward(self, dout: Any) -> Any:
        return dout + dout * self.out * self.out


@_args.register(
    function="arcsin",
    method=None,
    ufunc="arcsin",
    family="elementwise",
    label="arcsin",
    local="1/sqrt(1-x^2)",
    rebuildable=True,
)
class Arcsin(Function):
    """out = arcsin x;  dx = dout / sqrt(1 - x^2)"""

    __slots__ = ("x",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.x = x
        return _xp(x).arcsin(x)

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        return dout / xp.sqrt(1.0 - self.x * self.x)


@_args.register(
    function="arccos",
    method=None,
    ufunc="arccos",
    family="elementwise",
    label="arccos",
    local="-1/sqrt(1-x^2)",
    rebuildable=True,
)
class Arccos(Function):
    """out = arccos x;  dx = -dout / sqrt(1 - x^2)"""

    __slots__ = ("x",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.x = x
        return _xp(x).arccos(x)

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        return -dout / xp.sqrt(1.0 - self.x * self.x)


@_args.register(
    function="arctan",
    method=None,
    ufunc="arctan",
    family="elementwise",
    label="arctan",
    local="1/(1+x^2)",
    rebuildable=True,
)
class Arctan(Function):
    """out = arctan x;  dx = dout / (1 + x^2)"""

    __slots__ = ("x",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.x = x
        return _xp(x).arctan(x)

    def backward(self, dout: Any) -> Any:
        return dout / (1.0 + self.x * self.x)


@_args.register(
    function="arctan2",
    method=None,
    ufunc="arctan2",
    arity=2,
    family="elementwise",
    label="arctan2",
    local="(x, -y) / r^2",
    rebuildable=True,
)
class Arctan2(Function):
    """out = arctan2(y, x);  dy = dout * x / (x^2 + y^2),  dx = -dout * y / (x^2 + y^2)"""

    __slots__ = ("x", "y")
    differentiable_backward = True

    def forward(self, y: Any, x: Any) -> Any:
        self.y, self.x = y, x
        return _xp(x).arctan2(y, x)

    def backward(self, dout: Any) -> Any:
        g = dout / (self.x * self.x + self.y * self.y)
        return g * self.x, -g * self.y


@_args.register(
    function="sinh",
    method=None,
    ufunc="sinh",
    family="elementwise",
    label="sinh",
    local="cosh x",
    rebuildable=True,
)
class Sinh(Function):
    """out = sinh x;  dx = dout * cosh x"""

    __slots__ = ("x",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.x = x
        return _xp(x).sinh(x)

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        return dout * _args.fn(xp, "cosh")(self.x)


@_args.register(
    function="cosh",
    method=None,
    ufunc="cosh",
    family="elementwise",
    label="cosh",
    local="sinh x",
    rebuildable=True,
)
class Cosh(Function):
    """out = cosh x;  dx = dout * sinh x"""

    __slots__ = ("x",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.x = x
        return _xp(x).cosh(x)

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        return dout * _args.fn(xp, "sinh")(self.x)


@_args.register(
    function="arcsinh",
    method=None,
    ufunc="arcsinh",
    family="elementwise",
    label="arcsinh",
    local="1/sqrt(x^2+1)",
    rebuildable=True,
)
class Arcsinh(Function):
    """out = arcsinh x;  dx = dout / sqrt(x^2 + 1)"""

    __slots__ = ("x",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.x = x
        return _xp(x).arcsinh(x)

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        return dout / xp.sqrt(self.x * self.x + 1.0)


@_args.register(
    function="arccosh",
    method=None,
    ufunc="arccosh",
    family="elementwise",
    label="arccosh",
    local="1/sqrt(x^2-1)",
    rebuildable=True,
)
class Arccosh(Function):
    """out = arccosh x;  dx = dout / sqrt(x^2 - 1)"""

    __slots__ = ("x",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.x = x
        return _xp(x).arccosh(x)

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        return dout / xp.sqrt(self.x * self.x - 1.0)


@_args.register(
    function="arctanh",
    method=None,
    ufunc="arctanh",
    family="elementwise",
    label="arctanh",
    local="1/(1-x^2)",
    rebuildable=True,
)
class Arctanh(Function):
    """out = arctanh x;  dx = dout / (1 - x^2)"""

    __slots__ = ("x",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.x = x
        return _xp(x).arctanh(x)

    def backward(self, dout: Any) -> Any:
        return dout / (1.0 - self.x * self.x)


@_args.register(
    function="log2",
    method=None,
    ufunc="log2",
    family="elementwise",
    label="log2",
    local="1/(x ln 2)",
    rebuildable=True,
)
class Log2(Function):
    """out = log2 x;  dx = dout / (x ln 2)"""

    __slots__ = ("x",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.x = x
        return _xp(x).log2(x)

    def backward(self, dout: Any) -> Any:
        return dout / (self.x * _LN2)


@_args.register(
    function="log10",
    method=None,
    ufunc="log10",
    family="elementwise",
    label="log10",
    local="1/(x ln 10)",
    rebuildable=True,
)
class Log10(Function):
    """out = log10 x;  dx = dout / (x ln 10)"""

    __slots__ = ("x",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.x = x
        return _xp(x).log10(x)

    def backward(self, dout: Any) -> Any:
        return dout / (self.x * _LN10)


@_args.register(
    function="log1p",
    method=None,
    ufunc="log1p",
    family="elementwise",
    label="log1p",
    local="1/(1+x)",
    rebuildable=True,
)
class Log1p(Function):
    """out = ln(1 + x);  dx = dout / (1 + x)"""

    __slots__ = ("x",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.x = x
        return _xp(x).log1p(x)

    def backward(self, dout: Any) -> Any:
        return dout / (1.0 + self.x)


@_args.register(
    function="expm1",
    method=None,
    ufunc="expm1",
    family="elementwise",
    label="expm1",
    local="e^x",
    rebuildable=True,
)
class Expm1(Function):
    """out = e^x - 1;  dx = dout * e^x"""

    __slots__ = ("x",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.x = x
        return _xp(x).expm1(x)

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        return dout * xp.exp(self.x)


@_args.register(
    function="exp2",
    method=None,
    ufunc="exp2",
    family="elementwise",
    label="exp2",
    local="2^x ln 2",
    rebuildable=True,
)
class Exp2(Function):
    """out = 2^x;  dx = dout * out * ln 2"""

    __slots__ = ("out",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.out = _xp(x).exp2(x)
        return self.out

    def backward(self, dout: Any) -> Any:
        return dout * self.out * _LN2


@_args.register(
    function="square",
    method=None,
    ufunc="square",
    family="elementwise",
    label="x^2",
    local="2x",
    rebuildable=True,
)
class Square(Function):
    """out = x^2;  dx = dout * 2x"""

    __slots__ = ("x",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.x = x
        return _xp(x).square(x)

    def backward(self, dout: Any) -> Any:
        return dout * (self.x + self.x)


@_args.register(
    function="reciprocal",
    method=None,
    ufunc="reciprocal",
    family="elementwise",
    label="1/x",
    local="-1/x^2",
    rebuildable=True,
)
class Reciprocal(Function):
    """out = 1 / x;  dx = -dout * out^2"""

    __slots__ = ("out",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.out = _xp(x).reciprocal(x)
        return self.out

    def backward(self, dout: Any) -> Any:
        return -dout * self.out * self.out


class _Rounding:
    """The rule of the step functions (mixed into each gate): out = step(x);  dx = 0"""

    __slots__ = ()
    differentiable_backward = True
    numpy_name = ""

    def forward(self, x: Any) -> Any:
        return getattr(_xp(x), self.numpy_name)(x)

    def backward(self, dout: Any) -> Any:
        return dout * 0.0


def _rounding_facts(name: str, method: str | None = None) -> Any:
    return _args.register(
        function=name,
        method=method,
        ufunc=name if name != "round" else None,
        family="elementwise",
        label=name,
        local="0 (steps)",
        rebuildable=True,
    )


@_rounding_facts("sign")
class Sign(_Rounding, Function):
    """out = sign x;  dx = 0"""

    numpy_name = "sign"


@_rounding_facts("floor")
class Floor(_Rounding, Function):
    """out = floor x;  dx = 0"""

    numpy_name = "floor"


@_rounding_facts("ceil")
class Ceil(_Rounding, Function):
    """out = ceil x;  dx = 0"""

    numpy_name = "ceil"


@_rounding_facts("round", "round")
class Round(_Rounding, Function):
    """out = round x (halves to even);  dx = 0"""

    numpy_name = "round"


@_rounding_facts("trunc")
class Trunc(_Rounding, Function):
    """out = trunc x;  dx = 0"""

    numpy_name = "trunc"


@_args.register(
    function="mod",
    method=None,
    ufunc="remainder",
    arity=2,
    family="arithmetic",
    label="%",
    local="1, -floor(x/y)",
    rebuildable=True,
)
class Mod(Function):
    """out = x % y (sign of y, as NumPy);  dx = dout,  dy = -dout * floor(x / y)"""

    __slots__ = ("x", "y")
    differentiable_backward = True

    def forward(self, x: Any, y: Any) -> Any:
        self.x, self.y = x, y
        return _xp(x).mod(x, y)

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        return dout, -dout * xp.floor(self.x / self.y)  # floor: a constant


@_args.register(
    function="floor_divide",
    method=None,
    ufunc="floor_divide",
    arity=2,
    family="arithmetic",
    label="//",
    local="0 (steps)",
    rebuildable=True,
)
class FloorDivide(Function):
    """out = x // y;  dx = dy = 0  (piecewise constant)"""

    __slots__ = ()
    differentiable_backward = True

    def forward(self, x: Any, y: Any) -> Any:
        return _xp(x).floor_divide(x, y)

    def backward(self, dout: Any) -> Any:
        return dout * 0.0, dout * 0.0


@_args.register(
    function="logaddexp",
    method=None,
    ufunc="logaddexp",
    arity=2,
    family="elementwise",
    label="logaddexp",
    local="softmax of (x, y)",
    rebuildable=True,
)
class LogAddExp(Function):
    """out = ln(e^x + e^y);  dx = dout * e^(x - out),  dy = dout * e^(y - out)"""

    __slots__ = ("out", "x", "y")
    differentiable_backward = True

    def forward(self, x: Any, y: Any) -> Any:
        self.x, self.y = x, y
        self.out = _xp(x).logaddexp(x, y)
        return self.out

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        return dout * xp.exp(self.x - self.out), dout * xp.exp(self.y - self.out)


@_args.register(
    function="erf",
    method=None,
    ufunc=None,
    family="elementwise",
    label="erf",
    local="2/sqrt(pi) e^-x^2",
    rebuildable=True,
)
class Erf(Function):
    """out = erf x;  dx = dout * 2/sqrt(pi) e^(-x^2)"""

    __slots__ = ("x",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.x = x
        x = np.asarray(x)  # math.erf, element by element: NumPy has no erf ufunc
        return np.asarray(erf_values(x), dtype=x.dtype if x.dtype.kind == "f" else np.float64)

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        return dout * xp.exp(-(self.x * self.x)) * (2.0 / _SQRT_PI)


ALL = (
    Tan,
    Arcsin,
    Arccos,
    Arctan,
    Arctan2,
    Sinh,
    Cosh,
    Arcsinh,
    Arccosh,
    Arctanh,
    Log2,
    Log10,
    Log1p,
    Expm1,
    Exp2,
    Square,
    Reciprocal,
    Sign,
    Floor,
    Ceil,
    Round,
    Trunc,
    Mod,
    FloorDivide,
    LogAddExp,
    Erf,
)


def _example(name: str, arg: str, out: str) -> str:
    return f"    >>> import chainrule as cr\n    >>> cr.{name}(cr.tensor({arg}))\n    {out}\n"


def _unary(cls: type[Function], arg: str, out: str) -> Any:
    name = cls.facts.function  # type: ignore[attr-defined]
    example = _example(name, arg, out)

    def fn(x: Any) -> Any:
        return cls.apply(_args.tensor(x))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"{cls.__doc__}, elementwise (numpy.{name}).\n\n{example}"
    return fn


tan = _unary(Tan, "[0.0, 0.5]", "tensor([0.    , 0.5463])")
arcsin = _unary(Arcsin, "[0.0, 1.0]", "tensor([0.    , 1.5708])")
arccos = _unary(Arccos, "[1.0, 0.0]", "tensor([0.    , 1.5708])")
arctan = _unary(Arctan, "[0.0, 1.0]", "tensor([0.    , 0.7854])")
sinh = _unary(Sinh, "[0.0, 1.0]", "tensor([0.    , 1.1752])")
cosh = _unary(Cosh, "[0.0, 1.0]", "tensor([1.    , 1.5431])")
arcsinh = _unary(Arcsinh, "[0.0, 1.0]", "tensor([0.    , 0.8814])")
arccosh = _unary(Arccosh, "[1.0, 2.0]", "tensor([0.   , 1.317])")
arctanh = _unary(Arctanh, "[0.0, 0.5]", "tensor([0.    , 0.5493])")
log2 = _unary(Log2, "[1.0, 8.0]", "tensor([0., 3.])")
log10 = _unary(Log10, "[1.0, 100.0]", "tensor([0., 2.])")
log1p = _unary(Log1p, "[0.0, 1.0]", "tensor([0.    , 0.6931])")
expm1 = _unary(Expm1, "[0.0, 1.0]", "tensor([0.    , 1.7183])")
exp2 = _unary(Exp2, "[0.0, 3.0]", "tensor([1., 8.])")
square = _unary(Square, "[-2.0, 3.0]", "tensor([4., 9.])")
reciprocal = _unary(Reciprocal, "[2.0, 4.0]", "tensor([0.5 , 0.25])")
erf = _unary(Erf, "[0.0, 1.0]", "tensor([0.    , 0.8427])")


def _rounding(cls: Any, arg: str, out: str) -> Any:
    name = cls.numpy_name
    example = _example(name, arg, out)

    def fn(x: Any) -> Any:
        return cls.apply(_args.tensor(x))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (
        f"numpy.{name}, elementwise; its gradient is 0 (piecewise constant; round halves to "
        f"even, as NumPy).\n\n{example}"
    )
    return fn


sign = _rounding(Sign, "[-2.0, 0.0, 3.0]", "tensor([-1.,  0.,  1.])")
floor = _rounding(Floor, "[-1.5, 1.5]", "tensor([-2.,  1.])")
ceil = _rounding(Ceil, "[-1.5, 1.5]", "tensor([-1.,  2.])")
round = _rounding(Round, "[0.5, 1.5, 2.7]", "tensor([0., 2., 3.])")  # noqa: A001
trunc = _rounding(Trunc, "[-1.5, 1.5]", "tensor([-1.,  1.])")


def arctan2(y: Any, x: Any) -> Any:
    """The angle of the point (x, y), elementwise and broadcasting (numpy.arctan2).

    >>> import chainrule as cr
    >>> cr.arctan2(cr.tensor([1.0, 0.0]), cr.tensor([0.0, -1.0]))
    tensor([1.5708, 3.1416])
    """
    return Arctan2.apply(*_args.pair(y, x))


def mod(x: Any, y: Any) -> Any:
    """x % y with the sign of y, as numpy.mod; dx = 1, dy = -floor(x / y).

    >>> import chainrule as cr
    >>> cr.mod(cr.tensor([5.0, -5.0]), 3.0)
    tensor([2., 1.])
    """
    return Mod.apply(*_args.pair(x, y))


def floor_divide(x: Any, y: Any) -> Any:
    """x // y, as numpy.floor_divide; its gradient is 0 (piecewise constant).

    >>> import chainrule as cr
    >>> cr.floor_divide(cr.tensor([5.0, -5.0]), 3.0)
    tensor([ 1., -2.])
    """
    return FloorDivide.apply(*_args.pair(x, y))


def logaddexp(x: Any, y: Any) -> Any:
    """ln(e^x + e^y) without overflow, as numpy.logaddexp.

    >>> import chainrule as cr
    >>> cr.logaddexp(cr.tensor([1000.0]), cr.tensor([1000.0]))
    tensor([1000.6932])
    """
    return LogAddExp.apply(*_args.pair(x, y))
