"""The op table for the op set of issue 11 (maths, activations, scans, ...): one or more rows per
gate in those families, in the same ``Row`` form as ``op_table.py``.

``test_op_table_more.py`` runs every row through the same checks (forward against NumPy or a
loop in float64, float32 kept, gradients against central differences) and a meta-test fails
when a gate of these families has no row.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from op_table import Case, Row, binary, unary
from op_table_layout import ROWS as LAYOUT_ROWS
from op_table_losses import ROWS as LOSS_ROWS

import chainrule as cr
from chainrule.ops import activations, contract, mathfns, scan
from strategies import away_from_zero, axes_for, floats, grid, shapes

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _in(lo: float, hi: float) -> Any:
    return lambda s: floats(s, lo, hi)


def _off_steps(shape: Any) -> st.SearchStrategy[np.ndarray]:
    # 0.2 k + 0.05: fractional parts 0.05, 0.25, ..., 0.85, never near a step of
    # floor/ceil/round/trunc/sign (integers and halves)
    return grid(shape, offset=0.05)


@st.composite
def _quotient_case(d: st.DrawFn) -> Case:
    # x = (q + f) y with f in [0.1, 0.9]: x / y never near an integer, where % and // jump;
    # y is either x's shape or 0-d (a broadcast)
    sx = d(shapes())
    y = d(away_from_zero(d(st.sampled_from([sx, ()])), 0.3))
    q = d(hnp.arrays(np.int64, sx, elements=st.integers(-3, 3)))
    f = d(floats(sx, 0.1, 0.9))
    return Case(((q + f) * y, y))


def _naive_gelu(x: np.ndarray) -> np.ndarray:
    return x * 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))


def _naive_gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _softplus(x: np.ndarray, beta: float) -> np.ndarray:
    return np.log1p(np.exp(beta * x)) / beta


def _selu(x: np.ndarray) -> np.ndarray:
    a, s = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    return s * np.where(x > 0, x, a * (np.exp(x) - 1.0))


def _hardswish(x: np.ndarray) -> np.ndarray:
    return x * np.minimum(np.maximum(x + 3.0, 0.0), 6.0) / 6.0


def _unary_rows(entries: list[tuple[str, Any, Any, Any]]) -> list[Row]:
    return [
        Row(name, op, unary(values), getattr(cr, name), ref) for name, op, values, ref in entries
    ]


_M = mathfns
_A = activations

ROWS: tuple[Row, ...] = (
    *_unary_rows(
        [
            ("tan", _M.Tan, _in(-1.2, 1.2), np.tan),
            ("arcsin", _M.Arcsin, _in(-0.9, 0.9), np.arcsin),
            ("arccos", _M.Arccos, _in(-0.9, 0.9), np.arccos),
            ("arctan", _M.Arctan, floats, np.arctan),
            ("sinh", _M.Sinh, floats, np.sinh),
            ("cosh", _M.Cosh, floats, np.cosh),
            ("arcsinh", _M.Arcsinh, floats, np.arcsinh),
            ("arccosh", _M.Arccosh, _in(1.1, 3.0), np.arccosh),
            ("arctanh", _M.Arctanh, _in(-0.9, 0.9), np.arctanh),
            ("log2", _M.Log2, _in(0.2, 3.0), np.log2),
            ("log10", _M.Log10, _in(0.2, 3.0), np.log10),
            ("log1p", _M.Log1p, _in(-0.8, 3.0), np.log1p),
            ("expm1", _M.Expm1, floats, np.expm1),
            ("exp2", _M.Exp2, floats, np.exp2),
            ("square", _M.Square, floats, lambda x: x * x),
            ("reciprocal", _M.Reciprocal, away_from_zero, lambda x: 1.0 / x),
            ("sign", _M.Sign, _off_steps, np.sign),
            ("floor", _M.Floor, _off_steps, np.floor),
            ("ceil", _M.Ceil, _off_steps, np.ceil),
            ("round", _M.Round, _off_steps, np.round),
            ("trunc", _M.Trunc, _off_steps, np.trunc),
            ("erf", _M.Erf, floats, _erf),
            ("gelu", _A.Gelu, floats, _naive_gelu),
            ("silu", _A.Silu, floats, lambda x: x * _sigmoid(x)),
            ("selu", _A.Selu, away_from_zero, _selu),
            ("mish", _A.Mish, floats, lambda x: x * np.tanh(np.log1p(np.exp(x)))),
            ("softsign", _A.Softsign, away_from_zero, lambda x: x / (1.0 + np.abs(x))),
            ("logsigmoid", _A.LogSigmoid, floats, lambda x: np.log(_sigmoid(x))),
            (
                "hardsigmoid",
                _A.Hardsigmoid,
                lambda s: grid(s, 0.1, span=20),
                lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0),
            ),
            ("hardswish", _A.Hardswish, lambda s: grid(s, 0.1, span=20), _hardswish),
            ("relu6", _A.Hardtanh, lambda s: grid(s, 0.1, span=40), lambda x: np.clip(x, 0, 6)),
        ]
    ),
    Row("arctan2", _M.Arctan2, binary(away_from_zero), cr.arctan2, np.arctan2),
    Row("logaddexp", _M.LogAddExp, binary(floats), cr.logaddexp, np.logaddexp),
    Row("mod", _M.Mod, _quotient_case(), lambda x, y: x % y, np.mod),
    Row("floor_divide", _M.FloorDivide, _quotient_case(), lambda x, y: x // y, np.floor_divide),
    Row(
        "gelu_tanh",
        _A.Gelu,
        unary(floats),
        lambda x: cr.gelu(x, approximate="tanh"),
        _naive_gelu_tanh,
    ),
    Row(
        "softplus",
        _A.Softplus,
        shapes()
        .flatmap(floats)
        .flatmap(lambda x: st.sampled_from([0.5, 1.0, 2.0]).map(lambda b: Case((x,), {"beta": b}))),
        lambda x, beta: cr.softplus(x, beta=beta),
        _softplus,
    ),
    Row(
        "hardtanh",
        _A.Hardtanh,
        unary(lambda s: grid(s, 0.1)),
        cr.hardtanh,
        lambda x: np.clip(x, -1.0, 1.0),
    ),
)

FAMILIES = (mathfns.ALL, activations.ALL)


# -- scans and products ---------------------------------------------------------------------------


@st.composite
def _scan_case(d: st.DrawFn, zeros: bool = False) -> Case:
    x = d(shapes(min_dims=1).flatmap(floats))
    if zeros:  # some exact zeros, where a gradient by division would fail
        x = np.where(d(hnp.arrays(np.bool_, x.shape)), 0.0, x)
    axis = d(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1)))
    return Case((x,), {"axis": axis})


@st.composite
def _prod_case(d: st.DrawFn) -> Case:
    x = d(shapes().flatmap(lambda s: floats(s, -2.0, 2.0)))
    x = np.where(d(hnp.arrays(np.bool_, x.shape)), 0.0, x)  # zeros included
    return Case((x,), {"axis": d(axes_for(x.ndim)), "keepdims": d(st.booleans())})


@st.composite
def _flip_case(d: st.DrawFn) -> Case:
    x = d(shapes().flatmap(floats))
    return Case((x,), {"axis": d(axes_for(x.ndim))})


SCAN_ROWS: tuple[Row, ...] = (
    Row("cumsum", scan.Cumsum, _scan_case(), lambda x, axis: x.cumsum(axis), np.cumsum),
    Row("cumprod", scan.Cumprod, _scan_case(), lambda x, axis: cr.cumprod(x, axis), np.cumprod),
    Row(
        "cumprod_zeros",
        scan.Cumprod,
        _scan_case(zeros=True),
        lambda x, axis: x.cumprod(axis),
        np.cumprod,
    ),
    Row(
        "prod",
        scan.Prod,
        _prod_case(),
        lambda x, axis, keepdims: x.prod(axis=axis, keepdims=keepdims),
        np.prod,
    ),
    Row("flip", scan.Flip, _flip_case(), lambda x, axis: cr.flip(x, axis), np.flip),
)
ROWS = (*ROWS, *SCAN_ROWS)
FAMILIES = (*FAMILIES, scan.ALL)


# -- contractions ---------------------------------------------------------------------------------

# (subscripts, operand shapes): matmul, batched, attention scores, traces and diagonals, outer,
# implicit outputs, ellipses with broadcasting, lone letters summed, three operands
_EINSUMS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("bhqd,bhkd->bhqk", [(2, 1, 3, 2), (2, 1, 4, 2)]),
    ("ii", [(3, 3)]),
    ("ii->i", [(3, 3)]),
    ("iij->j", [(2, 2, 3)]),
    ("i,j->ij", [(3,), (2,)]),
    ("ij,ij", [(2, 3), (2, 3)]),
    ("ij->", [(2, 3)]),
    ("ji", [(2, 3)]),
    ("...i,...i->...", [(2, 1, 3), (4, 3)]),
    ("i...,i->...", [(3, 2, 2), (3,)]),
    ("ijk,k->i", [(2, 3, 4), (4,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 2), (2, 2)]),
    ("ab,cd->", [(2, 2), (3, 1)]),
    ("ii,i->i", [(2, 2), (2,)]),
]


@st.composite
def _einsum_case(d: st.DrawFn) -> Case:
    spec, shapes_ = d(st.sampled_from(_EINSUMS))
    return Case(tuple(d(floats(s)) for s in shapes_), {"subscripts": spec})


def _call_einsum(*xs: Any, subscripts: str) -> Any:
    return cr.einsum(subscripts, *xs)


def _ref_einsum(*xs: Any, subscripts: str) -> Any:
    return np.einsum(subscripts, *xs)


CONTRACT_ROWS: tuple[Row, ...] = (
    Row("einsum", contract.Einsum, _einsum_case(), _call_einsum, _ref_einsum),
)
ROWS = (*ROWS, *CONTRACT_ROWS)
FAMILIES = (*FAMILIES, contract.ALL)


# -- layout, gather/scatter, sorting and the losses: compositions (and the fused loss gates),
# each row naming the gate that carries it

ROWS = (*ROWS, *LAYOUT_ROWS, *LOSS_ROWS)
