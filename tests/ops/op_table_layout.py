"""Op-table rows for issue 11's layout, gather/scatter and sorting functions.

These are compositions, not gates of their own: each row names the gate that carries its
gradient (``shape.Index`` for the copies of pad, roll, repeat, tile, take, sort; ``Where`` for
tril/triu; ``IndexAdd`` for diag and put_along_axis; ...) and the harness of
``test_op_table.py`` checks that the gate is in the graph, the forward against NumPy, gradients
and second derivatives against central differences, and the strict backend.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from op_table import Case, Row

import chainrule as cr
from chainrule.ops import elementwise, reduce
from chainrule.ops import shape as shape_ops
from strategies import MAX_SIDE, floats, grid, one_axis, shapes

_Index = shape_ops.Index


def _x(d: st.DrawFn, min_dims: int = 0, max_dims: int = 3) -> np.ndarray:
    return d(shapes(min_dims=min_dims, max_dims=max_dims).flatmap(floats))


@st.composite
def _moveaxis_case(d: st.DrawFn) -> Case:
    x = _x(d, min_dims=1)
    k = d(st.integers(1, x.ndim))
    src = d(st.lists(st.integers(0, x.ndim - 1), min_size=k, max_size=k, unique=True))
    dst = d(st.lists(st.integers(0, x.ndim - 1), min_size=k, max_size=k, unique=True))
    signed = [d(st.sampled_from([a, a - x.ndim])) for a in dst]
    if k == 1 and d(st.booleans()):
        return Case((x,), {"source": src[0], "destination": signed[0]})
    return Case((x,), {"source": src, "destination": signed})


@st.composite
def _two_axes_case(d: st.DrawFn) -> Case:
    x = _x(d, min_dims=1)
    return Case((x,), {"axis1": d(one_axis(x.ndim)), "axis2": d(one_axis(x.ndim))})


@st.composite
def _roll_case(d: st.DrawFn) -> Case:
    x = _x(d)
    kinds = ["flat"] + (["one", "several"] if x.ndim else [])
    kind = d(st.sampled_from(kinds))
    if kind == "flat":
        return Case((x,), {"shift": d(st.integers(-7, 7)), "axis": None})
    if kind == "one":
        return Case((x,), {"shift": d(st.integers(-7, 7)), "axis": d(one_axis(x.ndim))})
    axes = d(st.lists(st.integers(-x.ndim, x.ndim - 1), min_size=1, max_size=3))  # repeats add
    shifts = tuple(d(st.integers(-5, 5)) for _ in axes)
    return Case((x,), {"shift": shifts, "axis": tuple(axes)})


@st.composite
def _repeat_case(d: st.DrawFn) -> Case:
    x = _x(d)
    axis = d(st.one_of(st.none(), one_axis(x.ndim))) if x.ndim else None
    n = x.size if axis is None else x.shape[axis]
    per = st.lists(st.integers(0, 3), min_size=n, max_size=n)
    repeats = d(st.one_of(st.integers(0, 3), per)) if n else d(st.integers(0, 3))
    return Case((x,), {"repeats": repeats, "axis": axis})


@st.composite
def _tile_case(d: st.DrawFn) -> Case:
    x = _x(d)
    reps = tuple(d(st.lists(st.integers(0, 3), min_size=0, max_size=4)))
    return Case((x,), {"reps": d(st.sampled_from([reps, reps[:1]])) if reps else 2})


@st.composite
def _pad_case(d: st.DrawFn) -> Case:
    x = _x(d, min_dims=1)
    mode = d(st.sampled_from(["constant", "edge", "reflect"]))
    widths = tuple(
        (d(st.integers(0, 3)), d(st.integers(0, 3))) for _ in range(x.ndim)
    )  # reflect past the axis length too: NumPy reflects again
    pad_width: Any = d(st.sampled_from([widths, widths[0], widths[0][0]]))
    opts: dict[str, Any] = {"pad_width": pad_width, "mode": mode}
    if mode == "constant":
        opts["constant_values"] = d(st.sampled_from([0.0, -1.5]))
    return Case((x,), opts)


def _call_pad(x: Any, pad_width: Any, mode: str, constant_values: float = 0.0) -> Any:
    return cr.pad(x, pad_width, mode=mode, constant_values=constant_values)


def _ref_pad(x: Any, pad_width: Any, mode: str, constant_values: float = 0.0) -> Any:
    if mode == "constant":
        return np.pad(x, pad_width, mode=mode, constant_values=constant_values)
    return np.pad(x, pad_width, mode=mode)


@st.composite
def _tri_case(d: st.DrawFn) -> Case:
    x = _x(d, min_dims=2)
    return Case((x,), {"k": d(st.integers(-3, 3))})


@st.composite
def _diagonal_case(d: st.DrawFn) -> Case:
    x = _x(d, min_dims=2)
    a = d(one_axis(x.ndim))
    b = d(one_axis(x.ndim).filter(lambda b: (b - a) % x.ndim != 0))
    return Case((x,), {"offset": d(st.integers(-3, 3)), "axis1": a, "axis2": b})


@st.composite
def _diag_case(d: st.DrawFn, ndim: int) -> Case:
    x = _x(d, min_dims=ndim, max_dims=ndim)
    return Case((x,), {"k": d(st.integers(-3, 3))})


def _index_of(d: st.DrawFn, n: int, shape: Any) -> np.ndarray:
    return d(hnp.arrays(np.int64, shape, elements=st.integers(-n, n - 1)))


@st.composite
def _take_case(d: st.DrawFn) -> Case:
    x = _x(d, min_dims=1)
    axis = d(st.one_of(st.none(), one_axis(x.ndim)))
    n = x.size if axis is None else x.shape[axis]
    idx = _index_of(d, n, d(shapes(max_dims=2)))  # repeated indices accumulate
    return Case((x,), {"indices": idx, "axis": axis})


@st.composite
def _along_case(d: st.DrawFn) -> Case:
    x = _x(d, min_dims=1)
    axis = d(one_axis(x.ndim))
    shape = [d(st.sampled_from([1, n])) for n in x.shape]  # broadcast outside the axis
    shape[axis] = d(st.integers(1, MAX_SIDE + 1))
    return Case((x,), {"indices": _index_of(d, x.shape[axis], tuple(shape)), "axis": axis})


@st.composite
def _put_case(d: st.DrawFn) -> Case:
    arr = _x(d, min_dims=1)
    axis = d(one_axis(arr.ndim))
    n = arr.shape[axis]
    k = d(st.integers(1, n))
    # distinct positions along the axis in every line (a repeated write is refused)
    lines = [np.asarray(d(st.permutations(range(n))))[:k] for _ in range(arr.size // n)]
    moved = np.moveaxis(arr, axis, -1).shape[:-1]
    idx = np.moveaxis(np.stack(lines).reshape(*moved, k), -1, axis)
    idx = np.where(d(hnp.arrays(np.bool_, idx.shape)), idx - n, idx)  # negative indices too
    values = d(floats(d(st.sampled_from([idx.shape, ()]))))
    return Case((arr, values), {"indices": idx, "axis": axis})


def _ref_put(arr: Any, values: Any, indices: Any, axis: int) -> Any:
    out = arr.copy()
    np.put_along_axis(out, indices, values, axis)
    return out


@st.composite
def _sort_case(d: st.DrawFn) -> Case:
    # distinct values: where two tie, sort is not differentiable (the order swaps)
    x = d(shapes(min_dims=1).flatmap(lambda s: grid(s, unique=True, span=40)))
    return Case((x,), {"axis": d(one_axis(x.ndim)), "descending": d(st.booleans())})


def _ref_sort(x: Any, axis: int, descending: bool) -> Any:
    out = np.sort(x, axis=axis)
    return np.flip(out, axis=axis) if descending else out


@st.composite
def _topk_case(d: st.DrawFn) -> Case:
    x = d(shapes(min_dims=1).flatmap(lambda s: grid(s, unique=True, span=40)))
    axis = d(one_axis(x.ndim))
    k = d(st.integers(0, x.shape[axis]))
    return Case((x,), {"k": k, "axis": axis, "largest": d(st.booleans())})


def _ref_topk(x: Any, k: int, axis: int, largest: bool) -> Any:
    out = np.sort(x, axis=axis)
    out = np.flip(out, axis=axis) if largest else out
    return np.take(out, np.arange(k), axis=axis)


ROWS: tuple[Row, ...] = (
    Row("moveaxis", shape_ops.Transpose, _moveaxis_case(), cr.moveaxis, np.moveaxis),
    Row("swapaxes", shape_ops.Transpose, _two_axes_case(), cr.swapaxes, np.swapaxes),
    Row(
        "swapaxes_method",
        shape_ops.Transpose,
        _two_axes_case(),
        lambda x, axis1, axis2: x.swapaxes(axis1, axis2),
        np.swapaxes,
    ),
    Row(
        "ravel",
        shape_ops.Reshape,
        shapes().flatmap(floats).map(lambda x: Case((x,))),
        cr.ravel,
        np.ravel,
    ),
    Row(
        "flatten_method",
        shape_ops.Reshape,
        shapes().flatmap(floats).map(lambda x: Case((x,))),
        lambda x: x.flatten(),
        lambda x: x.flatten(),
    ),
    Row("roll", _Index, _roll_case(), cr.roll, np.roll),
    Row("repeat", _Index, _repeat_case(), cr.repeat, np.repeat),
    Row(
        "repeat_method",
        _Index,
        _repeat_case(),
        lambda x, repeats, axis: x.repeat(repeats, axis),
        np.repeat,
    ),
    Row("tile", _Index, _tile_case(), cr.tile, np.tile),
    Row("pad", _Index, _pad_case(), _call_pad, _ref_pad),
    Row("tril", elementwise.Where, _tri_case(), cr.tril, np.tril),
    Row("triu", elementwise.Where, _tri_case(), cr.triu, np.triu),
    Row("diagonal", _Index, _diagonal_case(), cr.diagonal, np.diagonal),
    Row("diagonal_method", _Index, _diagonal_case(), lambda x, **kw: x.diagonal(**kw), np.diagonal),
    Row("trace", reduce.Sum, _diagonal_case(), cr.trace, np.trace),
    Row("trace_method", reduce.Sum, _diagonal_case(), lambda x, **kw: x.trace(**kw), np.trace),
    Row("diag_of_vector", shape_ops.IndexAdd, _diag_case(1), cr.diag, np.diag),
    Row("diag_of_matrix", _Index, _diag_case(2), cr.diag, np.diag),
    Row("take", _Index, _take_case(), cr.take, np.take),
    Row(
        "take_method", _Index, _take_case(), lambda x, indices, axis: x.take(indices, axis), np.take
    ),
    Row("take_along_axis", _Index, _along_case(), cr.take_along_axis, np.take_along_axis),
    Row(
        "put_along_axis",
        shape_ops.IndexAdd,
        _put_case(),
        lambda arr, values, indices, axis: cr.put_along_axis(arr, indices, values, axis),
        _ref_put,
    ),
    Row("sort", _Index, _sort_case(), cr.sort, _ref_sort),
    Row("topk", _Index, _topk_case(), lambda x, **kw: cr.topk(x, **kw)[0], _ref_topk),
)
