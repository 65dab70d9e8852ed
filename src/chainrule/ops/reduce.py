"""Reductions over axes: sum, mean, var, std, max, min, and the softmax family.

A reduction's backward first restores the reduced axes (``_expand``) so the upstream gradient
broadcasts back over the input. max and min route the gradient to the maxima; when several
elements tie for the max, it is split evenly between them (as ``maximum`` does for two inputs).
softmax, log_softmax and logsumexp subtract the max first, so logits of +-1e4 stay finite.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import backend
from chainrule.function import Function
from chainrule.ops import registry

_xp = backend.get_array_module
AxisError = np.exceptions.AxisError


def _axes(axis: Any, ndim: int, op: str = "reduction") -> tuple[int, ...]:
    """The reduced axes, normalized; NumPy's AxisError (a ValueError and an IndexError) naming
    the op, the axis and the rank otherwise. A 0-d input accepts axis 0 and -1, as NumPy does."""
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple | list) else (axis,)
    out = []
    for a in axes:
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise AxisError(
                f"{op}: axis {a} is out of bounds for an input with {ndim} dimensions "
                f"(valid: {-max(ndim, 1)} to {max(ndim, 1) - 1})"
            )
        if ndim:
            out.append(a % ndim)
    return tuple(out)


def _expand(dout: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    """Put back the reduced axes as size 1, so dout broadcasts over the input."""
    return dout if keepdims or not axes else _xp(dout).expand_dims(dout, axes)


def _count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    n = 1
    for a in axes:
        n *= shape[a]
    return n


def _denominator(op: str, shape: tuple[int, ...], axes: tuple[int, ...], ddof: int) -> int:
    """N - ddof for var/std, refusing ddof >= N (NumPy would warn and return inf or nan)."""
    n = _count(shape, axes)
    if n - ddof <= 0:
        raise ValueError(
            f"{op}: ddof={ddof} leaves no degrees of freedom for {n} element(s) per slice "
            f"(input shape {shape}, axes {axes}); ddof must be less than {n}"
        )
    return n - ddof


@registry.op(
    family="reduce",
    function="sum",
    method="sum",
    label="sum",
    local="1 for every element (the upstream is copied to each)",
    pattern="sum distributes (like add): every element gets the upstream",
    expr="sum",
)
class Sum(Function):
    """out = sum(x, axis);  dx = dout broadcast back over the summed axes"""

    __slots__ = ("axes", "keepdims", "shape")
    differentiable_backward = True

    def forward(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        self.shape, self.axes, self.keepdims = x.shape, _axes(axis, x.ndim, "sum"), keepdims
        return x.sum(axis=self.axes, keepdims=keepdims)

    def backward(self, dout: Any) -> Any:
        return _xp(dout).broadcast_to(_expand(dout, self.axes, self.keepdims), self.shape)


@registry.op(
    family="reduce",
    function="mean",
    method="mean",
    label="mean",
    local="1/N for every element (N the number averaged)",
    pattern="mean distributes: every element gets the upstream / N",
    expr="mean",
)
class Mean(Function):
    """out = mean(x, axis);  dx = dout / N broadcast back (N the count of averaged elements)"""

    __slots__ = ("axes", "keepdims", "shape")
    differentiable_backward = True

    def forward(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        self.shape, self.axes, self.keepdims = x.shape, _axes(axis, x.ndim, "mean"), keepdims
        return x.mean(axis=self.axes, keepdims=keepdims)

    def backward(self, dout: Any) -> Any:
        n = _count(self.shape, self.axes)
        return _xp(dout).broadcast_to(_expand(dout, self.axes, self.keepdims) / n, self.shape)


@registry.op(
    family="reduce",
    function="var",
    method="var",
    label="var",
    local="2 (x - mean) / N",
    pattern="var: each element gets the upstream times 2 (x - mean) / N",
)
class Var(Function):
    """out = mean((x - mu)^2) * N / (N - ddof);  dx = dout * 2 (x - mu) / (N - ddof)"""

    __slots__ = ("axes", "denom", "keepdims", "x")
    differentiable_backward = True

    def forward(self, x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Any:
        axes = _axes(axis, x.ndim, type(self).__name__.lower())
        self.denom = _denominator(type(self).__name__, x.shape, axes, ddof)
        self.x, self.axes, self.keepdims = x, axes, keepdims
        return x.var(axis=axes, keepdims=keepdims, ddof=ddof)

    def backward(self, dout: Any) -> Any:
        x = self.x
        centered = x - x.mean(axis=self.axes, keepdims=True)
        return _expand(dout, self.axes, self.keepdims) * (2.0 / self.denom) * centered


@registry.op(
    family="reduce",
    function="std",
    method="std",
    label="std",
    local="(x - mean) / (N std)",
    pattern="std: each element gets the upstream times (x - mean) / (N std)",
)
class Std(Function):
    """out = sqrt(var(x));  dx = dout * (x - mu) / ((N - ddof) out)  (0 where out = 0)"""

    __slots__ = ("axes", "denom", "keepdims", "out", "x")
    differentiable_backward = True

    def forward(self, x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Any:
        axes = _axes(axis, x.ndim, "std")
        self.denom = _denominator(type(self).__name__, x.shape, axes, ddof)
        self.x, self.axes, self.keepdims = x, axes, keepdims
        self.out = x.std(axis=axes, keepdims=keepdims, ddof=ddof)
        return self.out

    def backward(self, dout: Any) -> Any:
        xp = _xp(dout)
        x = self.x
        centered = x - x.mean(axis=self.axes, keepdims=True)
        out = _expand(self.out, self.axes, self.keepdims)
        zero = backend.data_of(out) == 0
        # divide by 1 where std = 0 (the safe-where pattern: a masked 0/0 would still make the
        # gradient of the gradient nan), then route those elements to 0
        safe = xp.where(zero, 1.0, out)
        dx = _expand(dout, self.axes, self.keepdims) * centered / (self.denom * safe)
        return xp.where(zero, 0.0, dx)


@registry.op(
    family="reduce",
    function="max",
    method="max",
    label="max",
    local="1 at the maximum, 0 elsewhere (ties share)",
    pattern="max routes: the maximum element gets the upstream, the others 0",
)
class Max(Function):
    """out = max(x, axis);  dx = dout / k at each of the k maxima, 0 elsewhere (routes)"""

    __slots__ = ("axes", "keepdims", "route")
    differentiable_backward = True
    _reduce = "max"

    def forward(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        xp = _xp(x)
        axes = _axes(axis, x.ndim, self._reduce)
        if x.size == 0:
            raise ValueError(f"{type(self).__name__}: reduction of an empty array")
        out = getattr(xp, self._reduce)(x, axis=axes, keepdims=True)
        hit = x == out
        # 1/k at the k winners; a NaN slice has no winner (and no 0/0 warning): zero gradient
        self.route = hit / xp.maximum(hit.sum(axis=axes, keepdims=True), 1)
        self.axes, self.keepdims = axes, keepdims
        return out if keepdims else xp.squeeze(out, axis=axes)

    def backward(self, dout: Any) -> Any:
        d = _expand(dout, self.axes, self.keepdims)
        return _xp(dout).where(self.route > 0, d * self.route, 0.0)


@registry.op(
    family="reduce",
    function="min",
    method="min",
    label="min",
    local="1 at the minimum, 0 elsewhere (ties share)",
    pattern="min routes: the minimum element gets the upstream, the others 0",
)
class Min(Max):
    """out = min(x, axis);  dx = dout / k at each of the k minima, 0 elsewhere (routes)"""

    __slots__ = ()
    _reduce = "min"


@registry.op(
    family="reduce",
    function="softmax",
    method="softmax",
    label="softmax",
    local="the softmax Jacobian diag(s) - s s^T, applied row by row",
    pattern="softmax couples each row: every input gets s * (upstream - sum(upstream * s))",
)
class Softmax(Function):
    """out = e^(x - max) / sum e^(x - max);  dx = out * (dout - sum(dout * out))"""

    __slots__ = ("axis", "out")
    differentiable_backward = True

    def forward(self, x: Any, axis: int = -1) -> Any:
        xp = _xp(x)
        e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
        self.out = e / e.sum(axis=axis, keepdims=True)
        self.axis = axis
        return self.out

    def backward(self, dout: Any) -> Any:
        out = self.out
        return out * (dout - (dout * out).sum(axis=self.axis, keepdims=True))


@registry.op(
    family="reduce",
    function="log_softmax",
    method="log_softmax",
    label="logsoftmax",
    local="I - softmax(x), applied row by row",
    pattern="log-softmax couples each row: upstream - softmax * sum(upstream)",
)
class LogSoftmax(Function):
    """out = x - logsumexp(x);  dx = dout - softmax(x) * sum(dout)"""

    __slots__ = ("axis", "out")
    differentiable_backward = True

    def forward(self, x: Any, axis: int = -1) -> Any:
        xp = _xp(x)
        shifted = x - xp.max(x, axis=axis, keepdims=True)
        self.out = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        self.axis = axis
        return self.out

    def backward(self, dout: Any) -> Any:
        return dout - _xp(dout).exp(self.out) * dout.sum(axis=self.axis, keepdims=True)


@registry.op(
    family="reduce",
    function="logsumexp",
    method="logsumexp",
    label="logsumexp",
    local="softmax(x)",
    pattern="logsumexp spreads the upstream over its inputs, weighted by softmax(x)",
)
class LogSumExp(Function):
    """out = m + log s, s = sum e^(x - m), m = max x;  dx = dout * e^(x - m) / s  (the softmax)"""

    __slots__ = ("axes", "keepdims", "x")
    differentiable_backward = True

    def forward(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        xp = _xp(x)
        axes = _axes(axis, x.ndim, "logsumexp")
        m = _shift(xp, x, axes)
        s = xp.exp(x - m).sum(axis=axes, keepdims=True)
        with np.errstate(divide="ignore"):
            out = m + xp.log(s)
        self.x, self.axes, self.keepdims = x, axes, keepdims
        return out if keepdims else xp.squeeze(out, axis=axes)

    def backward(self, dout: Any) -> Any:
        # e / s with e = e^(x - m), not e^(x - out): x - out loses the low digits of out near 1e4.
        # m is a constant of the gradient's graph: the softmax does not depend on the shift.
        xp = _xp(dout)
        x = self.x
        x0 = backend.data_of(x)
        e = xp.exp(x - _shift(_xp(x0), x0, self.axes))
        return _expand(dout, self.axes, self.keepdims) * (e / e.sum(axis=self.axes, keepdims=True))


def _shift(xp: Any, x: Any, axes: tuple[int, ...]) -> Any:
    """max x over axes, with an all -inf slice shifted by 0 (so it stays -inf, not nan)."""
    m = xp.max(x, axis=axes, keepdims=True)
    return xp.where(xp.isfinite(m), m, 0.0)
