"""Every public op has a docstring with an example, and the README's op table (``### The op set
by family``) lists exactly the public ops: a new op missing from it, or a name in it that is no
op, fails here, so the table cannot drift from the registry."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F  # noqa: N812
from chainrule.nn import losses
from chainrule.ops import registry

README = Path(__file__).resolve().parents[1] / "README.md"

# the README's operator tokens, and the Tensor method each one is
OPERATORS = {
    "+": "__add__", "-": "__sub__", "*": "__mul__", "/": "__truediv__", "**": "__pow__",
    "%": "__mod__", "//": "__floordiv__", "@": "__matmul__", "==": "__eq__", "!=": "__ne__",
    "<": "__lt__", "<=": "__le__", ">": "__gt__", ">=": "__ge__", "&": "__and__",
    "|": "__or__", "^": "__xor__", "~": "__invert__",
}  # fmt: skip


def _has_example(obj: Any) -> bool:
    doc = inspect.getdoc(obj) or ""
    return ">>>" in doc or "Example" in doc


def _registered_functions() -> dict[str, Any]:
    """Each registered gate's public function, by the name the README uses for it."""
    found = {}
    for facts in registry.ALL.values():
        if facts.function is None:
            continue
        fn = getattr(importlib.import_module(facts.namespace), facts.function)
        if inspect.isclass(fn):  # conv's second-order gates (applied by backward, not users)
            continue
        prefix = {"chainrule": "", "chainrule.nn.functional": "F."}[facts.namespace]
        found[prefix + facts.function] = fn
    return found


def _public_ops() -> dict[str, Any]:
    """Everything the table must list: the registry's functions, chainrule's op and creation
    functions, nn.functional's functions (but the activations it repeats from chainrule) and
    the loss modules."""
    ops = _registered_functions()
    for name in cr.__all__:
        obj = getattr(cr, name)
        module = getattr(obj, "__module__", "")
        if inspect.isfunction(obj) and module.startswith(("chainrule.ops", "chainrule.creation")):
            ops[name] = obj
    for name in ("tensor", "as_tensor", "from_numpy"):
        ops[name] = getattr(cr, name)
    for name, obj in vars(F).items():
        if inspect.isfunction(obj) and not name.startswith("_") and name not in cr.__all__:
            ops["F." + name] = obj
    for name, obj in vars(losses).items():
        if inspect.isclass(obj) and obj.__module__ == losses.__name__ and name[0] != "_":
            ops["nn." + name] = obj
    return ops


def _table() -> list[tuple[str, list[str]]]:
    """(family, the names in its ops column) for each row of the README's op table."""
    text = README.read_text()
    section = text.split("### The op set by family", 1)[1].split("\n#", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith("| family"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        names = [
            tok.replace("\\|", "|")
            for group in re.findall(r"`([^`]*)`", cells[1])
            for tok in group.split()
        ]
        rows.append((cells[0], names))
    return rows


def _resolve(name: str) -> Any:
    if name in OPERATORS:
        return getattr(cr.Tensor, OPERATORS[name], None)
    if name.startswith("nn."):
        return getattr(nn, name[3:], None)
    if name.startswith("F."):
        return getattr(F, name[2:], None)
    return getattr(cr, name, None)


@pytest.mark.parametrize("name", sorted(_public_ops()))
def test_every_public_op_has_a_docstring_with_an_example(name: str) -> None:
    assert _has_example(_public_ops()[name]), f"{name}: its docstring has no example (>>>)"


def test_every_public_function_of_chainrule_has_an_example() -> None:
    functions = [n for n in cr.__all__ if inspect.isfunction(getattr(cr, n))]
    missing = [n for n in functions if not _has_example(getattr(cr, n))]
    assert not missing, f"public functions without an example: {missing}"


def test_the_readme_table_names_only_ops() -> None:
    rows = _table()
    assert len(rows) >= 10, "the README's op table was not found"
    strays = [(fam, n) for fam, names in rows for n in names if _resolve(n) is None]
    assert not strays, f"names in the README's op table that are not ops: {strays}"
    listed = [n for _, names in rows for n in names]
    twice = sorted({n for n in listed if listed.count(n) > 1})
    assert not twice, f"listed in more than one place: {twice}"


def test_the_readme_table_lists_every_public_op() -> None:
    listed = {n for _, names in _table() for n in names}
    missing = sorted(set(_public_ops()) - listed)
    assert not missing, f"public ops missing from the README's op table: {missing}"


def test_the_check_can_fail() -> None:
    assert _resolve("no_such_op") is None and _resolve("nn.NoSuchLoss") is None
    assert _resolve("%") is cr.Tensor.__mod__ and _resolve("F.kl_div") is F.kl_div
    assert not _has_example(lambda: None)
