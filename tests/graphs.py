"""Test helper: which gates a computation applied (for the tables' "every gate is reached")."""

from __future__ import annotations

import chainrule as cr


def gates_in_graph(out: cr.Tensor) -> set[type]:
    """The gate types of every node reachable from ``out`` (iterative walk, each node once)."""
    seen: set[int] = set()
    kinds: set[type] = set()
    stack = [out._node] if out._node is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        kinds.add(type(node))
        stack += [t._node for t in node.inputs if isinstance(t, cr.Tensor) and t._node]
    return kinds
