"""Gather and scatter: take, take_along_axis, put_along_axis, one_hot; and sorting built on
them: sort, argsort, topk.

Each differentiable one is a fancy index into its input, so it records the indexing gate
(``shape.Index``), whose backward adds dout back at the chosen positions (``shape.IndexAdd``,
itself differentiable): the gradient routes to the chosen elements and repeated indices
accumulate. Indices are checked first: an index outside ``[-n, n)`` raises ``IndexError``
naming the op, the index and the axis length; nothing wraps. Sorting is stable, so tied values
keep their order (topk takes the earlier of tied elements first).

Speed (W11): take_along_axis, sort and topk index the flattened input with one array of flat
positions, NumPy's fastest gather, whose backward is NumPy's fast one-index ``add.at`` (or,
for sort's and topk's orders, which hit each element at most once, a plain write); float32
orders come from one SIMD sort of packed integers (``_sorting``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.function import TensorBase
from chainrule.ops import _args, _sorting, _threads
from chainrule.ops import shape as shape_ops


def _indices(op: str, indices: Any, n: int, what: str = "indices") -> np.ndarray:
    """Integer indices as an array, each in [-n, n), or an error naming op and the range."""
    idx = np.asarray(indices.data if isinstance(indices, TensorBase) else indices)
    if idx.dtype.kind not in "iu":
        if idx.size == 0:
            idx = idx.astype(np.int64)
        else:
            raise TypeError(f"{op}: {what} must be integers, got dtype {idx.dtype}")
    if idx.size:
        # one pass for the common case, every index in [0, n): a negative one read as
        # unsigned is huge, so it fails this test too (and takes the exact checks below)
        unsigned = idx.view(idx.dtype.str.replace("i", "u")) if idx.dtype.kind == "i" else idx
        if unsigned.max() < n:  # one reduction, no temporary (~20% under a compare and any)
            return idx
        lo, hi = idx.min(), idx.max()
        if lo < -n or hi >= n:
            bad = idx[(idx < -n) | (idx >= n)].flat[0]
            raise IndexError(f"{op}: index {bad} is out of range for an axis of length {n}")
        if lo < 0:  # counted from the end: as positions in [0, n)
            idx = np.where(idx < 0, idx + n, idx)
    return idx


def _flat_positions(shape: tuple[int, ...], idx: np.ndarray, axis: int) -> np.ndarray:
    """Where x[..., idx, ...] (idx along ``axis``, matched element by element on the other
    axes) lies in ``x.reshape(-1)``: idx times the axis's C stride plus the other axes'
    offsets. One integer array indexes a flat array on NumPy's fastest paths: forward, and
    ``np.add.at`` in the backward (~9x the tuple of broadcast grids on W11's gather)."""
    strides = [int(np.prod(shape[a + 1 :], dtype=np.int64)) for a in range(len(shape))]
    offsets: Any = 0
    for a, m in enumerate(idx.shape):
        if a != axis and m > 1:
            offsets = offsets + (np.arange(m, dtype=np.intp) * strides[a]).reshape(
                (-1,) + (1,) * (idx.ndim - a - 1)
            )
    flat = np.empty(idx.shape, np.intp)
    if idx.ndim == 0:
        flat[...] = idx * strides[axis]
        return flat
    off = np.broadcast_to(offsets, idx.shape)

    def part(rows: slice) -> None:  # idx * stride + offsets, in one pass where the stride is 1
        if strides[axis] == 1:
            np.add(idx[rows], off[rows], out=flat[rows])
        else:
            np.multiply(idx[rows], strides[axis], out=flat[rows])
            flat[rows] += off[rows]

    _threads.halves(part, idx.shape[0], idx.size)  # two threads on large arrays
    return flat


def _gather(t: Any, idx: np.ndarray, axis: int, unique: bool = False) -> Any:
    """t at ``idx`` along ``axis`` (idx in range, its shape t's outside the axis), recorded as
    one indexing gate on the flattened t; ``unique``: idx is a permutation along the axis."""
    flat = _flat_positions(t.shape, idx, axis)
    return shape_ops.Index.apply(t.reshape(-1), index=flat, unique=unique)


def _along(x: Any, idx: np.ndarray, axis: int) -> tuple[Any, ...]:
    """The fancy index that takes ``idx`` along ``axis`` and broadcasts over the other axes."""
    grids = np.ogrid[tuple(slice(0, s) for s in idx.shape)]
    return tuple(idx if a == axis else grids[a] for a in range(x.ndim))


def _along_checked(op: str, t: Any, indices: Any, axis: Any) -> tuple[Any, int, np.ndarray]:
    if t.ndim == 0:
        raise ValueError(f"{op}: needs an input of at least 1 dimension")
    ax = _args.axis(op, axis, t.ndim)
    idx = _indices(op, indices, t.shape[ax])
    if idx.ndim != t.ndim:
        raise ValueError(
            f"{op}: indices need the input's number of dimensions {t.ndim}, got shape {idx.shape}"
        )
    for a, (m, n) in enumerate(zip(idx.shape, t.shape, strict=True)):
        if a != ax and m not in (1, n):
            raise ValueError(
                f"{op}: indices of shape {idx.shape} do not broadcast with the input's "
                f"{t.shape} outside axis {ax}"
            )
    idx = np.broadcast_to(
        idx,
        tuple(m if a == ax else n for a, (m, n) in enumerate(zip(idx.shape, t.shape, strict=True))),
    )
    return _along(t, idx, ax), ax, idx


def take(x: Any, indices: Any, axis: int | None = None) -> Any:
    """Elements at ``indices`` along axis (of the flattened input by default), as numpy.take.

    >>> import chainrule as cr
    >>> cr.take(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), [3, 0]), cr.take(cr.eye(2), [1], axis=1)
    (tensor([4., 1.]), tensor([[0.],
            [1.]]))
    """
    t = _args.tensor(x)
    if axis is None:
        t = t.reshape(-1)
        ax = 0
    else:
        if t.ndim == 0:
            raise ValueError("take: axis needs an input of at least 1 dimension")
        ax = _args.axis("take", axis, t.ndim)
    idx = _indices("take", indices, t.shape[ax])
    return shape_ops.Index.apply(t, index=(slice(None),) * ax + (idx,))


def take_along_axis(x: Any, indices: Any, axis: int) -> Any:
    """x at ``indices`` along axis, matched element by element, as numpy.take_along_axis.

    >>> import chainrule as cr
    >>> x = cr.tensor([[10.0, 30.0, 20.0]], requires_grad=True)
    >>> cr.take_along_axis(x, [[1, 1]], axis=1).sum().backward()
    >>> x.grad
    tensor([[0., 2., 0.]])
    """
    t = _args.tensor(x)
    _, ax, idx = _along_checked("take_along_axis", t, indices, axis)
    return _gather(t, idx, ax)


def put_along_axis(arr: Any, indices: Any, values: Any, axis: int) -> Any:
    """A copy of arr with ``values`` written at ``indices`` along axis (numpy.put_along_axis,
    without changing arr); differentiable in arr (0 where overwritten) and in values. Indices
    repeated along the axis are refused (which write would win is NumPy's accident).

    >>> import chainrule as cr
    >>> cr.put_along_axis(cr.zeros(2, 3), [[2], [0]], 5.0, axis=1)
    tensor([[0., 0., 5.],
            [5., 0., 0.]])
    """
    from chainrule import ops

    t = _args.tensor(arr)
    index, ax, idx = _along_checked("put_along_axis", t, indices, axis)
    n = t.shape[ax]
    sorted_idx = np.sort(idx % n if n else idx, axis=ax)
    if idx.shape[ax] > 1 and (np.diff(sorted_idx, axis=ax) == 0).any():
        raise ValueError("put_along_axis: indices repeat along the axis; each position once")
    v = values if isinstance(values, TensorBase) else ops.lift_operand(values, t)
    v = _args.tensor(v) if not isinstance(v, TensorBase) else v
    try:
        v = ops.broadcast_to(v, idx.shape)
    except ValueError:
        raise ValueError(
            f"put_along_axis: values of shape {v.shape} do not broadcast to the indices' "
            f"{idx.shape}"
        ) from None
    placed = shape_ops.IndexAdd.apply(v, shape=t.shape, index=index)  # zeros with values in
    mask = np.zeros(t.shape, dtype=bool)
    mask[index] = True
    return ops.where(mask, placed, t)


def one_hot(indices: Any, num_classes: int = -1) -> Any:
    """An int64 tensor with a trailing axis of num_classes (max index + 1 by default), 1 at
    each index; no gradient (PyTorch's one_hot).

    >>> import chainrule as cr
    >>> cr.one_hot(cr.tensor([0, 2]), 3)
    tensor([[1, 0, 0],
            [0, 0, 1]])
    """
    raw = np.asarray(indices.data if isinstance(indices, TensorBase) else indices)
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"one_hot: num_classes must be an integer, got {num_classes!r}")
    if raw.dtype.kind not in "iu" and raw.size:
        raise TypeError(f"one_hot: indices must be integers, got dtype {raw.dtype}")
    if num_classes == -1:
        num_classes = int(raw.max()) + 1 if raw.size else 0
    if num_classes < 0:
        raise ValueError(f"one_hot: num_classes must be -1 or non-negative, got {num_classes}")
    if raw.size and raw.min() < 0:
        raise IndexError(f"one_hot: index {raw.min()} is negative")
    idx = _indices("one_hot", raw, num_classes)
    from chainrule import _tensor

    return _tensor.Tensor((idx[..., None] == np.arange(num_classes)).astype(np.int64))


