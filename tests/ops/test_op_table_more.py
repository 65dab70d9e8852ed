"""The meta-tests of ``op_table_more.py`` (the op set of issue 11): each gate of those families
has a row and sits in ``ALL_OPS``; and its float32 check. Forward, gradcheck and gradgradcheck
of its rows run in ``test_op_table.py``, with the core table's."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from op_table import Row
from op_table_more import FAMILIES, ROWS
from test_op_table import _call

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
