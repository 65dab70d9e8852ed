"""Every row of ``op_table_more.py`` (the op set of issue 11) through the op-table checks, and
the meta-test that each gate of those families has a row and sits in ``ALL_OPS``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_table import Row
from op_table_more import FAMILIES, ROWS
from test_op_table import _call, _ops_in_graph

import chainrule as cr
from chainrule.ops import ALL_OPS, registry


def test_every_new_op_has_a_row_and_is_registered() -> None:
    tested = {row.op for row in ROWS}
    gates = [op for family in FAMILIES for op in family]
    missing = [op.__name__ for op in gates if op not in tested]
    assert not missing, f"ops without a row in tests/ops/op_table_more.py: {missing}"
    unregistered = [op.__name__ for op in gates if op not in registry.ALL]
    assert not unregistered, f"ops without @registry.op facts: {unregistered}"
    core = ("arithmetic", "elementwise", "reduce", "shape", "linalg")
    absent = [op.__name__ for op in gates if op.facts.family in core and op not in ALL_OPS]
    assert not absent, f"core-family ops missing from chainrule.ops.ALL_OPS: {absent}"
    names = [row.name for row in ROWS]
    assert len(names) == len(set(names)), "row names must be unique"


def test_every_new_gate_is_twice_differentiable_with_a_one_row_docstring() -> None:
    for op in (op for family in FAMILIES for op in family):
        assert op.differentiable_backward is True, op.__name__
        assert op.__doc__ and ";" in op.__doc__, f"{op.__name__}: docstring is not one row"


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
@given(data=st.data())
def test_forward_matches_numpy(row: Row, data: st.DataObject) -> None:
    case = data.draw(row.case, label="case")
    expected = np.asarray(row.ref(*[a.copy() for a in case.arrays], **case.options))
    _, out = _call(row, case, np.float64, requires_grad=False)
    assert out.shape == expected.shape
    assert out.dtype == expected.dtype
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("row", [r for r in ROWS if r.keeps_dtype], ids=lambda r: r.name)
@given(data=st.data())
def test_float32_stays_float32(row: Row, data: st.DataObject) -> None:
    case = data.draw(row.case, label="case")
    tensors, out = _call(row, case, np.float32, requires_grad=True)
    assert out.dtype == np.float32, f"{row.name}: float32 inputs gave {out.dtype}"
    out.backward(np.ones(out.shape, dtype=np.float32))
    for t in tensors:
        assert t.grad is not None and t.grad.dtype == np.float32
        assert t.grad.shape == t.shape


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
@given(data=st.data())
def test_gradcheck(row: Row, data: st.DataObject) -> None:
    case = data.draw(row.case, label="case")
    tensors, out = _call(row, case, np.float64, requires_grad=True)
    assert row.op in _ops_in_graph(out), f"row {row.name} never applied {row.op.__name__}"
    assert cr.gradcheck(lambda *ts: row.call(*ts, **case.options), *tensors)


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
@given(data=st.data())
@settings(max_examples=15, deadline=None)
def test_gradgradcheck(row: Row, data: st.DataObject) -> None:
    """Second derivatives: backprop through the recorded backward against differences of it."""
    case = data.draw(row.case, label="case")
    tensors, _ = _call(row, case, np.float64, requires_grad=True)
    assert cr.gradgradcheck(lambda *ts: row.call(*ts, **case.options), *tensors)
