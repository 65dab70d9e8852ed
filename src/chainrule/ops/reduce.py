"""Reductions over axes: sum, mean, var, std, max, min, and the softmax family.

A reduction's backward first restores the reduced axes (``_expand``) so the upstream gradient
broadcasts back over the input. max and min route the gradient to the maxima; when several
elements tie for the max, it is split evenly between them (as ``maximum`` does for two inputs).
softmax, log_softmax and logsumexp subtract the max first, so logits of +-1e4 stay finite.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.function import Function


def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple | list) else (axis,)
    out = []
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"axis {a} is out of bounds for an input with {ndim} dimensions")
        out.append(a % ndim if ndim else 0)
    return tuple(out)


def _expand(dout: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """Put back the reduced axes as size 1, so dout broadcasts over the input."""
    return dout if keepdims or not axes else np.expand_dims(dout, axes)


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


class Sum(Function):
    """out = sum(x, axis);  dx = dout broadcast back over the summed axes"""

    __slots__ = ("axes", "keepdims", "shape")

    def forward(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        x = np.asarray(x)
        self.shape, self.axes, self.keepdims = x.shape, _axes(axis, x.ndim), keepdims
        return x.sum(axis=self.axes, keepdims=keepdims)

    def backward(self, dout: np.ndarray) -> Any:
        return np.broadcast_to(_expand(dout, self.axes, self.keepdims), self.shape)


class Mean(Function):
    """out = mean(x, axis);  dx = dout / N broadcast back (N the count of averaged elements)"""

    __slots__ = ("axes", "keepdims", "shape")

    def forward(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        x = np.asarray(x)
        self.shape, self.axes, self.keepdims = x.shape, _axes(axis, x.ndim), keepdims
        return x.mean(axis=self.axes, keepdims=keepdims)

    def backward(self, dout: np.ndarray) -> Any:
        n = _count(self.shape, self.axes)
        return np.broadcast_to(_expand(dout, self.axes, self.keepdims) / n, self.shape)


class Var(Function):
    """out = mean((x - mu)^2) * N / (N - ddof);  dx = dout * 2 (x - mu) / (N - ddof)"""

    __slots__ = ("axes", "centered", "denom", "keepdims")

    def forward(self, x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Any:
        x = np.asarray(x)
        axes = _axes(axis, x.ndim)
        self.denom = _denominator(type(self).__name__, x.shape, axes, ddof)
        self.centered = x - x.mean(axis=axes, keepdims=True)
        self.axes, self.keepdims = axes, keepdims
        return x.var(axis=axes, keepdims=keepdims, ddof=ddof)

    def backward(self, dout: np.ndarray) -> Any:
        return _expand(dout, self.axes, self.keepdims) * (2.0 / self.denom) * self.centered


class Std(Function):
    """out = sqrt(var(x));  dx = dout * (x - mu) / ((N - ddof) out)  (0 where out = 0)"""

    __slots__ = ("axes", "centered", "denom", "keepdims", "out")

    def forward(self, x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Any:
        x = np.asarray(x)
        axes = _axes(axis, x.ndim)
        self.denom = _denominator(type(self).__name__, x.shape, axes, ddof)
        self.centered = x - x.mean(axis=axes, keepdims=True)
        self.axes, self.keepdims = axes, keepdims
        self.out = x.std(axis=axes, keepdims=True, ddof=ddof)
        return (
            self.out
            if keepdims
            else self.out.reshape(tuple(s for i, s in enumerate(x.shape) if i not in axes))
        )

    def backward(self, dout: np.ndarray) -> Any:
        scale = np.divide(
            1.0, self.denom * self.out, out=np.zeros_like(self.out), where=self.out != 0
        )
        return _expand(dout, self.axes, self.keepdims) * scale * self.centered


class Max(Function):
    """out = max(x, axis);  dx = dout / k at each of the k maxima, 0 elsewhere (routes)"""

    __slots__ = ("axes", "keepdims", "route")
    _reduce: Any = staticmethod(np.max)

    def forward(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        x = np.asarray(x)
        axes = _axes(axis, x.ndim)
        if x.size == 0:
            raise ValueError(f"{type(self).__name__}: reduction of an empty array")
        out = self._reduce(x, axis=axes, keepdims=True)
        hit = x == out
        # 1/k at the k winners; a NaN slice has no winner (and no 0/0 warning): zero gradient
        self.route = hit / np.maximum(hit.sum(axis=axes, keepdims=True), 1)
        self.axes, self.keepdims = axes, keepdims
        return out if keepdims else np.squeeze(out, axis=axes)

    def backward(self, dout: np.ndarray) -> Any:
        d = _expand(dout, self.axes, self.keepdims)
        return np.where(self.route > 0, d * self.route, 0.0).astype(dout.dtype, copy=False)


class Min(Max):
    """out = min(x, axis);  dx = dout / k at each of the k minima, 0 elsewhere (routes)"""

    __slots__ = ()
    _reduce = staticmethod(np.min)


class Softmax(Function):
    """out = e^(x - max) / sum e^(x - max);  dx = out * (dout - sum(dout * out))"""

    __slots__ = ("axis", "out")

    def forward(self, x: Any, axis: int = -1) -> Any:
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))
        self.out = e / e.sum(axis=axis, keepdims=True)
        self.axis = axis
        return self.out

    def backward(self, dout: np.ndarray) -> Any:
        out = self.out
        return out * (dout - (dout * out).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    """out = x - logsumexp(x);  dx = dout - softmax(x) * sum(dout)"""

    __slots__ = ("axis", "out")

    def forward(self, x: Any, axis: int = -1) -> Any:
        shifted = x - np.max(x, axis=axis, keepdims=True)
        self.out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        self.axis = axis
        return self.out

    def backward(self, dout: np.ndarray) -> Any:
        return dout - np.exp(self.out) * dout.sum(axis=self.axis, keepdims=True)


class LogSumExp(Function):
    """out = m + log s, s = sum e^(x - m), m = max x;  dx = dout * e^(x - m) / s  (the softmax)"""

    __slots__ = ("axes", "e", "keepdims", "s")

    def forward(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        x = np.asarray(x)
        axes = _axes(axis, x.ndim)
        m = np.max(x, axis=axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0.0)  # all -inf stays -inf instead of nan
        e = np.exp(x - m)
        s = e.sum(axis=axes, keepdims=True)
        with np.errstate(divide="ignore"):
            out = m + np.log(s)
        # backward uses e / s, not e^(x - out): x - out loses the low digits of out near 1e4
        self.e, self.s, self.axes, self.keepdims = e, s, axes, keepdims
        return out if keepdims else np.squeeze(out, axis=axes)

    def backward(self, dout: np.ndarray) -> Any:
        return _expand(dout, self.axes, self.keepdims) * (self.e / self.s)
