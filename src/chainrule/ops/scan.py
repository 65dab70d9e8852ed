"""Scans and products: cumsum, cumprod, prod (zeros included), flip; argmax/argmin and norm.

cumsum's local gradient is the reverse scan (``dx = flip(cumsum(flip(dout)))``). prod's is the
product of all the other elements, taken as exclusive left and right cumulative products, so a
zero among the inputs gives the exact gradient (no division by x). cumprod divides by x where
no element is below 1e-3 in magnitude; else it takes the exact product of the others for each
output, which costs O(n^2) along the axis. argmax and argmin return integer tensors with no
gradient; norm is a composition of differentiable ops (gradient 0 at 0, PyTorch's subgradient).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import backend
from chainrule.function import Function
from chainrule.ops import _args, _threads

_xp = backend.get_array_module


_values = backend.data_of


def _moved_last(x: Any, axis: int) -> tuple[Any, tuple[int, ...]]:
    """x with ``axis`` moved last (by a transpose, which both arrays and Tensors have)."""
    perm = (*(a for a in range(x.ndim) if a != axis), axis)
    return x.transpose(perm), perm


def _inverse(perm: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argsort(perm))


@_args.register(
    function="flip",
    method=None,
    ufunc=None,
    family="shape",
    label="flip",
    local="reverses",
    rebuildable=False,
)
class Flip(Function):
    """out = x reversed along axes;  dx = dout reversed along the same axes"""

    __slots__ = ("axes",)
    differentiable_backward = True

    def forward(self, x: Any, axis: Any = None) -> Any:
        self.axes = _args.axes("flip", axis, x.ndim)
        return _xp(x).flip(x, axis=self.axes)

    def backward(self, dout: Any) -> Any:
        return _args.fn(backend.get_array_module(dout), "flip")(dout, axis=self.axes)


@_args.register(
    function="cumsum",
    method="cumsum",
    ufunc=None,
    family="reduce",
    label="cumsum",
    local="reverse cumsum",
    rebuildable=False,
)
class Cumsum(Function):
    """out_k = sum_{i<=k} x_i;  dx_i = sum_{k>=i} dout_k  (the reverse scan)"""

    __slots__ = ("axis", "shape")
    differentiable_backward = True

    def forward(self, x: Any, axis: Any = None) -> Any:
        self.shape = x.shape
        if axis is None:  # NumPy: over the flattened input
            x, axis = x.reshape(-1), 0
        self.axis = _args.axis("cumsum", axis, x.ndim) if x.ndim else 0
        if type(x) is np.ndarray and x.ndim > 1 and x.dtype.kind == "f":
            out = np.empty(x.shape, x.dtype)
            _scan_halves(x, out, self.axis, reverse=False)
            return out
        return _xp(x).cumsum(x, axis=self.axis) if x.ndim else x.reshape(1)

    def backward(self, dout: Any) -> Any:
        if type(dout) is np.ndarray and dout.ndim and dout.dtype.kind == "f":
            # the reverse scan written through a reversed view straight into a fresh array:
            # no flipped copy, and the result is no view (a view becoming .grad is copied)
            dx = np.empty(dout.shape, dout.dtype)
            _scan_halves(dout, dx, self.axis, reverse=True)
            return dx if dx.shape == self.shape else dx.reshape(self.shape)
        xp = backend.get_array_module(dout)  # Tensors (create_graph) and other backends
        flip, cumsum = _args.fn(xp, "flip"), _args.fn(xp, "cumsum")
        dx = flip(cumsum(flip(dout, axis=self.axis), axis=self.axis), axis=self.axis)
        return dx.reshape(self.shape)


def _scan_halves(x: np.ndarray, out: np.ndarray, axis: int, reverse: bool) -> None:
    """out = cumsum(x, axis) (from the end when ``reverse``), in two threads over another
    axis when x is large (``_threads``: NumPy's scan is a one-core scalar loop)."""
    rev = (slice(None),) * axis + (slice(None, None, -1),) if reverse else ()
    split = next((a for a in range(x.ndim) if a != axis and x.shape[a] > 1), None)
    if split is None:
        np.cumsum(x[rev], axis=axis, out=out[rev])
        return

    def part(s: slice) -> None:
        sl = (slice(None),) * split + (s,)
        np.cumsum(x[sl][rev], axis=axis, out=out[sl][rev])

    _threads.halves(part, x.shape[split], x.size)


@_args.register(
    function="cumprod",
    method="cumprod",
    ufunc=None,
    family="reduce",
    label="cumprod",
    local="products of the others",
    rebuildable=False,
)
class Cumprod(Function):
    """out_k = prod_{i<=k} x_i;  dx_i = sum_{k>=i} dout_k prod_{j<=k, j!=i} x_j"""

    __slots__ = ("axis", "out", "shape", "x")
    differentiable_backward = True

    def forward(self, x: Any, axis: Any = None) -> Any:
        self.shape, self.x = x.shape, x
        flat = x.reshape(-1) if axis is None or not x.ndim else x
        self.axis = 0 if axis is None or not x.ndim else _args.axis("cumprod", axis, x.ndim)
        self.out = _xp(x).cumprod(flat, axis=self.axis)
        return self.out

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        flip, cumsum = _args.fn(xp, "flip"), _args.fn(xp, "cumsum")
        x = self.x.reshape(self.out.shape)
        # dividing by a tiny x would lose the gradient's second derivative to rounding (1/x
        # huge), so small magnitudes take the exact path too (slower, never wrong)
        v = _values(x)
        if bool((_xp(v).abs(v) >= 1e-3).all()):
            # sum_{k>=i} dout_k out_k / x_i
            t = dout * self.out
            return (
                flip(cumsum(flip(t, axis=self.axis), axis=self.axis), axis=self.axis) / x
            ).reshape(self.shape)
        # exact, zeros included: row i of (n, n) is x with x_i set to 1; its cumprod at k >= i
        # is the product of the others up to k
        y, perm = _moved_last(x, self.axis)
        g, _ = _moved_last(dout, self.axis)
        n = y.shape[-1]
        eye = np.eye(n, dtype=bool)
        rows = xp.where(eye, 1.0, xp.expand_dims(y, -2))  # (..., n_i, n_k)
        others = _args.fn(xp, "cumprod")(rows, axis=-1)
        upper = np.triu(np.ones((n, n), dtype=bool))  # k >= i
        dx = (xp.where(upper, others, 0.0) * xp.expand_dims(g, -2)).sum(axis=-1)
        return dx.transpose(_inverse(perm)).reshape(self.shape)


@_args.register(
    function="prod",
    method="prod",
    ufunc=None,
    family="reduce",
    label="prod",
    local="product of the others",
    rebuildable=False,
)
class Prod(Function):
    """out = prod(x, axis);  dx_i = dout * prod_{j != i} x_j  (exclusive products: zeros exact)"""

    __slots__ = ("axes", "keepdims", "x")
    differentiable_backward = True

    def forward(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        axes = _args.axes("prod", axis, x.ndim)
        self.x, self.keepdims = x, keepdims
        self.axes = tuple(range(x.ndim)) if axes is None else axes
        return _xp(x).prod(x, axis=self.axes, keepdims=keepdims)

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        x, axes = self.x, self.axes
        kept = tuple(a for a in range(x.ndim) if a not in axes)
        perm = kept + axes
        y = x.transpose(perm)
        lead = y.shape[: len(kept)]
        y = y.reshape((*lead, -1))  # (..., n): the reduced elements last
        ones = xp.ones_like(y[..., :1])
        cumprod, flip = _args.fn(xp, "cumprod"), _args.fn(xp, "flip")
        left = cumprod(xp.concatenate([ones, y[..., :-1]], axis=-1), axis=-1)
        right = flip(
            cumprod(flip(xp.concatenate([y[..., 1:], ones], axis=-1), axis=-1), axis=-1), axis=-1
        )
        g = dout.reshape((*lead, 1))  # kept axes in order, with or without keepdims' 1s
        dx = (g * left * right).reshape(tuple(x.shape[a] for a in perm))
        return dx.transpose(_inverse(perm))


ALL = (Flip, Cumsum, Cumprod, Prod)


def flip(x: Any, axis: Any = None) -> Any:
    """x reversed along axis (all axes by default), as numpy.flip.

    >>> import chainrule as cr
    >>> cr.flip(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=1)
    tensor([[2., 1.],
            [4., 3.]])
    """
    return Flip.apply(_args.tensor(x), axis=axis)


def cumsum(x: Any, axis: int | None = None) -> Any:
    """Running sum along axis (the flattened input by default), as numpy.cumsum.

    >>> import chainrule as cr
    >>> cr.cumsum(cr.tensor([1.0, 2.0, 3.0]))
    tensor([1., 3., 6.])
    """
    return Cumsum.apply(_args.tensor(x), axis=axis)


def cumprod(x: Any, axis: int | None = None) -> Any:
    """Running product along axis (the flattened input by default), as numpy.cumprod; its
    gradient is exact where x has zeros.

    >>> import chainrule as cr
    >>> cr.cumprod(cr.tensor([1.0, 2.0, 3.0]))
    tensor([1., 2., 6.])
    """
    return Cumprod.apply(_args.tensor(x), axis=axis)


def prod(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Product over axis (all axes by default), as numpy.prod; exact gradient with zeros.

    >>> import chainrule as cr
    >>> x = cr.tensor([2.0, 0.0, 3.0], requires_grad=True)
    >>> cr.prod(x).backward()
    >>> x.grad
    tensor([0., 6., 0.])
    """
    return Prod.apply(_args.tensor(x), axis=axis, keepdims=keepdims)


def _arg(op: str, x: Any, axis: Any, keepdims: bool) -> Any:
    t = _args.tensor(x)
    data = t.data
    if data.size == 0:
        raise ValueError(f"{op}: attempt to get {op} of an empty tensor")
    if axis is not None:
        axis = _args.axis(op, axis, data.ndim) if data.ndim else 0
    result = getattr(data, op)(axis=axis, keepdims=keepdims) if data.ndim else np.int64(0)
    from chainrule import _tensor

    return _tensor.Tensor(np.asarray(result))


def argmax(x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
    """Index of the maximum along axis (of the flattened input by default); the first of tied
    maxima; an int64 tensor with no gradient.

    >>> import chainrule as cr
    >>> cr.argmax(cr.tensor([[1.0, 5.0], [7.0, 2.0]]), axis=1)
    tensor([1, 0])
    """
    return _arg("argmax", x, axis, keepdims)


def argmin(x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
    """Index of the minimum along axis; the first of tied minima; no gradient.

    >>> import chainrule as cr
    >>> cr.argmin(cr.tensor([3.0, 1.0, 1.0]))
    tensor(1)
    """
    return _arg("argmin", x, axis, keepdims)


_VECTOR_ORDS = (None, 2, 1, np.inf, -np.inf, 0)
_MATRIX_ORDS = (None, "fro", 1, -1, np.inf, -np.inf)


def _safe_sqrt(s: Any) -> Any:
    """sqrt with gradient 0 at 0 (the double where keeps NaN out of the branch not taken)."""
    from chainrule import ops

    pos = s.data > 0
    return ops.where(pos, ops.sqrt(ops.where(pos, s, 1.0)), 0.0)


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A002
    """Vector or matrix norm, as numpy.linalg.norm: vector ords None/2, 1, inf, -inf, 0 and any
    other number p; matrix ords None/'fro', 1, -1, inf, -inf (2, -2 and 'nuc' need an SVD and
    are refused). The gradient of the 2-norm at 0 is 0.

    >>> import chainrule as cr
    >>> cr.norm(cr.tensor([3.0, 4.0])), cr.norm(cr.tensor([[1.0, -2.0], [3.0, 4.0]]), ord=1)
    (tensor(5.), tensor(6.))
    """
    from chainrule import ops

    t = _args.tensor(x)
    if axis is None:
        if t.ndim > 2 and ord is not None:
            raise ValueError(f"norm: ord {ord!r} needs a 1-D or 2-D input, or axis, got {t.shape}")
        if ord is None:
            out = _safe_sqrt(ops.sum(t * t))
            return out.reshape((1,) * t.ndim) if keepdims else out
        axis = tuple(range(t.ndim))
    axes = _args.axes("norm", axis, t.ndim) or ()
    if len(axes) == 1:
        if ord not in _VECTOR_ORDS and (isinstance(ord, str) or not np.isscalar(ord)):
            raise ValueError(f"norm: ord {ord!r} is not a vector norm (expected a number)")
        a = ops.abs(t)
        if ord is None or ord == 2:
            return _safe_sqrt(ops.sum(t * t, axis=axes, keepdims=keepdims))
        if ord == np.inf:
            return ops.max(a, axis=axes, keepdims=keepdims)
        if ord == -np.inf:
            return ops.min(a, axis=axes, keepdims=keepdims)
        if ord == 0:
            return ops.sum((t != 0).astype(t.dtype), axis=axes, keepdims=keepdims)
        if ord == 1:
            return ops.sum(a, axis=axes, keepdims=keepdims)
        return ops.sum(a**ord, axis=axes, keepdims=keepdims) ** (1.0 / ord)
    if len(axes) != 2:
        raise ValueError(f"norm: axis must name 1 or 2 axes, got {axis!r}")
    if ord not in _MATRIX_ORDS:
        raise ValueError(
            f"norm: matrix ord {ord!r} is not supported (expected one of None, 'fro', 1, -1, "
            "inf, -inf; 2, -2 and 'nuc' need an SVD)"
        )
    if ord is None or ord == "fro":
        return _safe_sqrt(ops.sum(t * t, axis=axes, keepdims=keepdims))
    row, col = axes
    a = ops.abs(t)
    if ord in (1, -1):  # max/min over columns of the column sums
        sums = ops.sum(a, axis=row, keepdims=True)
        pick = ops.max if ord == 1 else ops.min
        out = pick(sums, axis=col, keepdims=True)
    else:  # inf / -inf: over rows of the row sums
        sums = ops.sum(a, axis=col, keepdims=True)
        pick = ops.max if ord == np.inf else ops.min
        out = pick(sums, axis=row, keepdims=True)
    return out if keepdims else ops.squeeze(out, axis=(row, col))
