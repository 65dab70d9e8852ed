"""Elementwise gates: exp, log, sqrt, abs, sin, cos, the lecture's activations, routers.

Each local gradient is a diagonal Jacobian, so backward is one elementwise product. The router
gates (relu, maximum, minimum, clip, where) send the upstream gradient down the branch that was
taken and an exact zero (np.where, never a multiply by a mask) down the other, so a NaN or inf
in the branch not taken cannot leak into the gradient. Ties in maximum/minimum split the
gradient evenly between the two inputs (both are "the max"; the halves add up to dout).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.function import Function


class Exp(Function):
    """out = e^x;  dx = dout * out"""

    __slots__ = ("out",)

    def forward(self, x: Any) -> Any:
        self.out = np.exp(x)
        return self.out

    def backward(self, dout: np.ndarray) -> Any:
        return dout * self.out


class Log(Function):
    """out = ln x;  dx = dout / x"""

    __slots__ = ("x",)

    def forward(self, x: Any) -> Any:
        self.x = x
        return np.log(x)

    def backward(self, dout: np.ndarray) -> Any:
        return dout / self.x


class Sqrt(Function):
    """out = sqrt(x);  dx = dout / (2 out)"""

    __slots__ = ("out",)

    def forward(self, x: Any) -> Any:
        self.out = np.sqrt(x)
        return self.out

    def backward(self, dout: np.ndarray) -> Any:
        return dout / (2.0 * self.out)


class Abs(Function):
    """out = |x|;  dx = dout * sign(x)  (0 at x = 0)"""

    __slots__ = ("x",)

    def forward(self, x: Any) -> Any:
        self.x = x
        return np.abs(x)

    def backward(self, dout: np.ndarray) -> Any:
        return dout * np.sign(self.x)


class Sin(Function):
    """out = sin x;  dx = dout * cos x"""

    __slots__ = ("x",)

    def forward(self, x: Any) -> Any:
        self.x = x
        return np.sin(x)

    def backward(self, dout: np.ndarray) -> Any:
        return dout * np.cos(self.x)


class Cos(Function):
    """out = cos x;  dx = -dout * sin x"""

    __slots__ = ("x",)

    def forward(self, x: Any) -> Any:
        self.x = x
        return np.cos(x)

    def backward(self, dout: np.ndarray) -> Any:
        return -dout * np.sin(self.x)


class Tanh(Function):
    """out = tanh x;  dx = dout * (1 - out^2)"""

    __slots__ = ("out",)

    def forward(self, x: Any) -> Any:
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout: np.ndarray) -> Any:
        # dout - (dout out) out: three array-array products, which NumPy runs faster on small
        # arrays than the textbook dout (1 - out^2) with its Python-scalar 1
        t = dout * self.out
        return dout - t * self.out


class Sigmoid(Function):
    """out = 1 / (1 + e^-x);  dx = dout * out * (1 - out)  (the lecture's grouped sigmoid gate)"""

    __slots__ = ("out",)

    def forward(self, x: Any) -> Any:
        # 0.5 (1 + tanh(x/2)) is the logistic function without overflow for large |x|
        out = 0.5 * (1.0 + np.tanh(0.5 * x))
        self.out = out
        return out

    def backward(self, dout: np.ndarray) -> Any:
        t = dout * self.out  # dout s (1 - s), as t - t s: no Python-scalar operand (see Tanh)
        return t - t * self.out


class ReLU(Function):
    """out = max(0, x);  dx = dout where out > 0, else exactly 0  (routes)

    Backward multiplies by the mask (a branch-free pass, several times faster than
    ``np.where`` on a random mask) and falls back to ``np.where`` only when the product is not
    finite, so an inf or NaN upstream never leaks through a unit that was off. It keeps ``out``
    (which the next layer holds anyway) rather than a separate mask.
    """

    __slots__ = ("out",)

    def forward(self, x: Any) -> Any:
        if type(x) is np.ndarray and x.size >= 4096 and x.dtype.kind == "f":
            # NumPy's maximum against a scalar 0 takes a slow loop (~25 us for 128x512 float32
            # here); against a row of zeros, broadcast, it is vectorized (~13 us)
            self.out = np.maximum(x, _zeros(x.shape[-1], x.dtype))
        else:
            self.out = np.maximum(x, 0)
        return self.out

    def backward(self, dout: np.ndarray) -> Any:
        on = self.out > 0
        if dout.size < 4096:  # small: one call beats two passes
            return np.where(on, dout, 0)
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


class LeakyReLU(Function):
    """out = x if x > 0 else slope x;  dx = dout if x > 0 else slope dout"""

    __slots__ = ("mask", "slope")

    def forward(self, x: Any, slope: float = 0.01) -> Any:
        self.mask = x > 0
        self.slope = slope
        return np.where(self.mask, x, slope * x)

    def backward(self, dout: np.ndarray) -> Any:
        return np.where(self.mask, dout, self.slope * dout)


class ELU(Function):
    """out = x if x > 0 else alpha (e^x - 1);  dx = dout if x > 0 else dout (out + alpha)"""

    __slots__ = ("alpha", "mask", "out")

    def forward(self, x: Any, alpha: float = 1.0) -> Any:
        self.mask = x > 0
        self.alpha = alpha
        # expm1 of min(x, 0): accurate near 0 and no overflow in the branch not taken
        self.out = np.where(self.mask, x, alpha * np.expm1(np.minimum(x, 0)))
        return self.out

    def backward(self, dout: np.ndarray) -> Any:
        return np.where(self.mask, dout, dout * (self.out + self.alpha))


def _route(first: Any, tie: Any, dout: np.ndarray) -> np.ndarray:
    """dout where ``first`` holds, half of it on a tie, exact zero elsewhere."""
    return np.where(first, dout, np.where(tie, 0.5 * dout, 0.0)).astype(dout.dtype, copy=False)


class Maximum(Function):
    """out = max(x, y);  dx = dout where x > y,  dy = dout where y > x,  ties split dout evenly"""

    __slots__ = ("x", "y")

    def forward(self, x: Any, y: Any) -> Any:
        self.x, self.y = x, y
        return np.maximum(x, y)

    def backward(self, dout: np.ndarray) -> tuple[Any, Any]:
        nx, ny = self.needs_input_grad
        x, y = self.x, self.y
        tie = x == y
        return (_route(x > y, tie, dout) if nx else None), (
            _route(y > x, tie, dout) if ny else None
        )


class Minimum(Function):
    """out = min(x, y);  dx = dout where x < y,  dy = dout where y < x,  ties split dout evenly"""

    __slots__ = ("x", "y")

    def forward(self, x: Any, y: Any) -> Any:
        self.x, self.y = x, y
        return np.minimum(x, y)

    def backward(self, dout: np.ndarray) -> tuple[Any, Any]:
        nx, ny = self.needs_input_grad
        x, y = self.x, self.y
        tie = x == y
        return (_route(x < y, tie, dout) if nx else None), (
            _route(y < x, tie, dout) if ny else None
        )


class Clip(Function):
    """out = min(max(x, lo), hi);  dx = dout where lo <= x <= hi, else 0"""

    __slots__ = ("inside",)

    def forward(self, x: Any, a_min: Any = None, a_max: Any = None) -> Any:
        inside = np.ones(np.shape(x), dtype=bool)
        if a_min is not None:
            inside &= x >= a_min
        if a_max is not None:
            inside &= x <= a_max
        self.inside = inside
        return np.clip(x, a_min, a_max)

    def backward(self, dout: np.ndarray) -> Any:
        return np.where(self.inside, dout, 0.0).astype(dout.dtype, copy=False)


class Where(Function):
    """out = x where cond else y;  dx = dout where cond,  dy = dout where not cond (exact zeros)"""

    __slots__ = ("cond",)

    def forward(self, cond: Any, x: Any, y: Any) -> Any:
        self.cond = np.asarray(cond, dtype=bool)
        return np.where(self.cond, x, y)

    def backward(self, dout: np.ndarray) -> tuple[Any, Any, Any]:
        _, nx, ny = self.needs_input_grad
        c = self.cond
        dx = np.where(c, dout, 0.0).astype(dout.dtype, copy=False) if nx else None
        dy = np.where(c, 0.0, dout).astype(dout.dtype, copy=False) if ny else None
        return None, dx, dy


class Cast(Function):
    """out = x as dtype;  dx = dout as x's dtype"""

    __slots__ = ("src",)

    def forward(self, x: Any, dtype: Any = None) -> Any:
        self.src = np.asarray(x).dtype
        return np.asarray(x).astype(dtype)

    def backward(self, dout: np.ndarray) -> Any:
        return dout.astype(self.src)
