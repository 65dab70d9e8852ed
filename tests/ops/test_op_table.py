"""Every row of the op table: forward against NumPy, gradients against central differences.

The meta-test ties the table to ``chainrule.ops.ALL_OPS``: a gate without a row, or a row for
a gate that is not in the list, fails the suite.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_table import ROWS, Case, Row
from op_table_more import ROWS as MORE_ROWS

import chainrule as cr
from chainrule.ops import ALL_OPS
from graphs import gates_in_graph

# both tables (issue 11's op set has its own, op_table_more.py) through the same checks
EVERY_ROW = (*ROWS, *MORE_ROWS)


_ops_in_graph = gates_in_graph


def test_every_op_has_a_row() -> None:
    tested = {row.op for row in (*ROWS, *MORE_ROWS)}
    missing = [op.__name__ for op in ALL_OPS if op not in tested]
    assert not missing, f"ops in ALL_OPS without a row in tests/ops/op_table.py: {missing}"


def test_every_row_names_an_op_in_all_ops() -> None:
    strays = [row.name for row in ROWS if row.op not in ALL_OPS]
    assert not strays, f"rows for ops that are not in chainrule.ops.ALL_OPS: {strays}"
    names = [row.name for row in ROWS]
    assert len(names) == len(set(names)), "row names must be unique"


def test_all_ops_lists_each_gate_once() -> None:
    assert len(ALL_OPS) == len(set(ALL_OPS))


def _call(row: Row, case: Case, dtype: Any, requires_grad: bool) -> tuple[list, cr.Tensor]:
    tensors = [cr.tensor(a.astype(dtype), requires_grad=requires_grad) for a in case.arrays]
    return tensors, row.call(*tensors, **case.options)


@pytest.mark.parametrize("row", EVERY_ROW, ids=lambda r: r.name)
@given(data=st.data())
def test_forward_matches_numpy(row: Row, data: st.DataObject) -> None:
    case = data.draw(row.case, label="case")
    expected = np.asarray(row.ref(*[a.copy() for a in case.arrays], **case.options))
    _, out = _call(row, case, np.float64, requires_grad=False)
    assert isinstance(out, cr.Tensor)
    assert out.shape == expected.shape
    assert out.dtype == expected.dtype
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("row", [r for r in ROWS if r.keeps_dtype], ids=lambda r: r.name)
@given(data=st.data())
def test_float32_stays_float32(row: Row, data: st.DataObject) -> None:
    case = data.draw(row.case, label="case")
    tensors, out = _call(row, case, np.float32, requires_grad=True)
    assert out.dtype == np.float32, f"{row.name}: float32 inputs gave {out.dtype}"
    expected = row.ref(*[a.astype(np.float32) for a in case.arrays], **case.options)
    np.testing.assert_allclose(out.data, expected, rtol=1e-5, atol=1e-5)
    out.backward(np.ones(out.shape, dtype=np.float32))
    for t in tensors:
        assert t.grad is not None and t.grad.dtype == np.float32
        assert t.grad.shape == t.shape


@pytest.mark.parametrize("row", EVERY_ROW, ids=lambda r: r.name)
@given(data=st.data())
def test_gradcheck(row: Row, data: st.DataObject) -> None:
    case = data.draw(row.case, label="case")
    tensors, out = _call(row, case, np.float64, requires_grad=True)
    assert row.op in _ops_in_graph(out), f"row {row.name} never applied {row.op.__name__}"
    assert cr.gradcheck(lambda *ts: row.call(*ts, **case.options), *tensors)


@pytest.mark.parametrize("row", EVERY_ROW, ids=lambda r: r.name)
@given(data=st.data())
@settings(max_examples=15, deadline=None)
def test_gradgradcheck(row: Row, data: st.DataObject) -> None:
    """Second derivatives: backprop through the recorded backward against differences of it."""
    case = data.draw(row.case, label="case")
    tensors, _ = _call(row, case, np.float64, requires_grad=True)
    assert row.op.differentiable_backward, f"{row.op.__name__} is not twice differentiable"
    assert cr.gradgradcheck(lambda *ts: row.call(*ts, **case.options), *tensors)
