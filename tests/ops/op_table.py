"""The op test table: one or more rows per gate in ``chainrule.ops.ALL_OPS``.

A row says how to draw the inputs (shapes and the domain where the op is smooth), how to call
the op through the public API, and NumPy's answer for the forward pass. ``test_op_table.py``
checks every row's forward against NumPy and its gradients with ``chainrule.gradcheck``, and a
meta-test fails when a gate has no row. Adding an op: add its row here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from chainrule.function import Function
from chainrule.ops import arithmetic, elementwise, linalg, reduce
from chainrule.ops import shape as shape_ops
from strategies import (
    MAX_SIDE,
    away_from_zero,
    axes_for,
    broadcast_shapes,
    broadcast_target,
    floats,
    grid,
    matmul_shapes,
    one_axis,
    shapes,
)


@dataclass(frozen=True)
class Case:
    """Differentiable input arrays, and options (constants) passed to call and ref by name."""

    arrays: tuple[np.ndarray, ...]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    """How to test one op: draw a Case, call chainrule on Tensors, compute NumPy's answer."""

    name: str
    op: type[Function]
    case: st.SearchStrategy[Case]
    call: Callable[..., Any]
    ref: Callable[..., np.ndarray]
    keeps_dtype: bool = True  # a float32 input gives a float32 output


# -- case builders -------------------------------------------------------------------------------


def unary(values: Callable[[Any], st.SearchStrategy[np.ndarray]], **shape_kw: Any) -> Any:
    return shapes(**shape_kw).flatmap(values).map(lambda x: Case((x,)))


def binary(
    x_values: Callable[[Any], st.SearchStrategy[np.ndarray]],
    y_values: Callable[[Any], st.SearchStrategy[np.ndarray]] | None = None,
) -> Any:
    @st.composite
    def draw(d: st.DrawFn) -> Case:
        sx, sy = d(broadcast_shapes(2))
        return Case((d(x_values(sx)), d((y_values or x_values)(sy))))

    return draw()


@st.composite
def with_axes(
    d: st.DrawFn,
    values: Callable[[Any], st.SearchStrategy[np.ndarray]] = floats,
    min_dims: int = 0,
    keepdims: bool = True,
    ddof: bool = False,
) -> Case:
    x = d(shapes(min_dims=min_dims).flatmap(values))
    options: dict[str, Any] = {"axis": d(axes_for(x.ndim))}
    if keepdims:
        options["keepdims"] = d(st.booleans())
    if ddof:
        axes = range(x.ndim) if options["axis"] is None else np.atleast_1d(options["axis"])
        n = int(np.prod([x.shape[a] for a in axes]))
        options["ddof"] = d(st.integers(0, min(n - 1, 2)))
    return Case((x,), options)


@st.composite
def softmax_case(d: st.DrawFn) -> Case:
    x = d(shapes(min_dims=1).flatmap(lambda s: floats(s, -5, 5)))
    return Case((x,), {"axis": d(one_axis(x.ndim))})


@st.composite
def matmul_case(d: st.DrawFn) -> Case:
    sx, sy = d(matmul_shapes())
    return Case((d(floats(sx)), d(floats(sy))))


@st.composite
def pow_scalar_case(d: st.DrawFn) -> Case:
    p = d(st.sampled_from([2, 3, -1, -2, 0.5, 1.5]))
    s = d(shapes())
    x = d(floats(s, 0.2, 3.0) if isinstance(p, float) else away_from_zero(s, 0.2))
    return Case((x,), {"p": p})


@st.composite
def clip_case(d: st.DrawFn) -> Case:
    # grid offset 0.1 never hits the bounds -1, 1 (nor any multiple of 0.2)
    x = d(shapes().flatmap(lambda s: grid(s, offset=0.1, span=10)))
    lo, hi = d(st.sampled_from([(-1.0, 1.0), (None, 1.0), (-1.0, None), (-0.6, -0.2)]))
    return Case((x,), {"a_min": lo, "a_max": hi})


@st.composite
def where_case(d: st.DrawFn) -> Case:
    sc, sx, sy = d(broadcast_shapes(3))
    cond = d(hnp.arrays(np.bool_, sc))
    return Case((d(floats(sx)), d(floats(sy))), {"cond": cond})


