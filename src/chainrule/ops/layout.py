"""Shape and layout: pad (constant, edge, reflect), roll, repeat, tile, moveaxis, swapaxes,
ravel/flatten, tril, triu, diag, diagonal, trace.

Each is a composition of differentiable ops, mostly one fancy index into the input: every
output element names the input element it copies, so the indexing gate's backward (add dout
back at the index, repeats accumulating) is the gradient: ``pad``'s edge and reflect modes,
``repeat`` and ``tile`` send each copy's gradient home. ``tril``/``triu`` are a ``where``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.ops import _args
from chainrule.ops import shape as shape_ops


def _ops() -> Any:
    from chainrule import ops

    return ops


def _gather(t: Any, per_axis: list[np.ndarray]) -> Any:
    """t at the outer product of one index array per axis (np.ix_), through the indexing gate."""
    if not per_axis:
        return t
    return shape_ops.Index.apply(t, index=np.ix_(*per_axis))


def moveaxis(x: Any, source: Any, destination: Any) -> Any:
    """x with axes moved from source to destination, as numpy.moveaxis.

    >>> import chainrule as cr
    >>> cr.moveaxis(cr.zeros(2, 3, 4), 0, -1).shape
    (3, 4, 2)
    """
    t = _args.tensor(x)
    src = [_args.axis("moveaxis", s, t.ndim, "source") for s in np.atleast_1d(source).tolist()]
    dst = [
        _args.axis("moveaxis", d, t.ndim, "destination")
        for d in np.atleast_1d(destination).tolist()
    ]
    if len(src) != len(dst):
        raise ValueError(f"moveaxis: {len(src)} source axes but {len(dst)} destinations")
    for name, given, got in (("source", source, src), ("destination", destination, dst)):
        if len(set(got)) != len(got):
            raise ValueError(f"moveaxis: {name} {given!r} repeats an axis")
    order = [a for a in range(t.ndim) if a not in src]
    for d, s in sorted(zip(dst, src, strict=True)):
        order.insert(d, s)
    return _ops().transpose(t, order)


def swapaxes(x: Any, axis1: int, axis2: int) -> Any:
    """x with two axes exchanged, as numpy.swapaxes.

    >>> import chainrule as cr
    >>> cr.swapaxes(cr.zeros(2, 3, 4), 0, 2).shape
    (4, 3, 2)
    """
    t = _args.tensor(x)
    a, b = _args.axis("swapaxes", axis1, t.ndim), _args.axis("swapaxes", axis2, t.ndim)
    order = list(range(t.ndim))
    order[a], order[b] = b, a
    return _ops().transpose(t, order)


def ravel(x: Any) -> Any:
    """x flattened to 1-D (a reshape), as numpy.ravel.

    >>> import chainrule as cr
    >>> cr.ravel(cr.eye(2))
    tensor([1., 0., 0., 1.])
    """
    return _ops().reshape(_args.tensor(x), (-1,))


flatten = ravel


def roll(x: Any, shift: Any, axis: Any = None) -> Any:
    """x shifted cyclically by shift along axis (the flattened input by default), as numpy.roll.

    >>> import chainrule as cr
    >>> cr.roll(cr.tensor([1.0, 2.0, 3.0]), 1)
    tensor([3., 1., 2.])
    """
    t = _args.tensor(x)
    if axis is None:
        return roll(t.reshape(-1), shift, 0).reshape(t.shape)
    shift_list, axis_list = np.atleast_1d(shift).tolist(), np.atleast_1d(axis).tolist()
    if len(shift_list) == 1:
        shift_list = shift_list * len(axis_list)
    elif len(axis_list) == 1:
        axis_list = axis_list * len(shift_list)
    if len(shift_list) != len(axis_list) or np.ndim(shift) > 1 or np.ndim(axis) > 1:
        raise ValueError(
            f"roll: shift {shift!r} and axis {axis!r} must be one each or sequences of one length"
        )
    per_axis = [np.arange(n) for n in t.shape]
    for s, a in zip(shift_list, axis_list, strict=True):
        ax = _args.axis("roll", a, t.ndim)
        n = t.shape[ax]
        if n:
            per_axis[ax] = (per_axis[ax] - _args.integer("roll", s, "shift")) % n
    return _gather(t, per_axis)


def repeat(x: Any, repeats: Any, axis: int | None = None) -> Any:
    """Each element repeated, along axis (the flattened input by default), as numpy.repeat.

    >>> import chainrule as cr
    >>> cr.repeat(cr.tensor([1.0, 2.0]), [1, 3])
    tensor([1., 2., 2., 2.])
    """
    t = _args.tensor(x)
    if axis is None:
        t, axis = t.reshape(-1), 0
    ax = _args.axis("repeat", axis, t.ndim)
    reps = np.asarray(repeats)
    if reps.dtype.kind not in "iu" or (reps < 0).any():
        raise ValueError(f"repeat: repeats must be non-negative integers, got {repeats!r}")
    if reps.ndim > 1 or (reps.ndim == 1 and reps.size not in (1, t.shape[ax])):
        raise ValueError(
            f"repeat: repeats of shape {reps.shape} do not match axis {ax} of length {t.shape[ax]}"
        )
    per_axis = [np.arange(n) for n in t.shape]
    per_axis[ax] = np.repeat(per_axis[ax], reps)
    return _gather(t, per_axis)


def tile(x: Any, reps: Any) -> Any:
    """x repeated reps times as a whole along each axis, as numpy.tile.

    >>> import chainrule as cr
    >>> cr.tile(cr.tensor([1.0, 2.0]), (2, 2))
    tensor([[1., 2., 1., 2.],
            [1., 2., 1., 2.]])
    """
    t = _args.tensor(x)
    if np.ndim(reps) > 1:
        raise ValueError(f"tile: reps must be an integer or a sequence of integers, got {reps!r}")
    r = [_args.integer("tile", n, "reps") for n in np.atleast_1d(reps).tolist()]
    if any(n < 0 for n in r):
        raise ValueError(f"tile: reps must be non-negative, got {tuple(r)}")
    nd = max(len(r), t.ndim)
    r = [1] * (nd - len(r)) + r
    t = t.reshape((1,) * (nd - t.ndim) + t.shape)
    return _gather(t, [np.tile(np.arange(n), k) for n, k in zip(t.shape, r, strict=True)])


_PAD_MODES = ("constant", "edge", "reflect")


def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: float = 0.0) -> Any:
    """x padded as numpy.pad, in modes constant, edge and reflect; the padding copies of edge
    and reflect send their gradient to the elements they copy.

    >>> import chainrule as cr
    >>> cr.pad(cr.tensor([1.0, 2.0, 3.0]), (2, 1), mode="reflect")
    tensor([3., 2., 1., 2., 3., 2.])
    """
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {', '.join(_PAD_MODES)}, got {mode!r}")
    t = _args.tensor(x)
    try:
        widths = np.broadcast_to(np.asarray(pad_width), (t.ndim, 2))
    except ValueError:
        raise ValueError(
            f"pad: pad_width {pad_width!r} does not fit an input of {t.ndim} dimensions "
            "(expected n, (before, after) or one pair per axis)"
        ) from None
    if widths.dtype.kind not in "iu" or (widths < 0).any():
        raise ValueError(f"pad: pad_width must be non-negative integers, got {pad_width!r}")
    per_axis, inside = [], []
    for n, (before, after) in zip(t.shape, widths.tolist(), strict=True):
        if mode == "reflect" and n == 1 and before + after:
            per_axis.append(np.zeros(n + before + after, dtype=np.int64))  # NumPy: edge
        elif mode != "constant" and n == 0 and before + after:
            raise ValueError(f"pad: mode {mode!r} cannot pad an empty axis")
        else:
            how: Any = "edge" if mode == "constant" else mode  # (a constant pad's values: masked)
            src = np.pad(np.arange(n), (before, after), mode=how)
            per_axis.append(src)
        inside.append(np.pad(np.ones(n, dtype=bool), (before, after)))
    out = _gather(t, per_axis)
    if mode == "constant":
        keep = np.ones(out.shape, dtype=bool)
        for a, m in enumerate(inside):  # inside the original along every axis
            keep = keep & m.reshape((-1,) + (1,) * (len(inside) - a - 1))
        out = _ops().where(keep, out, constant_values)
    return out


def _tri(op: str, x: Any, k: int, lower: bool) -> Any:
    t = _args.tensor(x)
    if t.ndim < 2:
        raise ValueError(f"{op}: needs an input of at least 2 dimensions, got shape {t.shape}")
    k = _args.integer(op, k, "k")
    n, m = t.shape[-2:]
    mask = np.tri(n, m, k, dtype=bool) if lower else ~np.tri(n, m, k - 1, dtype=bool)
    return _ops().where(mask, t, 0.0)


def tril(x: Any, k: int = 0) -> Any:
    """The lower triangle (on and below diagonal k) of the last two axes, as numpy.tril.

    >>> import chainrule as cr
    >>> cr.tril(cr.ones(2, 2))
    tensor([[1., 0.],
            [1., 1.]])
    """
    return _tri("tril", x, k, lower=True)


def triu(x: Any, k: int = 0) -> Any:
    """The upper triangle (on and above diagonal k) of the last two axes, as numpy.triu.

    >>> import chainrule as cr
    >>> cr.triu(cr.ones(2, 2))
    tensor([[1., 1.],
            [0., 1.]])
    """
    return _tri("triu", x, k, lower=False)


def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """The diagonal of axes axis1, axis2 (moved last), as numpy.diagonal.

    >>> import chainrule as cr
    >>> cr.diagonal(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), 1)
    tensor([2.])
    """
    t = _args.tensor(x)
    if t.ndim < 2:
        raise ValueError(f"diagonal: needs an input of at least 2 dimensions, got {t.shape}")
    a = _args.axis("diagonal", axis1, t.ndim, "axis1")
    b = _args.axis("diagonal", axis2, t.ndim, "axis2")
    if a == b:
        raise ValueError(f"diagonal: axis1 and axis2 must differ, got {axis1} and {axis2}")
    offset = _args.integer("diagonal", offset, "offset")
    rows, cols = t.shape[a], t.shape[b]
    start_r, start_c = max(-offset, 0), max(offset, 0)
    count = max(0, min(rows - start_r, cols - start_c))
    rest = [d for d in range(t.ndim) if d not in (a, b)]
    moved = _ops().transpose(t, [*rest, a, b])
    i = np.arange(count)
    lead = (slice(None),) * len(rest)
    return shape_ops.Index.apply(moved, index=(*lead, i + start_r, i + start_c))


def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """The sum of a diagonal, as numpy.trace.

    >>> import chainrule as cr
    >>> cr.trace(cr.tensor([[1.0, 2.0], [3.0, 4.0]]))
    tensor(5.)
    """
    t = _args.tensor(x)
    if t.ndim < 2:
        raise ValueError(f"trace: needs an input of at least 2 dimensions, got shape {t.shape}")
    return _ops().sum(diagonal(t, offset, axis1, axis2), axis=-1)


def diag(v: Any, k: int = 0) -> Any:
    """A 2-D matrix with 1-D v on diagonal k, or the diagonal k of a 2-D v, as numpy.diag.

    >>> import chainrule as cr
    >>> cr.diag(cr.tensor([1.0, 2.0]))
    tensor([[1., 0.],
            [0., 2.]])
    """
    t = _args.tensor(v)
    k = _args.integer("diag", k, "k")
    if t.ndim == 2:
        return diagonal(t, k)
    if t.ndim != 1:
        raise ValueError(f"diag: needs a 1-D or 2-D input, got shape {t.shape}")
    n = t.shape[0] + abs(k)
    i = np.arange(t.shape[0])
    index = (i + max(-k, 0), i + max(k, 0))
    return shape_ops.IndexAdd.apply(t, shape=(n, n), index=index)
