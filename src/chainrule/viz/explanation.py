"""``explain(y)``: the forward and backward pass of a graph, step by step, with the numbers.

The explanation walks the graph recorded behind ``y`` (``t._node`` is the gate that made ``t``,
``t._node.inputs`` its inputs) for the forward pass, and for the backward pass runs the
engine's own walk (``engine.run``) under an observer (``engine.observe``), retaining the graph
and capturing the leaves' gradients instead of writing ``.grad``: every number it shows is
the one ``backward()`` computes, hooks, ``retain_grad`` and fan-out included. Everything is
kept as data (``nodes``, ``edges``, ``steps``) that the text, the pictures (``viz.svg``,
``viz.png``) and the HTML stepper (``viz.html``) all read.

>>> import chainrule as cr
>>> x, y, z = (cr.tensor(v, requires_grad=True, dtype="float64") for v in (-2.0, 5.0, -4.0))
>>> x.name, y.name, z.name = "x", "y", "z"
>>> e = cr.explain((x + y) * z)
>>> [(n.name, n.value.item(), n.grad.item()) for n in e.inputs]
[('x', -2.0, -4.0), ('y', 5.0, -4.0), ('z', -4.0, 3.0)]
>>> print(e.steps[-2].text)
q = x + y: add distributes: each input gets the upstream gradient unchanged
  to x: upstream -4.00, local 1, downstream -4.00
  to y: upstream -4.00, local 1, downstream -4.00
>>> x.grad is None
True
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule import _tensor, engine
from chainrule import anomaly as anomaly_mod
from chainrule.viz import gates, modules

MAX_EXPLAIN_NODES = 20_000  # beyond this the text itself is no help; pictures stop at 300
INLINE_SIZE = 8  # arrays with at most this many elements are written out in full
_POOL = "qrstuvghkmpabcde"  # names for intermediates, as the lecture's q = x + y


@dataclass(frozen=True)
class Node:
    """One value in the graph: an input (a leaf or a constant tensor) or a gate's output.

    ``grad`` is the gradient of the explained output with respect to this value, summed over
    every branch it feeds (None when no gradient flows to it).
    """

    index: int
    name: str
    op: str | None  # the gate's class name; None for an input
    label: str  # what the picture draws: x, +, *, exp, 1/x, *-1
    formula: str  # what it computes: "x + y"; the name for an input
    inputs: tuple[int, ...]  # indices of the nodes it reads
    value: np.ndarray
    grad: np.ndarray | None
    requires_grad: bool
    anomaly: str | None = None
    module: str | None = None  # a collapsed module call: the module's repr (see viz.modules)
    caption: tuple[str, ...] = ()  # lines drawn under the label (default: the shape)
    members: tuple[str, ...] = ()  # a module call's gates: "q = linear(x, w, b)" ...

    @property
    def is_input(self) -> bool:
        return self.op is None

    @property
    def is_module(self) -> bool:
        return self.module is not None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.value.shape)


@dataclass(frozen=True)
class Edge:
    """A value flowing from ``source`` into input ``slot`` of ``target`` (None: the output).

    ``grad`` is the gradient that flows back along this edge alone (the branches of a value
    that fans out add up to the value's ``Node.grad``).
    """

    source: int
    target: int | None
    slot: int
    value: np.ndarray
    grad: np.ndarray | None


@dataclass(frozen=True)
class Term:
    """One downstream gradient of a backward step: upstream x local = downstream."""

    input: int
    local: str
    downstream: np.ndarray
    note: str = ""  # e.g. the sum back over broadcast axes


@dataclass(frozen=True)
class Step:
    """One step of the walk-through: ``forward`` (a node computed), ``backward`` (a gate's
    backward ran) or ``gradients`` (the inputs' gradients, the result)."""

    kind: str
    node: int | None
    text: str
    upstream: np.ndarray | None = None
    terms: tuple[Term, ...] = ()
    pattern: str = ""
    branches: tuple[tuple[int, np.ndarray], ...] = ()


@dataclass
class _Walk:
    """Scratch state of one explanation build."""

    tensors: list[Any] = field(default_factory=list)  # forward order
    index: dict[Any, int] = field(default_factory=dict)  # key(tensor) -> index


def _key(t: Any) -> Any:
    return t._node if t._node is not None else t


def _collect(root: Any) -> _Walk:
    """Every tensor the root depends on, inputs before the gates that read them (iterative)."""
    w = _Walk()
    stack: list[tuple[Any, int]] = [(root, 0)]
    on_stack = {_key(root)}
    while stack:
        t, i = stack.pop()
        ins = t._node.inputs if t._node is not None else ()
        while i < len(ins) and not (
            isinstance(ins[i], _tensor.Tensor)
            and _key(ins[i]) not in w.index
            and _key(ins[i]) not in on_stack
        ):
            i += 1
        if i < len(ins):
            stack.append((t, i + 1))
            stack.append((ins[i], 0))
            on_stack.add(_key(ins[i]))
            continue
        w.index[_key(t)] = len(w.tensors)
        w.tensors.append(t)
        if len(w.tensors) > MAX_EXPLAIN_NODES:
            raise ValueError(
                f"explain: the graph has more than {MAX_EXPLAIN_NODES} nodes; explain a "
                "smaller piece of it (e.g. one layer's output on a small batch)"
            )
    return w


def _fmt(precision: int, inline: int = INLINE_SIZE) -> gates.Fmt:
    def f(v: Any) -> str:
        a = np.asarray(v)
        if a.size == 1:
            return _scalar(a.reshape(()).item(), precision)
        if a.size <= inline:
            return _nested(a.tolist(), precision)
        return f"<shape {a.shape}, norm {_scalar(float(np.linalg.norm(a)), precision)}>"

    return f


def _scalar(x: Any, p: int) -> str:
    if isinstance(x, bool | int | np.integer):
        return str(x)
    x = float(x)
    if np.isnan(x):
        return "nan"
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x != 0 and not 0.5 * 10.0**-p <= abs(x) < 1e6:
        return f"{x:.{max(p, 1)}e}"  # too small to show in p decimals, or too long: 1.00e-07
    s = f"{x:.{p}f}"
    return s[1:] if s.startswith("-") and float(s) == 0 else s


def _nested(v: Any, p: int) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_nested(e, p) for e in v) + "]"
    return _scalar(v, p)


def _bad(a: np.ndarray) -> str | None:
    if a.dtype.kind not in "fc" or np.isfinite(a).all():
        return None
    return "nan" if np.isnan(a).any() else "inf"


def _caller_names(depth: int) -> dict[int, str]:
    """id(tensor) -> the variable name the caller gave it (q, f ...), for the lecture's names."""
    try:
        frame = sys._getframe(depth + 1)
    except ValueError:  # no such frame
        return {}
    try:
        found: dict[int, str] = {}
        for name, obj in frame.f_locals.items():
            if isinstance(obj, _tensor.Tensor) and not name.startswith("_"):
                found.setdefault(id(obj), name)
        return found
    finally:
        del frame


class Explanation:
    """The forward and backward pass of one graph, as data and as text (see ``explain``).

    ``nodes`` are in forward order; ``edges`` carry each value and the gradient flowing back
    along them; ``steps`` are the walk-through: forward steps, then backward steps in the
    order backprop runs, then the inputs' gradients. ``print(e)`` writes it all out.
    ``collapsed``: a network's graph drawn one node per module call (see ``viz.modules``).
    """

    def __init__(
        self,
        nodes: list[Node],
        edges: list[Edge],
        steps: list[Step],
        output: int,
        precision: int,
        note: str | None,
        title: str | None,
        fns: list[Any],
        collapsed: bool = False,
    ) -> None:
        self.nodes = tuple(nodes)
        self.edges = tuple(edges)
        self.steps = tuple(steps)
        self.output = self.nodes[output]
        self.precision = precision
        self.note = note  # why the backward pass is missing, when it is
        self.title = title or self.output.name
        self._fns = fns  # the gate behind each node (None for inputs and modules), for the lens
        self.collapsed = collapsed
        # collapsed: every non-scalar as its shape and norm, as the pictures show it
        self.format = _fmt(precision, 1 if collapsed else INLINE_SIZE)

    # -- data -------------------------------------------------------------------------------

    @property
    def inputs(self) -> tuple[Node, ...]:
        """The input nodes (leaves), in the order the forward pass reads them."""
        return tuple(n for n in self.nodes if n.is_input)

    @property
    def gradients(self) -> dict[str, np.ndarray]:
        """Name -> gradient of the output, for every input that receives one."""
        return {n.name: n.grad for n in self.inputs if n.grad is not None}

    @property
    def values(self) -> dict[str, np.ndarray]:
        """Name -> forward value, for every node."""
        return {n.name: n.value for n in self.nodes}

    @property
    def node_gradients(self) -> dict[str, np.ndarray]:
        """Name -> gradient of the output, for every node that receives one (gates too)."""
        return {n.name: n.grad for n in self.nodes if n.grad is not None}

    @property
    def anomaly(self) -> Node | None:
        """The node where a NaN or inf first appeared (None when every value is finite)."""
        return next((n for n in self.nodes if n.anomaly), None)

    def node(self, key: str | int | Node) -> Node:
        """A node by name, index or itself: ``e.node("q")``."""
        if isinstance(key, Node):
            return self.nodes[key.index]
        if isinstance(key, int):
            return self.nodes[key]
        for n in self.nodes:
            if n.name == key:
                return n
        names = ", ".join(n.name for n in self.nodes[:20])
        raise KeyError(f"explanation has no node named {key!r}; its nodes are {names}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (numbers formatted as the text shows them), for the stepper."""

        f = self.format
        return {
            "title": self.title,
            "note": self.note,
            "collapsed": self.collapsed,
            "nodes": [
                {
                    "index": n.index,
                    "name": n.name,
                    "op": n.op,
                    "label": n.label,
                    "formula": n.formula,
                    "inputs": list(n.inputs),
                    "shape": list(n.shape),
                    "value": f(n.value),
                    "grad": None if n.grad is None else f(n.grad),
                    "anomaly": n.anomaly,
                    "module": n.module,
                    "caption": list(n.caption),
                    "members": list(n.members),
                }
                for n in self.nodes
            ],
            "edges": [
                {
                    "source": e.source,
                    "target": e.target,
                    "slot": e.slot,
                    "value": f(e.value),
                    "grad": None if e.grad is None else f(e.grad),
                }
                for e in self.edges
            ],
            "steps": [
                {
                    "kind": s.kind,
                    "node": s.node,
                    "text": s.text,
                    "upstream": None if s.upstream is None else f(s.upstream),
                    "terms": [
                        {"input": t.input, "local": t.local, "downstream": f(t.downstream)}
                        for t in s.terms
                    ],
                }
                for s in self.steps
            ],
        }

    # -- text -------------------------------------------------------------------------------

    def text(self) -> str:
        """The forward table, then the backward steps, then the gradients."""
        f = self.format
        rows = [("name", "gate", "computes", "value")]
        for n in self.nodes:
            mark = f"   <-- {n.anomaly}" if n.anomaly else ""
            rows.append((n.name, "input" if n.is_input else n.label, n.formula, f(n.value) + mark))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        vw = max(len(r[3].split("   <--")[0]) for r in rows)
        lines = [f"Explanation of {self.title}"]
        if self.collapsed:
            lines.append(
                "(one node per module call, gradients as norms; explain(y, collapse=False) "
                "shows every gate)"
            )
        lines += ["", "Forward pass"]
        for r in rows:
            cells = "  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True))
            value, _, mark = r[3].partition("   <--")
            tail = f"   <--{mark}" if mark else ""
            lines.append(f"  {cells}  {value.rjust(vw) if r is not rows[0] else value}{tail}")
        bad = self.anomaly
        if bad is not None:
            lines += ["", f"!! {bad.name} = {bad.formula}: {bad.anomaly}"]
        backward = [s for s in self.steps if s.kind != "forward"]
        lines += ["", "Backward pass (in the order backprop runs: upstream, local, downstream)"]
        if self.note:
            lines.append(f"  {self.note}")
        for s in backward:
            lines += ["  " + line for line in s.text.splitlines()]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        modules = sum(n.is_module for n in self.nodes)
        return (
            f"<Explanation of {self.title}: {len(self.nodes)} nodes"
            + (f" ({modules} modules)" if modules else "")
            + f", {sum(s.kind == 'backward' for s in self.steps)} backward steps>"
        )

    # -- pictures and the lens (each lives in its own module) -------------------------------

    def to_svg(self, path: str | None = None) -> str:
        """The graph as SVG text (values green above each edge, gradients red below)."""
        from chainrule.viz import svg

        return svg.write(self, path)

    def to_png(self, path: str, dpi: int = 110, size: tuple[float, float] | None = None) -> None:
        """The graph as a PNG file (matplotlib, Agg backend); ``size`` is (width, height) in
        inches, the graph scaled to fit it (default: the size the graph needs)."""
        from chainrule.viz import png

        png.write(self, path, dpi=dpi, size=size)

    def to_html(self, path: str | None = None) -> str:
        """A self-contained page stepping through the forward and backward pass."""
        from chainrule.viz import html

        return html.write(self, path)

    def jacobian(self, node: str | int | Node) -> Any:
        """The Jacobian lens on one gate: its Jacobian, its structure, and the VJP backprop
        computes instead (see ``viz.jacobian``)."""
        from chainrule.viz import jacobian

        n = self.node(node)
        if n.module is not None:
            raise ValueError(
                f"{n.name} is a module call ({n.module}), not one gate: explain(y, "
                "collapse=False) shows its gates, each with its Jacobian"
            )
        return jacobian.lens(self, n)

    def _repr_svg_(self) -> str | None:
        from chainrule.viz import layout

        if len(self.nodes) > layout.MAX_DRAW_NODES:
            return None
        return self.to_svg()

    def _repr_html_(self) -> str:
        import html as _html

        from chainrule.viz import layout

        text = f"<pre>{_html.escape(self.text())}</pre>"
        if len(self.nodes) > layout.MAX_DRAW_NODES:
            return text
        return f"<div>{self.to_svg()}<details><summary>steps</summary>{text}</details></div>"


def explain(
    y: Any,
    *,
    gradient: Any = None,
    names: Mapping[str, Any] | None = None,
    anomaly: anomaly_mod.AnomalyError | None = None,
    precision: int | None = None,
    title: str | None = None,
    model: Any = None,
    collapse: bool | None = None,
) -> Explanation:
    """Explain the graph behind ``y``: its forward values and every step of its backward pass.

    The backward pass shown is the engine's own, run once with the graph retained: no
    ``.grad`` is written and the graph can still be backpropagated. Hooks run as they would in
    ``backward()`` (what they return is what the explanation shows), and an error backward
    would raise (a tensor changed in place) is raised.
    Call it *before* ``y.backward()`` (which frees what the gates saved) or after
    ``y.backward(retain_graph=True)``.

    ``names`` maps names to tensors (``{"q": q}``); without it, the caller's variable names
    and each tensor's ``.name`` are used, and the rest are named q, r, s ... (the output f).
    ``gradient`` is the upstream gradient for a non-scalar ``y``. ``y`` may also be an
    ``AnomalyError`` raised under ``detect_anomaly()`` in a forward pass (the graph up to the
    gate that made the NaN is explained), and ``anomaly=err`` marks the gate named by an error
    raised in a backward pass. A NaN or inf is marked where it first appeared in any case.

    A network's graph (built by ``chainrule.nn`` modules, with non-scalar values) collapses
    into one node per call of a leaf module (Linear, ReLU ...), showing shapes and gradient
    norms; gates outside any module (the loss) stay gates. ``collapse=False`` shows every gate,
    ``collapse=True`` collapses a scalar graph too. Modules are named from the outermost
    module's ``named_modules()`` (``layers.0``), or from ``model``'s when given.

    >>> import chainrule as cr
    >>> w = cr.tensor(3.0, requires_grad=True, dtype="float64")
    >>> print(cr.explain(w * w))
    Explanation of f
    <BLANKLINE>
    Forward pass
      name  gate   computes  value
      w     input  w          3.00
      f     *      w * w      9.00
    <BLANKLINE>
    Backward pass (in the order backprop runs: upstream, local, downstream)
      start: df/df = 1.00
      f = w * w: mul swaps and scales: each input gets the upstream times the other input
        to w: upstream 1.00, local w = 3.00 (the other input), downstream 3.00
        to w: upstream 1.00, local w = 3.00 (the other input), downstream 3.00
      gradients:
        df/dw = 3.00 + 3.00 = 6.00 (where a value fans out, the branches add)
    """
    forward_error = None
    if isinstance(y, anomaly_mod.AnomalyError):
        forward_error, y = y, _from_error(y)
    if not isinstance(y, _tensor.Tensor):
        raise TypeError(f"explain: expected a chainrule Tensor, got {type(y).__name__}")
    if model is not None and not hasattr(model, "named_modules"):
        raise TypeError(f"explain: model must be a chainrule.nn.Module, got {type(model).__name__}")
    walk = _collect(y)
    calls, seen = modules.find(walk.tensors)
    strong, weak = modules.names(walk.tensors, calls, seen, model) if seen else ({}, {})
    if names is not None:  # explicit names first, then labels, then module names
        explicit = {id(t): n for n, t in names.items()}
        nodes_names = _name_nodes(walk, explicit, strong, {}, weak)
    else:  # labels (t.name), qualified module names, the caller's variable names, the rest
        nodes_names = _name_nodes(walk, {}, strong, _caller_names(1), weak)
    small = all(t.data.size == 1 for t in walk.tensors)
    p = precision if precision is not None else (2 if small else 3)
    fold = bool(calls) and (not small if collapse is None else collapse)
    f = _fmt(p, 1 if fold else INLINE_SIZE)
    e = _build(walk, nodes_names, y, gradient, f, p, anomaly, forward_error, title)
    return modules.collapse(e, walk.tensors, calls) if fold else e


def _from_error(err: anomaly_mod.AnomalyError) -> Any:
    """A stand-in output for a forward pass that stopped at a NaN: the bad gate and its value."""
    if err.node is None or err.value is None:
        raise ValueError(
            "explain: this AnomalyError has no graph behind it (nothing required grad, or it "
            "was raised in a backward pass: then pass explain(y, anomaly=err))"
        )
    t = _tensor.Tensor._wrap(np.asarray(err.value))
    t._node = err.node
    t.requires_grad = True
    return t


def _name_nodes(walk: _Walk, *tiers: dict[int, str]) -> list[str]:
    """One name per tensor: explicit names, then ``t.name``, then the other tiers in order
    (id(tensor) -> name), then q, r, s ... (f for the output)."""
    first, rest = tiers[0], tiers[1:]
    names: list[str | None] = []
    for t in walk.tensors:
        name = first.get(id(t)) or t.name
        for tier in rest:
            name = name or tier.get(id(t))
        names.append(name)
    taken = {n for n in names if n}
    # the output is f, as in the lecture, unless that name is taken
    out = len(walk.tensors) - 1
    if names[out] is None and "f" not in taken:
        names[out] = "f"
        taken.add("f")
    pool = [c for c in _POOL if c not in taken]
    unnamed = sum(n is None for n in names)
    counter = 0
    result: list[str] = []
    seen: dict[str, int] = {}
    for n in names:
        if n is None:
            if unnamed <= len(pool):
                n = pool.pop(0)
            else:
                counter += 1
                n = f"n{counter}"
                while n in taken:
                    counter += 1
                    n = f"n{counter}"
        if n in seen:  # two tensors with one name: keep both, told apart
            seen[n] += 1
            n = f"{n}_{seen[n]}"
        seen.setdefault(n, 1)
        result.append(n)
    return result


def _args(t: Any, ins: list[gates.Operand]) -> list[str]:
    """The formula's arguments: the inputs, and a reduction's axis when it is not all axes."""
    args = [o.text for o in ins]
    fn = t._node
    axes = getattr(fn, "axes", None)
    if isinstance(axes, tuple) and ins and len(axes) < np.ndim(ins[0].value):
        args.append(f"axis={axes[0] if len(axes) == 1 else axes}")
    axis = getattr(fn, "axis", None)
    if type(fn).__name__ in ("Softmax", "LogSoftmax") and isinstance(axis, int):
        args.append(f"axis={axis}")
    return args


def _operands(t: Any, walk: _Walk, names: list[str]) -> list[gates.Operand]:
    ops = []
    for a in t._node.inputs:
        if isinstance(a, _tensor.Tensor):
            ops.append(gates.Operand(names[walk.index[_key(a)]], a.data, False))
        else:
            ops.append(gates.Operand(gates.num(a), np.asarray(a), True))
    return ops


def _build(
    walk: _Walk,
    names: list[str],
    root: Any,
    gradient: Any,
    f: gates.Fmt,
    precision: int,
    err: anomaly_mod.AnomalyError | None,
    forward_error: anomaly_mod.AnomalyError | None,
    title: str | None,
) -> Explanation:
    tensors = walk.tensors
    fns = [t._node for t in tensors]
    out_index = len(tensors) - 1
    operands = [_operands(t, walk, names) if t._node is not None else [] for t in tensors]
    inputs_of = [
        tuple(walk.index[_key(a)] for a in t._node.inputs if isinstance(a, _tensor.Tensor))
        if t._node is not None
        else ()
        for t in tensors
    ]

    # forward anomaly: the first value that is not finite while everything it reads is
    anomalies: dict[int, str] = {}
    for i, t in enumerate(tensors):
        kind = _bad(t.data)
        if kind and all(_bad(tensors[j].data) is None for j in inputs_of[i]):
            where = "an input" if t._node is None else "the forward pass"
            anomalies[i] = f"{kind} first appeared here ({where})"
            break
    if forward_error is not None:
        anomalies = {out_index: f"{_bad(root.data) or 'nan'} first appeared here (forward pass)"}

    grads, edge_grads, steps, note = _backward(
        walk, names, operands, root, gradient, f, forward_error
    )
    if err is not None and err.node is not None and err.value is None:
        for i, fn in enumerate(fns):
            if fn is err.node:
                anomalies.setdefault(i, "a nan/inf first appeared in this gate's backward pass")
    # backward anomaly: a gate whose values are all finite turning a finite upstream into nan/inf
    for s in steps:
        if s.kind != "backward" or s.node is None or s.upstream is None:
            continue
        bad = [t for t in s.terms if _bad(np.asarray(t.downstream))]
        forward_ok = all(_bad(tensors[j].data) is None for j in (s.node, *inputs_of[s.node]))
        if bad and forward_ok and _bad(np.asarray(s.upstream)) is None:
            kind = _bad(np.asarray(bad[0].downstream))
            anomalies.setdefault(
                s.node, f"{kind} first appeared here (backward pass, in its gradient)"
            )
            break

    nodes = []
    for i, t in enumerate(tensors):
        ins = operands[i]
        is_input = t._node is None
        op = None if is_input else type(t._node).__name__
        nodes.append(
            Node(
                index=i,
                name=names[i],
                op=op,
                label=names[i] if op is None else gates.label(op, ins),
                formula=names[i] if op is None else gates.formula(op, _args(t, ins)),
                inputs=inputs_of[i],
                value=t.data,
                grad=grads.get(i),
                requires_grad=bool(t.requires_grad),
                anomaly=anomalies.get(i),
            )
        )
    edges = []
    for i in range(len(tensors)):
        slot_of = [
            k
            for k, a in enumerate(tensors[i]._node.inputs if fns[i] else ())
            if isinstance(a, _tensor.Tensor)
        ]
        for slot, j in zip(slot_of, inputs_of[i], strict=True):
            edges.append(Edge(j, i, slot, tensors[j].data, edge_grads.get((j, i, slot))))
    edges.append(Edge(out_index, None, 0, root.data, grads.get(out_index)))

    fwd = []
    for n in nodes:
        if n.is_input:
            text = f"{n.name} = {f(n.value)} (input)"
        else:
            text = f"{n.name} = {n.formula} = {f(n.value)}"
        if n.anomaly:
            text += f"   <-- {n.anomaly}"
        fwd.append(Step("forward", n.index, text))
    return Explanation(nodes, edges, fwd + steps, out_index, precision, note, title, fns)


def _freed_or_none(root: Any) -> str | None:
    """Why no backward pass can be shown, or None when it can."""
    if not root.requires_grad:
        return "no backward pass: nothing in this graph requires grad"
    if root._node is None:
        return "no gates: the output is an input itself (its gradient with respect to itself is 1)"
    stack, seen = [root._node], {id(root._node)}
    while stack:
        n = stack.pop()
        if n.needs_input_grad is None:
            return (
                "no backward pass: backward() already ran through this graph and freed what "
                "the gates saved; call explain(y) before y.backward(), or use "
                "y.backward(retain_graph=True)"
            )
        for a in n.inputs:
            if isinstance(a, _tensor.Tensor) and a._node is not None and id(a._node) not in seen:
                seen.add(id(a._node))
                stack.append(a._node)
    return None


def _backward(
    walk: _Walk,
    names: list[str],
    operands: list[list[gates.Operand]],
    root: Any,
    gradient: Any,
    f: gates.Fmt,
    forward_error: anomaly_mod.AnomalyError | None,
) -> tuple[dict[int, np.ndarray], dict[tuple[int, int, int], np.ndarray], list[Step], str | None]:
    """Run the engine's backward pass from ``root`` and turn each of its steps into a Step."""
    note = _freed_or_none(root)
    if forward_error is not None:
        note = "no backward pass: the forward pass stopped at the gate that made the nan/inf"
    if note is not None:
        return {}, {}, [], note
    idx = walk.index
    out = idx[_key(root)]
    oname = names[out]
    if gradient is None:
        if root.data.size != 1:
            raise ValueError(
                f"explain: the output has shape {root.shape}; pass gradient=... (the upstream "
                "gradient of the output) or explain a scalar such as y.sum()"
            )
        g0 = np.ones_like(root.data)
    else:
        g0 = np.asarray(gradient.data if isinstance(gradient, _tensor.Tensor) else gradient)
        if g0.shape != root.shape:
            raise ValueError(f"explain: gradient has shape {g0.shape}, the output {root.shape}")
        g0 = g0.astype(root.data.dtype)

    walked, leaf_totals = _run_backward(walk, root, g0)
    branches: dict[int, list[tuple[int, np.ndarray]]] = {}
    grads: dict[int, np.ndarray] = {out: g0}
    edge_grads: dict[tuple[int, int, int], np.ndarray] = {}
    steps = [Step("backward", None, f"start: d{oname}/d{oname} = {f(g0)}", upstream=g0)]
    for n, dout, dins in walked:
        dout = np.asarray(dout)
        i = idx[n]
        grads[i] = dout  # after the output's hooks, as the engine passed it on
        needs = n.needs_input_grad
        with np.errstate(all="ignore"):
            local = _local(n, dout, needs)
        ins = operands[i]
        op = type(n).__name__
        terms = []
        for slot, (p, g, need) in enumerate(zip(n.inputs, dins, needs, strict=False)):
            if not need or g is None:
                continue
            g = np.asarray(g)
            summed = ""
            if g.shape != p.data.shape:  # the input was broadcast: its gradient sums back
                summed = f" (summed from {g.shape} back to {p.data.shape}: it was broadcast)"
                g = engine.unbroadcast(g, p.data.shape, op)
            g = g.astype(p.data.dtype, copy=False)
            j = idx[_key(p)]
            edge_grads[(j, i, slot)] = g
            branches.setdefault(j, []).append((i, g))
            lv = local[slot] if local is not None and not summed else None
            terms.append(Term(j, gates.local_text(op, slot, ins, lv, f), g, summed))
        fanin = branches.get(i, [])
        formula = gates.formula(op, _args(walk.tensors[i], ins))
        head = f"{names[i]} = {formula}: {gates.pattern(op, ins)}"
        lines = [head]
        arrived = g0 if i == out else _total(fanin)
        if arrived is not None and _changed(arrived, dout):  # its hooks replaced it
            parts = " + ".join(f"{f(g)} (from {names[c]})" for c, g in fanin) or f(g0)
            lines.append(
                f"  upstream d{oname}/d{names[i]} = {parts} = {f(arrived)}, "
                f"{f(dout)} after its hooks"
            )
        elif len(fanin) > 1:
            parts = " + ".join(f"{f(g)} (from {names[c]})" for c, g in fanin)
            lines.append(
                f"  upstream d{oname}/d{names[i]} = {parts} = {f(dout)} "
                "(where a value fans out, the branches add)"
            )
        for t in terms:
            lines.append(
                f"  to {names[t.input]}: upstream {f(dout)}, local {t.local}, "
                f"downstream {f(t.downstream)}{t.note}"
            )
        steps.append(
            Step(
                "backward",
                i,
                "\n".join(lines),
                upstream=dout,
                terms=tuple(terms),
                pattern=gates.pattern(op, ins),
                branches=tuple(fanin),
            )
        )
    grads.update(leaf_totals)  # what each leaf finally receives, after its hooks
    lines = ["gradients:"]
    for j, t in enumerate(walk.tensors):
        if t._node is not None or j not in grads:
            continue
        contribs = branches.get(j, [])
        arrived = _total(contribs)
        if arrived is not None and _changed(arrived, grads[j]):  # hooks replaced it
            sums = " + ".join(f(g) for _, g in contribs)
            lines.append(
                f"  d{oname}/d{names[j]} = {sums} = {f(arrived)}, {f(grads[j])} after its hooks"
            )
        elif len(contribs) > 1:
            sums = " + ".join(f(g) for _, g in contribs)
            lines.append(
                f"  d{oname}/d{names[j]} = {sums} = {f(grads[j])} "
                "(where a value fans out, the branches add)"
            )
        else:
            lines.append(f"  d{oname}/d{names[j]} = {f(grads[j])}")
    steps.append(Step("gradients", None, "\n".join(lines)))
    return grads, edge_grads, steps, None


class _Recorder(engine.Observer):
    """Keeps every step of the engine's walk: the node, its upstream gradient (after the
    output's hooks) and the downstream gradient per input (before broadcasts are summed)."""

    def __init__(self) -> None:
        self.steps: list[tuple[Any, Any, tuple[Any, ...]]] = []
        # observers are global: a backward another thread runs meanwhile is not this one's
        self.thread = threading.get_ident()

    def step(self, node: Any, dout: Any, dins: tuple[Any, ...]) -> None:
        if threading.get_ident() == self.thread:
            self.steps.append((node, dout, dins))


def _run_backward(
    walk: _Walk, root: Any, g0: np.ndarray
) -> tuple[list[tuple[Any, Any, tuple[Any, ...]]], dict[int, np.ndarray]]:
    """The engine's own backward pass from ``root``, watched: its steps and the leaves' totals.

    The graph is retained and the leaves' gradients are captured (as ``grad()`` does) rather
    than accumulated, so no ``.grad`` changes; the ``.grad`` that ``retain_grad()`` fills on
    the way is put back as it was. Hooks run, and errors (a tensor changed in place) are
    raised, exactly as in ``backward()``.
    """
    leaves = [t for t in walk.tensors if t._node is None and t.requires_grad]
    kept = [(t, t.grad) for t in walk.tensors if t._node is not None]
    recorder = _Recorder()
    try:
        with np.errstate(all="ignore"), engine.observe(recorder):
            totals = engine.grad(root, leaves, g0, retain_graph=True, allow_unused=True)
    finally:
        for t, g in kept:
            t.grad = g
    grads = {
        walk.index[_key(t)]: np.asarray(g.data)
        for t, g in zip(leaves, totals, strict=True)
        if g is not None
    }
    return recorder.steps, grads


def _total(branches: list[tuple[int, np.ndarray]]) -> np.ndarray | None:
    """The sum of the gradients that arrived along a value's branches (None: none did)."""
    total = None
    for _, g in branches:
        total = g if total is None else total + g
    return total


def _changed(arrived: np.ndarray, passed: np.ndarray) -> bool:
    """Whether hooks replaced the gradient that arrived (NaNs where they were count as kept)."""
    return arrived.shape != passed.shape or not np.array_equal(arrived, passed, equal_nan=True)


def _local(n: Any, dout: np.ndarray, needs: Any) -> list[Any] | None:
    """The local derivative of each input of an elementwise gate (backward of ones)."""
    shapes = {np.shape(a.data) for a, need in zip(n.inputs, needs, strict=False) if need}
    if shapes != {dout.shape} or dout.size > 4096:
        return None  # not elementwise: the local gradient is a Jacobian (see the lens)
    ones = n.backward(np.ones_like(dout))
    if type(ones) is not tuple:
        ones = tuple(ones) if type(ones) is list else (ones,)
    return [None if g is None else np.asarray(g) for g in ones]