@st.composite
def reshape_case(d: st.DrawFn) -> Case:
    x = d(shapes().flatmap(floats))
    s = x.shape
    target = d(st.sampled_from([(-1,), (x.size,), s[::-1], (1, *s), (*s, 1), (-1, *s[1:])]))
    return Case((x,), {"shape": target})


@st.composite
def transpose_case(d: st.DrawFn) -> Case:
    x = d(shapes().flatmap(floats))
    perm = d(st.permutations(range(x.ndim)))
    signed = tuple(d(st.sampled_from([a, a - x.ndim])) for a in perm)  # negative axes too
    return Case((x,), {"axes": d(st.sampled_from([None, tuple(perm), signed]))})


@st.composite
def broadcast_to_case(d: st.DrawFn) -> Case:
    shape, target = d(broadcast_target())
    return Case((d(floats(shape)),), {"shape": target})


@st.composite
def expand_dims_case(d: st.DrawFn) -> Case:
    x = d(shapes().flatmap(floats))
    n = x.ndim + 1  # axes of the output
    axis = d(st.one_of(st.integers(-n, n - 1), st.just((0, -1)) if n > 1 else st.just(0)))
    return Case((x,), {"axis": axis})


@st.composite
def squeeze_case(d: st.DrawFn) -> Case:
    s = d(shapes(max_dims=4).map(lambda s: tuple(1 if k % 2 else v for k, v in enumerate(s))))
    x = d(floats(s))
    ones = [a for a, v in enumerate(s) if v == 1]
    choices: list[Any] = [None]
    if ones:
        a = d(st.sampled_from(ones))
        choices += [a, a - len(s), tuple(ones)]
    return Case((x,), {"axis": d(st.sampled_from(choices))})


@st.composite
def index_case(d: st.DrawFn) -> Case:
    """Basic indices (0-d inputs too), integer arrays with repeats, boolean masks, mixtures."""
    x = d(shapes(min_dims=0).flatmap(floats))
    s = x.shape
    kinds = ["basic"]
    if x.ndim > 0:
        kinds += ["integer", "repeat", "mask", "mask_rows"] + (["mixed"] if x.ndim > 1 else [])
    kind = d(st.sampled_from(kinds))
    index: Any
    if kind == "basic":
        index = d(hnp.basic_indices(s, allow_newaxis=True, allow_ellipsis=True))
    elif kind == "integer":
        index = d(hnp.integer_array_indices(s))
    elif kind == "repeat":  # x[[0, 0, 1]]: the gradient of a repeated element accumulates
        index = d(st.lists(st.integers(-s[0], s[0] - 1), min_size=1, max_size=6))
    elif kind == "mask":
        index = d(hnp.arrays(np.bool_, s))
    elif kind == "mask_rows":
        index = d(hnp.arrays(np.bool_, s[:1]))
    else:  # a slice first, then an integer array with repeats
        rows = slice(d(st.integers(0, s[0] - 1)), None)
        cols = d(st.lists(st.integers(0, s[-1] - 1), min_size=1, max_size=5))
        index = (rows, Ellipsis, np.array(cols))
    return Case((x,), {"index": index})


def _np_index(index: Any) -> Any:
    return np.asarray(index) if isinstance(index, list) else index


@st.composite
def index_add_case(d: st.DrawFn) -> Case:
    """Rows of x scattered into a (n, ...) array of zeros, some rows hit twice (accumulate)."""
    n = d(st.integers(1, MAX_SIDE))
    rows = d(st.lists(st.integers(0, n - 1), min_size=1, max_size=5))
    tail = d(shapes(max_dims=2))
    x = d(floats((len(rows), *tail)))
    return Case((x,), {"shape": (n, *tail), "index": np.array(rows)})


def _index_add(x: np.ndarray, shape: tuple[int, ...], index: np.ndarray) -> np.ndarray:
    out = np.zeros(shape, dtype=x.dtype)
    for k, i in enumerate(index):  # a loop: the independent reference for np.add.at
        out[i] += x[k]
    return out