def argsort(x: Any, axis: int | None = -1, descending: bool = False) -> Any:
    """Indices that sort x along axis, stably (ties keep their order); no gradient.
    ``axis=None`` sorts the flattened input, as NumPy.

    >>> import chainrule as cr
    >>> cr.argsort(cr.tensor([3.0, 1.0, 2.0, 1.0]))
    tensor([1, 3, 2, 0])
    """
    t = _args.tensor(x)
    if axis is None:
        t, axis = t.reshape(-1), 0
    if t.ndim == 0:
        raise ValueError("argsort: needs an input of at least 1 dimension")
    ax = _args.axis("argsort", axis, t.ndim)
    from chainrule import _tensor

    return _tensor.Tensor(_order(t.data, ax, descending))


def _order(data: np.ndarray, axis: int, descending: bool, exact: bool = True) -> np.ndarray:
    """The stable sorting order along axis; descending sorts -x stably, so ties still keep
    their order (NaN, as NumPy, last). ``exact=False``: possibly as uint32 positions, which
    ``_flat_positions`` converts in its own pass."""
    if descending:
        data = -data.astype(np.int64) if data.dtype.kind in "bu" else -data
    return _sorting.stable_order(data, axis, exact)


def sort(x: Any, axis: int | None = -1, descending: bool = False) -> Any:
    """x sorted along axis, stably; the gradient routes each element back to where it came
    from.

    >>> import chainrule as cr
    >>> cr.sort(cr.tensor([3.0, 1.0, 2.0]))
    tensor([1., 2., 3.])

    ``axis=None`` sorts the flattened input, as NumPy.
    """
    t = _args.tensor(x)
    if axis is None:
        t, axis = t.reshape(-1), 0
    if t.ndim == 0:
        raise ValueError("sort: needs an input of at least 1 dimension")
    axis = _args.axis("sort", axis, t.ndim)
    # the order is a permutation along the axis, in range by construction: no checks, and
    # the backward writes each gradient element once (no scatter-add)
    return _gather(t, _order(t.data, axis, descending, exact=False), axis, unique=True)


def topk(x: Any, k: int, axis: int = -1, largest: bool = True, sorted: bool = True) -> Any:  # noqa: A002
    """The k largest (or smallest) values along axis and their indices, as PyTorch's topk;
    of tied values the earlier index comes first. The gradient routes to the chosen elements.

    >>> import chainrule as cr
    >>> values, indices = cr.topk(cr.tensor([1.0, 4.0, 2.0, 4.0]), 2)
    >>> values, indices
    (tensor([4., 4.]), tensor([1, 3]))
    """
    t = _args.tensor(x)
    if t.ndim == 0:
        raise ValueError("topk: needs an input of at least 1 dimension")
    ax = _args.axis("topk", axis, t.ndim)
    n = t.shape[ax]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"topk: k must be an integer, got {k!r}")
    if not 0 <= k <= n:
        raise ValueError(f"topk: k={k} must be in [0, {n}] (the length of axis {ax})")
    order = _order(t.data, ax, largest)
    chosen = np.take(order, np.arange(k), axis=ax)
    if not sorted:
        chosen = np.sort(chosen, axis=ax)
    from chainrule import _tensor

    return _gather(t, chosen, ax, unique=True), _tensor.Tensor(chosen)
