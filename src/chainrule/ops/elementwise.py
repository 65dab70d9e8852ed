"""Elementwise gates: exp, log, sqrt, abs, sin, cos, the lecture's activations, routers.

Each local gradient is a diagonal Jacobian, so backward is one elementwise product. The router
gates (relu, maximum, minimum, clip, where) send the upstream gradient down the branch that was
taken and an exact zero (np.where, never a multiply by a mask) down the other, so a NaN or inf
in the branch not taken cannot leak into the gradient (through the router itself: a NaN
that a gate's own backward makes, as sqrt's at 0, is that gate's).

Ties in maximum/minimum split the gradient evenly between the two inputs (both are "the max";
the halves add up to dout).

Every rule is written against the namespace of what it is handed (``xp``): NumPy or CuPy on
arrays, chainrule's differentiable namespace on Tensors under ``create_graph=True``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import backend
from chainrule.function import Function
from chainrule.ops import registry

_xp = backend.get_array_module
_data = backend.data_of


@registry.op(
    family="elementwise",
    function="exp",
    method="exp",
    label="exp",
    local="e^x",
    ufuncs=("exp",),
    unary=True,
    elementwise=True,
    rebuildable=True,
    expr="exp",
)
class Exp(Function):
    """out = e^x;  dx = dout * out"""

    __slots__ = ("out",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.out = _xp(x).exp(x)
        return self.out

    def backward(self, dout: Any) -> Any:
        return dout * self.out


@registry.op(
    family="elementwise",
    function="log",
    method="log",
    label="log",
    local="1/x",
    ufuncs=("log",),
    unary=True,
    elementwise=True,
    rebuildable=True,
    expr="log",
)
class Log(Function):
    """out = ln x;  dx = dout / x"""

    __slots__ = ("x",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.x = x
        return _xp(x).log(x)

    def backward(self, dout: Any) -> Any:
        return dout / self.x


@registry.op(
    family="elementwise",
    function="sqrt",
    method="sqrt",
    label="sqrt",
    local="1/(2 sqrt(x))",
    ufuncs=("sqrt",),
    unary=True,
    elementwise=True,
    rebuildable=True,
    expr="sqrt",
)
class Sqrt(Function):
    """out = sqrt(x);  dx = dout / (2 out)"""

    __slots__ = ("out",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.out = _xp(x).sqrt(x)
        return self.out

    def backward(self, dout: Any) -> Any:
        return dout / (2.0 * self.out)


@registry.op(
    family="elementwise",
    function="abs",
    method="abs",
    label="abs",
    local="sign(x)",
    ufuncs=("absolute",),
    unary=True,
    elementwise=True,
    rebuildable=True,
    expr="abs",
)
class Abs(Function):
    """out = |x|;  dx = dout * sign(x)  (0 at x = 0)"""

    __slots__ = ("x",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.x = x
        return _xp(x).abs(x)

    def backward(self, dout: Any) -> Any:
        return dout * _xp(dout).sign(self.x)


@registry.op(
    family="elementwise",
    function="sin",
    method="sin",
    label="sin",
    local="cos(x)",
    ufuncs=("sin",),
    unary=True,
    elementwise=True,
    rebuildable=True,
)
class Sin(Function):
    """out = sin x;  dx = dout * cos x"""

    __slots__ = ("x",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.x = x
        return _xp(x).sin(x)

    def backward(self, dout: Any) -> Any:
        return dout * _xp(dout).cos(self.x)


@registry.op(
    family="elementwise",
    function="cos",
    method="cos",
    label="cos",
    local="-sin(x)",
    ufuncs=("cos",),
    unary=True,
    elementwise=True,
    rebuildable=True,
)
class Cos(Function):
    """out = cos x;  dx = -dout * sin x"""

    __slots__ = ("x",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.x = x
        return _xp(x).cos(x)

    def backward(self, dout: Any) -> Any:
        return -dout * _xp(dout).sin(self.x)


@registry.op(
    family="elementwise",
    function="tanh",
    method="tanh",
    label="tanh",
    local="1 - tanh(x)^2",
    ufuncs=("tanh",),
    unary=True,
    elementwise=True,
    rebuildable=True,
    expr="tanh",
)
class Tanh(Function):
    """out = tanh x;  dx = dout * (1 - out^2)"""

    __slots__ = ("out",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.out = _xp(x).tanh(x)
        return self.out

    def backward(self, dout: Any) -> Any:
        # dout - (dout out) out: three array-array products, which NumPy runs faster on small
        # arrays than the textbook dout (1 - out^2) with its Python-scalar 1
        t = dout * self.out
        return dout - t * self.out


@registry.op(
    family="elementwise",
    function="sigmoid",
    method="sigmoid",
    label="sigmoid",
    local="(1 - sigmoid(x)) sigmoid(x)",
    unary=True,
    elementwise=True,
    rebuildable=True,
    expr="sigmoid",
)
class Sigmoid(Function):
    """out = 1 / (1 + e^-x);  dx = dout * out * (1 - out)  (the lecture's grouped sigmoid gate)"""

    __slots__ = ("out",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        # 0.5 (1 + tanh(x/2)) is the logistic function without overflow for large |x|
        out = 0.5 * (1.0 + _xp(x).tanh(0.5 * x))
        self.out = out
        return out

    def backward(self, dout: Any) -> Any:
        t = dout * self.out  # dout s (1 - s), as t - t s: no Python-scalar operand (see Tanh)
        return t - t * self.out


@registry.op(
    family="elementwise",
    function="relu",
    method="relu",
    label="relu",
    local="1 if x > 0 else 0",
    pattern="relu routes: the upstream passes where the input was positive, else 0",
    unary=True,
    elementwise=True,
    rebuildable=True,
    expr="relu",
)
class ReLU(Function):
    """out = max(0, x);  dx = dout where out > 0, else exactly 0  (routes)

    Backward multiplies by the mask (a branch-free pass, several times faster than
    ``np.where`` on a random mask) and falls back to ``where`` only when the product is not
    finite, so an inf or NaN upstream never leaks through a unit that was off. It keeps ``out``
    (which the next layer holds anyway) rather than a separate mask; the mask is a constant of
    a gradient's graph (relu's second derivative is 0 wherever it exists).
    """

    __slots__ = ("out",)
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        if type(x) is np.ndarray and x.size >= 4096 and x.dtype.kind == "f":
            # NumPy's maximum against a scalar 0 takes a slow loop (~25 us for 128x512 float32
            # here); against a row of zeros, broadcast, it is vectorized (~13 us)
            self.out = np.maximum(x, _zeros(x.shape[-1], x.dtype))
        else:
            self.out = _xp(x).maximum(x, 0)
        return self.out

    def backward(self, dout: Any) -> Any:
        on = self.out > 0
        if type(dout) is not np.ndarray or dout.size < 4096:  # small: one call beats two passes
            return _xp(dout).where(on, dout, 0)
        with np.errstate(invalid="ignore"):  # checked just below
            dx = np.multiply(dout, on, dtype=np.result_type(dout))
        if not np.isfinite(dx).all():  # inf * 0 = nan somewhere: route exactly instead
            dx = np.where(on, dout, 0).astype(np.result_type(dout), copy=False)
        return dx


_ZEROS: dict[tuple[int, np.dtype], np.ndarray] = {}


def _zeros(n: int, dtype: np.dtype) -> np.ndarray:
    """A cached read-only row of ``n`` zeros (bounded: the cache empties past 64 rows)."""
    z = _ZEROS.get((n, dtype))
    if z is None:
        if len(_ZEROS) >= 64:
            _ZEROS.clear()
        z = _ZEROS[(n, dtype)] = np.zeros(n, dtype)
        z.flags.writeable = False
    return z


@registry.op(
    family="elementwise",
    function="leaky_relu",
    method="leaky_relu",
    label="leaky_relu",
    local="1 if x > 0 else slope",
    unary=True,
    elementwise=True,
)
class LeakyReLU(Function):
    """out = x if x > 0 else slope x;  dx = dout if x > 0 else slope dout"""

    __slots__ = ("mask", "slope")
    differentiable_backward = True

    def forward(self, x: Any, slope: float = 0.01) -> Any:
        self.mask = x > 0
        self.slope = slope
        return _xp(x).where(self.mask, x, slope * x)

    def backward(self, dout: Any) -> Any:
        return _xp(dout).where(self.mask, dout, self.slope * dout)


@registry.op(
    family="elementwise",
    function="elu",
    method="elu",
    label="elu",
    local="1 if x > 0 else elu(x) + alpha",
    unary=True,
    elementwise=True,
)
class ELU(Function):
    """out = x if x > 0 else alpha (e^x - 1);  dx = dout if x > 0 else dout (out + alpha)"""

    __slots__ = ("alpha", "mask", "out")
    differentiable_backward = True

    def forward(self, x: Any, alpha: float = 1.0) -> Any:
        xp = _xp(x)
        self.mask = x > 0
        self.alpha = alpha
        # expm1 of min(x, 0): accurate near 0 and no overflow in the branch not taken
        self.out = xp.where(self.mask, x, alpha * xp.expm1(xp.minimum(x, 0)))
        return self.out

    def backward(self, dout: Any) -> Any:
        return _xp(dout).where(self.mask, dout, dout * (self.out + self.alpha))


def _route(first: Any, tie: Any, dout: Any) -> Any:
    """dout where ``first`` holds, half of it on a tie, exact zero elsewhere."""
    xp = _xp(dout)
    return xp.where(first, dout, xp.where(tie, 0.5 * dout, 0.0))


@registry.op(
    family="elementwise",
    function="maximum",
    method=None,
    label="max",
    local="max routes",
    ufuncs=("maximum",),
    pattern="max routes: the larger input gets the whole upstream, the other gets 0",
    elementwise=True,
    rebuildable=True,
    expr="max",
    arity=2,
)
class Maximum(Function):
    """out = max(x, y);  dx = dout where x > y,  dy = dout where y > x,  ties split dout evenly"""

    __slots__ = ("x", "y")
    differentiable_backward = True

    def forward(self, x: Any, y: Any) -> Any:
        self.x, self.y = x, y
        return _xp(x, y).maximum(x, y)

    def backward(self, dout: Any) -> tuple[Any, Any]:
        nx, ny = self.needs_input_grad
        x, y = _data(self.x), _data(self.y)  # masks: constants of the graph
        tie = x == y
        return (_route(x > y, tie, dout) if nx else None), (
            _route(y > x, tie, dout) if ny else None
        )


@registry.op(
    family="elementwise",
    function="minimum",
    method=None,
    label="min",
    local="min routes",
    ufuncs=("minimum",),
    pattern="min routes: the smaller input gets the whole upstream, the other gets 0",
    elementwise=True,
    rebuildable=True,
    expr="min",
    arity=2,
)
class Minimum(Function):
    """out = min(x, y);  dx = dout where x < y,  dy = dout where y < x,  ties split dout evenly"""

    __slots__ = ("x", "y")
    differentiable_backward = True

    def forward(self, x: Any, y: Any) -> Any:
        self.x, self.y = x, y
        return _xp(x, y).minimum(x, y)

    def backward(self, dout: Any) -> tuple[Any, Any]:
        nx, ny = self.needs_input_grad
        x, y = _data(self.x), _data(self.y)  # masks: constants of the graph
        tie = x == y
        return (_route(x < y, tie, dout) if nx else None), (
            _route(y < x, tie, dout) if ny else None
        )


@registry.op(
    family="elementwise",
    function="clip",
    method="clip",
    label="clip",
    local="1 inside the bounds, else 0",
    unary=True,
    elementwise=True,
)
class Clip(Function):
    """out = min(max(x, lo), hi);  dx = dout where lo <= x <= hi, else 0"""

    __slots__ = ("inside",)
    differentiable_backward = True

    def forward(self, x: Any, a_min: Any = None, a_max: Any = None) -> Any:
        xp = _xp(x)
        inside = xp.ones(xp.shape(x), dtype=bool)
        if a_min is not None:
            inside &= x >= a_min
        if a_max is not None:
            inside &= x <= a_max
        self.inside = inside
        return xp.clip(x, a_min, a_max)

    def backward(self, dout: Any) -> Any:
        return _xp(dout).where(self.inside, dout, 0.0)


@registry.op(
    family="elementwise",
    function="where",
    method=None,
    label="where",
    local="where routes",
    pattern="where routes: each element's upstream goes to the branch that was chosen",
    elementwise=True,
)
class Where(Function):
    """out = x where cond else y;  dx = dout where cond,  dy = dout where not cond (exact zeros)"""

    __slots__ = ("cond",)
    differentiable_backward = True

    def forward(self, cond: Any, x: Any, y: Any) -> Any:
        xp = _xp(cond, x, y)
        self.cond = xp.asarray(cond, dtype=bool)
        return xp.where(self.cond, x, y)

    def backward(self, dout: Any) -> tuple[Any, Any, Any]:
        _, nx, ny = self.needs_input_grad
        xp = _xp(dout)
        c = self.cond
        dx = xp.where(c, dout, 0.0) if nx else None
        dy = xp.where(c, 0.0, dout) if ny else None
        return None, dx, dy


@registry.op(
    family="elementwise",
    function=None,
    method="astype",
    label="cast",
    local="1",
    unary=True,
    elementwise=True,
)
class Cast(Function):
    """out = x as dtype;  dx = dout as x's dtype"""

    __slots__ = ("src",)
    differentiable_backward = True

    def forward(self, x: Any, dtype: Any = None) -> Any:
        self.src = x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype
        return x.astype(dtype) if hasattr(x, "astype") else np.asarray(x).astype(dtype)

    def backward(self, dout: Any) -> Any:
        return dout.astype(self.src)
