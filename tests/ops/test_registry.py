"""The op registry's meta-test: every gate declares every fact, and each fact is true.

A gate (a Function subclass in chainrule.ops or chainrule.nn.functional) without facts, a
facts.function that is not a public function, a method that Tensor lacks, or a gate without a
test-table row fails here.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import numpy as np
import pytest
from op_table import ROWS
from op_table_more import ROWS as MORE_ROWS

import chainrule as cr
import chainrule.ops
from chainrule import _tensor
from chainrule.nn import functional as F  # noqa: N812
from chainrule.nn import functional_losses as FL  # noqa: N812
from chainrule.ops import ALL_OPS, registry
from chainrule.viz import expr, gates, jacobian


def _gate_classes() -> list[type]:
    modules = [F, FL] + [
        importlib.import_module(f"chainrule.ops.{m.name}")
        for m in pkgutil.iter_modules(chainrule.ops.__path__)
    ]
    found = []
    for mod in modules:
        for _, obj in inspect.getmembers(mod, inspect.isclass):
            gate = issubclass(obj, cr.Function) and obj is not cr.Function
            if gate and obj.__module__ == mod.__name__:
                found.append(obj)
    return found


def test_every_gate_is_registered() -> None:
    missing = [c.__name__ for c in _gate_classes() if c not in registry.ALL]
    assert not missing, f"gates without @registry.op facts: {missing}"


@pytest.mark.parametrize("gate", list(registry.ALL), ids=lambda c: c.__name__)
def test_facts_are_complete_and_true(gate: type) -> None:
    f = registry.ALL[gate]
    assert f.gate == gate.__name__ and gate.facts is f
    assert f.family in registry.FAMILIES
    assert f.label and f.local, "a picture label and a local gradient in words"
    assert f.function or f.method, "a way to call it: a public function or a Tensor method"
    if f.function is not None:
        module = importlib.import_module(f.namespace)
        assert callable(getattr(module, f.function, None)), f"{f.namespace}.{f.function}"
    if f.method is not None:
        assert callable(getattr(_tensor.Tensor, f.method, None)), f"Tensor.{f.method}"
    for u in f.ufuncs:
        assert isinstance(getattr(np, u), np.ufunc)
    assert gate.differentiable_backward, "every registered gate is twice differentiable"


def test_every_core_gate_has_an_op_table_row() -> None:
    rows = {r.op for r in (*ROWS, *MORE_ROWS)}
    assert set(ALL_OPS) <= rows
    assert set(ALL_OPS) == set(registry.gates("arithmetic", "elementwise", "reduce", "shape",
                                              "linalg"))  # fmt: skip


def test_derived_tables_follow_the_registry() -> None:
    facts = registry.facts_by_name()
    assert set(_tensor._UFUNCS) == {u for f in facts.values() for u in f.ufuncs}
    assert gates.UNARY["Exp"] == ("exp", "e^x") and gates.BINARY_SYMBOL["Mul"] == "*"
    assert "Maximum" in gates.ELEMENTWISE and "IndexAdd" in gates.SHAPE_OPS
    assert gates.PATTERNS["Add"].startswith("add distributes")
    assert {n for n, f in facts.items() if f.rebuildable} == jacobian.REBUILDABLE
    assert expr.UNARY["exp"] is cr.exp and expr.BINARY["max"] is cr.maximum


def test_a_bad_family_or_a_second_registration_is_refused() -> None:
    class Gate(cr.Function):
        pass

    with pytest.raises(ValueError, match="family 'nope'"):
        registry.op(family="nope", function=None, method=None, label="g", local="g")(Gate)
    with pytest.raises(ValueError, match="registered twice"):
        registry.op(family="arithmetic", function=None, method=None, label="+", local="1")(
            next(iter(registry.ALL))
        )