@st.composite
def concatenate_case(d: st.DrawFn) -> Case:
    base = d(shapes(min_dims=1))
    axis = d(one_axis(len(base)))
    arrays = []
    for _ in range(d(st.integers(1, 3))):
        s = list(base)
        s[axis] = d(st.integers(1, MAX_SIDE))
        arrays.append(d(floats(tuple(s))))
    return Case(tuple(arrays), {"axis": axis})


@st.composite
def stack_case(d: st.DrawFn) -> Case:
    s = d(shapes())
    arrays = tuple(d(floats(s)) for _ in range(d(st.integers(1, 3))))
    return Case(arrays, {"axis": d(st.integers(-len(s) - 1, len(s)))})


@st.composite
def cast_case(d: st.DrawFn) -> Case:
    x = d(shapes().flatmap(floats))
    return Case((x,), {"dtype": d(st.sampled_from([np.float64, np.longdouble]))})


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _naive_logsumexp(x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


def _naive_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def _unique_grid(s: Any) -> st.SearchStrategy[np.ndarray]:
    return grid(s, unique=True, span=40)


# -- the table -----------------------------------------------------------------------------------

ROWS: tuple[Row, ...] = (
    # arithmetic
    Row("add", arithmetic.Add, binary(floats), lambda x, y: x + y, np.add),
    Row("sub", arithmetic.Sub, binary(floats), lambda x, y: x - y, np.subtract),
    Row("mul", arithmetic.Mul, binary(floats), lambda x, y: x * y, np.multiply),
    Row("div", arithmetic.Div, binary(floats, away_from_zero), lambda x, y: x / y, np.divide),
    Row("neg", arithmetic.Neg, unary(floats), lambda x: -x, np.negative),
    Row(
        "pow",
        arithmetic.Pow,
        binary(lambda s: floats(s, 0.3, 3.0), lambda s: floats(s, -2.0, 2.0)),
        lambda x, y: x**y,
        np.power,
    ),
    Row("pow_scalar", arithmetic.Pow, pow_scalar_case(), lambda x, p: x**p, lambda x, p: x**p),
    Row("rpow", arithmetic.Pow, unary(floats), lambda x: 2.0**x, lambda x: 2.0**x),
    # elementwise
    Row("exp", elementwise.Exp, unary(floats), cr.exp, np.exp),
    Row("log", elementwise.Log, unary(lambda s: floats(s, 0.1, 5.0)), lambda x: x.log(), np.log),
    Row("sqrt", elementwise.Sqrt, unary(lambda s: floats(s, 0.1, 5.0)), cr.sqrt, np.sqrt),
    Row("abs", elementwise.Abs, unary(away_from_zero), abs, np.abs),
    Row("sin", elementwise.Sin, unary(floats), cr.sin, np.sin),
    Row("cos", elementwise.Cos, unary(floats), lambda x: x.cos(), np.cos),
    Row("tanh", elementwise.Tanh, unary(floats), cr.tanh, np.tanh),
    Row("sigmoid", elementwise.Sigmoid, unary(lambda s: floats(s, -8, 8)), cr.sigmoid, _sigmoid),
    Row("relu", elementwise.ReLU, unary(away_from_zero), cr.relu, lambda x: np.maximum(x, 0)),
    Row(
        "leaky_relu",
        elementwise.LeakyReLU,
        unary(away_from_zero),
        lambda x: cr.leaky_relu(x, 0.2),
        lambda x: np.where(x > 0, x, 0.2 * x),
    ),
    Row(
        "elu",
        elementwise.ELU,
        unary(away_from_zero),
        lambda x: x.elu(alpha=0.7),
        lambda x: np.where(x > 0, x, 0.7 * (np.exp(x) - 1)),
    ),
    Row(
        "maximum",
        elementwise.Maximum,
        binary(grid, lambda s: grid(s, offset=0.1)),
        cr.maximum,
        np.maximum,
    ),
    Row(
        "minimum",
        elementwise.Minimum,
        binary(grid, lambda s: grid(s, offset=0.1)),
        cr.minimum,
        np.minimum,
    ),
    Row(
        "clip",
        elementwise.Clip,
        clip_case(),
        lambda x, a_min, a_max: x.clip(a_min, a_max),
        lambda x, a_min, a_max: np.clip(x, a_min, a_max),
    ),
    Row(
        "where",
        elementwise.Where,
        where_case(),
        lambda x, y, cond: cr.where(cond, x, y),
        lambda x, y, cond: np.where(cond, x, y),
    ),
    Row(
        "cast",
        elementwise.Cast,
        cast_case(),
        lambda x, dtype: x.astype(dtype),
        lambda x, dtype: x.astype(dtype),
        keeps_dtype=False,
    ),
    # reductions
    Row(
        "sum",
        reduce.Sum,
        with_axes(),
        lambda x, axis, keepdims: x.sum(axis=axis, keepdims=keepdims),
        np.sum,
    ),
    Row(
        "mean",
        reduce.Mean,
        with_axes(),
        lambda x, axis, keepdims: cr.mean(x, axis=axis, keepdims=keepdims),
        np.mean,
    ),
    Row(
        "var",
        reduce.Var,
        with_axes(ddof=True),
        lambda x, axis, keepdims, ddof: x.var(axis=axis, keepdims=keepdims, ddof=ddof),
        np.var,
    ),
    Row(
        "std",
        reduce.Std,
        with_axes(_unique_grid, ddof=True),
        lambda x, axis, keepdims, ddof: cr.std(x, axis=axis, keepdims=keepdims, ddof=ddof),
        np.std,
    ),
    Row(
        "max",
        reduce.Max,
        with_axes(_unique_grid),
        lambda x, axis, keepdims: x.max(axis=axis, keepdims=keepdims),
        np.max,
    ),
    Row(
        "min",
        reduce.Min,
        with_axes(_unique_grid),
        lambda x, axis, keepdims: cr.min(x, axis=axis, keepdims=keepdims),
        np.min,
    ),
    Row("softmax", reduce.Softmax, softmax_case(), cr.softmax, _naive_softmax),
    Row(
        "log_softmax",
        reduce.LogSoftmax,
        softmax_case(),
        lambda x, axis: x.log_softmax(axis=axis),
        lambda x, axis: np.log(_naive_softmax(x, axis)),
    ),
    Row(
        "logsumexp",
        reduce.LogSumExp,
        with_axes(lambda s: floats(s, -5, 5)),
        lambda x, axis, keepdims: cr.logsumexp(x, axis=axis, keepdims=keepdims),
        _naive_logsumexp,
    ),
    # linear algebra
    Row("matmul", linalg.MatMul, matmul_case(), lambda x, y: x @ y, np.matmul),
    # shape
    Row(
        "reshape",
        shape_ops.Reshape,
        reshape_case(),
        lambda x, shape: x.reshape(shape),
        lambda x, shape: x.reshape(shape),
    ),
    Row(
        "transpose",
        shape_ops.Transpose,
        transpose_case(),
        lambda x, axes: cr.transpose(x, axes),
        lambda x, axes: np.transpose(x, axes),
    ),
    Row(
        "broadcast_to",
        shape_ops.BroadcastTo,
        broadcast_to_case(),
        lambda x, shape: cr.broadcast_to(x, shape),
        lambda x, shape: np.broadcast_to(x, shape),
    ),
    Row(
        "expand_dims",
        shape_ops.ExpandDims,
        expand_dims_case(),
        lambda x, axis: cr.expand_dims(x, axis),
        np.expand_dims,
    ),
    Row(
        "squeeze",
        shape_ops.Squeeze,
        squeeze_case(),
        lambda x, axis: x.squeeze(axis),
        lambda x, axis: np.squeeze(x, axis),
    ),
    Row(
        "index",
        shape_ops.Index,
        index_case(),
        lambda x, index: x[index],
        lambda x, index: np.asarray(x[_np_index(index)]),
    ),
    Row(
        "index_add",
        shape_ops.IndexAdd,
        index_add_case(),
        lambda x, shape, index: shape_ops.IndexAdd.apply(x, shape=shape, index=index),
        _index_add,
    ),
    Row(
        "concatenate",
        shape_ops.Concatenate,
        concatenate_case(),
        lambda *xs, axis: cr.concatenate(xs, axis=axis),
        lambda *xs, axis: np.concatenate(xs, axis=axis),
    ),
    Row(
        "stack",
        shape_ops.Stack,
        stack_case(),
        lambda *xs, axis: cr.stack(xs, axis=axis),
        lambda *xs, axis: np.stack(xs, axis=axis),
    ),
)
