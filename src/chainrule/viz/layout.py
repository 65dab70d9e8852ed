"""Left-to-right layered layout of an explained graph, as the slides draw it (no Graphviz).

Gates sit in the column of their longest path from the inputs, moved right up to the column
before their first reader (so a side branch, a loss's penalty, joins where it is used); each
input sits one column before its first consumer (so w2 of the sigmoid neuron enters next to
its ``+`` gate, as on the slide). Within a column, a few barycentric sweeps order the nodes
by the mean row of their neighbours, which removes most edge crossings. The output gets one
more column for the arrow that carries f's value and the starting gradient 1.

>>> import chainrule as cr
>>> e = cr.viz.explain_expression("(x+y)*z", {"x": -2, "y": 5, "z": -4})
>>> lay = layout(e)
>>> [lay.column[n.index] for n in e.nodes]  # x, y, q, z, f
[0, 0, 1, 1, 2]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_DRAW_NODES = 300
SWEEPS = 4


class GraphTooLargeError(ValueError):
    """The graph has too many nodes to draw legibly."""


@dataclass(frozen=True)
class Layout:
    """Pixel positions of every node's centre, and of the output arrow's end."""

    x: dict[int, float]
    y: dict[int, float]
    column: dict[int, int]
    width: float
    height: float
    output_end: tuple[float, float]
    dx: float
    vector: bool  # some value is not a scalar: labels show shapes and norms


def check_size(explanation: Any) -> None:
    n = len(explanation.nodes)
    if n > MAX_DRAW_NODES:
        raise GraphTooLargeError(
            f"the graph has {n} nodes, too many to draw (at most {MAX_DRAW_NODES}); explain a "
            "smaller piece of it, e.g. one layer on a small batch, or print the explanation"
        )


def layout(
    explanation: Any, dx: float | None = None, dy: float = 92.0, spread: float = 1.0
) -> Layout:
    """Place every node of ``explanation`` (raises GraphTooLargeError past 300 nodes);
    ``spread`` > 1 moves columns and rows further apart (room for labels that found none)."""
    check_size(explanation)
    nodes = explanation.nodes
    consumers: dict[int, list[int]] = {n.index: [] for n in nodes}
    for n in nodes:
        for j in n.inputs:
            consumers[j].append(n.index)
    col: dict[int, int] = {}
    for n in nodes:  # forward order: inputs of a gate come before it
        col[n.index] = 0 if n.is_input else 1 + max((col[j] for j in n.inputs), default=0)
    for n in reversed(nodes):  # a side branch (a loss's penalty term) moves up to its reader
        if not n.is_input and consumers[n.index]:
            col[n.index] = min(col[c] for c in consumers[n.index]) - 1
    for n in nodes:
        if n.is_input and consumers[n.index]:
            col[n.index] = min(col[c] for c in consumers[n.index]) - 1
    low = min(col.values())
    col = {k: v - low for k, v in col.items()}
    ncols = max(col.values()) + 1
    columns: list[list[int]] = [[] for _ in range(ncols)]
    for n in nodes:
        columns[col[n.index]].append(n.index)
    row = {i: float(k) for c in columns for k, i in enumerate(c)}
    for sweep in range(SWEEPS):  # barycentric ordering, forward then backward
        order = range(ncols) if sweep % 2 == 0 else range(ncols - 1, -1, -1)
        for c in order:

            def key(i: int, sweep: int = sweep) -> float:
                nbrs = list(nodes[i].inputs) if sweep % 2 == 0 else consumers[i]
                nbrs = nbrs or consumers[i] or list(nodes[i].inputs)
                return sum(row[j] for j in nbrs) / len(nbrs) if nbrs else row[i]

            columns[c].sort(key=key)
            for k, i in enumerate(columns[c]):
                row[i] = float(k)
    vector = any(n.value.size > 1 for n in nodes)
    longest = max(len(t) for e in explanation.edges for t in edge_labels(explanation, e))
    # room between two columns for the widest node's halves and the longest edge label
    widest = max(half_size(n)[0] for n in nodes)
    step_x = (dx if dx is not None else max(150.0, 7.0 * longest + 30 + 2 * widest)) * spread
    dy *= spread
    tallest = max(len(c) for c in columns)
    margin = 50.0
    xs: dict[int, float] = {}
    ys: dict[int, float] = {}
    for c, members in enumerate(columns):
        top = margin + (tallest - len(members)) * dy / 2 + 20
        for k, i in enumerate(members):
            xs[i] = margin + 30 + c * step_x
            ys[i] = top + k * dy
    out = explanation.output.index
    end = (xs[out] + step_x * 0.8, ys[out])
    width = end[0] + margin + 20
    height = margin * 2 + 20 + (tallest - 1) * dy + 30
    return Layout(xs, ys, col, width, height, end, step_x, vector)


def edge_labels(explanation: Any, edge: Any) -> tuple[str, str]:
    """The two labels of an edge: its forward value and its gradient ("" when none).

    Small values are written out; larger ones (a network's activations) show their shape and
    the gradient's norm instead, as does every non-scalar of a graph collapsed into modules.
    """
    f = explanation.format
    small = edge.value.size <= (1 if getattr(explanation, "collapsed", False) else 4)
    value = f(edge.value) if small else f"shape {tuple(edge.value.shape)}"
    if edge.grad is None:
        grad = ""
    elif small:
        grad = f(edge.grad)
    else:
        import numpy as np

        grad = f"|grad| {f(np.linalg.norm(edge.grad))}"
    return value, grad


def node_lines(node: Any) -> list[str]:
    """What a node's shape shows: its label, then its caption (a module's output shape and
    gradient norm) or else its shape when it is not a scalar."""
    lines = [node.label]
    if node.caption:
        lines.extend(node.caption)
    elif node.value.size > 1:
        lines.append("x".join(str(d) for d in node.shape))
    return lines


def half_size(node: Any) -> tuple[float, float]:
    """Half the width and height of a node's shape (a circle for short gate labels)."""
    lines = node_lines(node)
    w = max(len(s) for s in lines)
    if getattr(node, "module", None) is not None:
        return max(30.0, 4.2 * w + 12), 7.0 * len(lines) + 12  # a box, never a circle
    return max(20.0, 4.2 * w + 10), 20.0 if len(lines) == 1 else 26.0


def step_index(explanation: Any) -> tuple[dict[int, int], dict[int | None, int]]:
    """For the stepper: the step at which each node's value is computed (forward), and the
    step at which the gradients into each gate's inputs are computed (backward; the key None
    is the output's starting gradient)."""
    fwd: dict[int, int] = {}
    bwd: dict[int | None, int] = {}
    for k, s in enumerate(explanation.steps):
        if s.kind == "forward" and s.node is not None:
            fwd[s.node] = k
        elif s.kind == "backward":
            bwd.setdefault(s.node, k)
    return fwd, bwd
