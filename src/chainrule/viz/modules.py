"""A network's graph, one node per ``nn`` module: shapes and gradient norms instead of numbers.

``Module.__call__`` tags the node of each call's output with ``(weakref to the module, start)``,
``start`` being the engine's creation counter when the call began; the list on one node runs
from the innermost module out (a Sequential's last layer and the Sequential share an output).
Here a graph is grouped by the innermost *leaf* module (one without children: Linear, ReLU,
BatchNorm1d ...): a call's nodes are those reachable backwards from its output with a larger
creation number than ``start``. Everything else (the loss, a penalty, a bare ``.relu()``)
stays a gate. Names come from ``named_modules()`` of the outermost module seen (or ``model=``),
so the boxes read ``layers.0``, ``layers.1`` and the weights ``layers.0.weight`` (a name that
starts with a digit, a Sequential's child, gets the root's class name first: ``mlp.0``).

>>> import numpy as np
>>> import chainrule as cr
>>> from chainrule import nn
>>> nn.init.seed(0)
>>> net = nn.MLP([4, 8, 3])
>>> X = cr.tensor(np.ones((5, 4), np.float32))
>>> e = cr.explain(nn.functional.cross_entropy(net(X), np.zeros(5, np.int64)))
>>> [n.name for n in e.nodes if n.module is not None]
['mlp.0', 'mlp.1', 'mlp.2']
>>> e.node("mlp.0").label, e.node("mlp.0").caption[0]
('Linear(4 -> 8)', 'out 5x8')
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

FALLBACK = "{cls}{k}"  # a module no named_modules() reaches: linear1, relu1, linear2 ...


@dataclass
class Call:
    """One call of a leaf module: its output node (index in forward order) and its members."""

    module: Any
    start: int  # the creation counter when the call began
    output: int
    members: set[int] = dataclasses.field(default_factory=set)


def find(tensors: list[Any]) -> tuple[list[Call], list[Any]]:
    """The leaf-module calls behind the tagged nodes (forward order), and every module seen."""
    calls: list[Call] = []
    seen: dict[int, Any] = {}
    for i, t in enumerate(tensors):
        fn = t._node
        if fn is None or fn._extra is None or not fn._extra.get("modules"):
            continue
        leaf = None
        for ref, start in fn._extra["modules"]:  # inner -> outer
            m = ref()
            if m is None:  # the module is gone; its tag means nothing now
                continue
            seen.setdefault(id(m), m)
            if leaf is None and _is_leaf(m):
                leaf = Call(m, start, i)
        if leaf is not None:
            calls.append(leaf)
    return calls, list(seen.values())


def _is_leaf(m: Any) -> bool:
    children = getattr(m, "children", None)
    return children is None or next(iter(children()), None) is None


def names(
    tensors: list[Any], calls: list[Call], seen: list[Any], model: Any
) -> tuple[dict[int, str], dict[int, str]]:
    """id(tensor) -> name for the calls' outputs and the parameters, in two tiers: qualified
    names (``layers.0``, ``layers.0.weight``), which come before a caller's variable names, and
    fallbacks (``linear1``), which come after them."""
    roots = [] if model is None else [model]
    inside: set[int] = set()
    for m in seen:
        inside.update(id(c) for _, c in m.named_modules() if c is not m)
    roots += [m for m in seen if id(m) not in inside]
    mod_names: dict[int, str] = {}
    par_names: dict[int, str] = {}
    for r in roots:
        # a Sequential's children are 0, 1, 2 ...: "mlp.0" reads better in "relu(mlp.0)"
        lead = type(r).__name__.lower() + "."
        for k, c in r.named_modules():
            mod_names.setdefault(id(c), lead + k if k[:1].isdigit() else k)
        if _is_leaf(r):  # a lone layer's "weight" says too little: linear1.weight, below
            continue
        for k, p in r.named_parameters():
            par_names.setdefault(id(p), lead + k if k[:1].isdigit() else k)
    strong: dict[int, str] = {}
    weak: dict[int, str] = {}
    counts: dict[str, int] = {}
    fallback: dict[int, str] = {}  # id(module) -> its fallback name, first call's
    for c in calls:
        out = id(tensors[c.output])
        q = mod_names.get(id(c.module))
        if q:
            strong[out] = q
            continue
        cls = type(c.module).__name__.lower()
        counts[cls] = counts.get(cls, 0) + 1
        weak[out] = FALLBACK.format(cls=cls, k=counts[cls])
        fallback.setdefault(id(c.module), weak[out])
    for c in calls:  # the unnamed modules' own parameters: linear1.weight
        prefix = fallback.get(id(c.module))
        if prefix is not None:
            for k, p in c.module.named_parameters():
                weak.setdefault(id(p), f"{prefix}.{k}")
    for t in tensors:
        if t._node is None and id(t) in par_names:
            strong[id(t)] = par_names[id(t)]
    return strong, weak


def group(e: Any, tensors: list[Any], calls: list[Call]) -> dict[int, int]:
    """Fill each call's members; return node -> index of its call in ``calls``.

    Innermost calls claim nodes first; a call that contains another's nodes (a leaf module
    calling a module it does not own) is not drawn as a box. A member read from outside
    the call (other than its output) leaves the call, with everything behind it in the call,
    so every box is a clean unit and the collapsed graph has no cycle.
    """
    nodes = e.nodes
    consumers: list[list[int]] = [[] for _ in nodes]
    for n in nodes:
        for j in n.inputs:
            consumers[j].append(n.index)
    root = e.output.index
    seqs = [-1 if t._node is None else t._node._seq for t in tensors]
    owner: dict[int, int] = {}
    for k in sorted(range(len(calls)), key=lambda k: -calls[k].start):
        c = calls[k]
        region, stack = {c.output}, [c.output]
        while stack:
            for j in nodes[stack.pop()].inputs:
                if j not in region and seqs[j] > c.start:
                    region.add(j)
                    stack.append(j)
        if any(i in owner for i in region):
            continue
        # consumers come later in forward order: one pass from the back settles every leak
        for i in sorted(region, reverse=True):
            if i != c.output and (i == root or any(d not in region for d in consumers[i])):
                region.discard(i)
        c.members = region
        for i in region:
            owner[i] = k
    return owner


def short_label(m: Any) -> str:
    """What the box says: ``Linear(784 -> 512)``, ``Conv2d(1 -> 4, 3x3)``, ``MaxPool2d(2x2)``,
    ``ReLU``, ``Dropout(p=0.5)``."""
    cls = type(m).__name__
    d_in, d_out = getattr(m, "in_features", None), getattr(m, "out_features", None)
    if isinstance(d_in, int) and isinstance(d_out, int):
        return f"{cls}({d_in} -> {d_out})"
    c_in, c_out, k = (getattr(m, a, None) for a in ("in_channels", "out_channels", "kernel_size"))
    if isinstance(c_in, int) and isinstance(c_out, int) and isinstance(k, tuple):
        return f"{cls}({c_in} -> {c_out}, {k[0]}x{k[1]})"  # Conv2d(1 -> 4, 3x3)
    if isinstance(k, tuple):
        return f"{cls}({k[0]}x{k[1]})"  # MaxPool2d(2x2)
    extra = m.extra_repr() if hasattr(m, "extra_repr") else ""
    if not extra:
        return cls
    if len(extra) <= 24:
        return f"{cls}({extra})"
    return f"{cls}({extra.split(',')[0]}, ...)"


def collapse(e: Any, tensors: list[Any], calls: list[Call]) -> Any:
    """The explanation ``e`` (per gate) with each leaf-module call drawn as one node."""
    from chainrule.viz import explanation as ex

    owner = group(e, tensors, calls)
    if not owner:
        return e
    f = ex._fmt(e.precision, 1)  # every non-scalar as its shape and norm
    nodes, oname = e.nodes, e.output.name
    new: dict[int, int] = {}
    for n in nodes:
        if n.index not in owner or calls[owner[n.index]].output == n.index:
            new[n.index] = len(new)

    def rep(i: int) -> int:
        return new[calls[owner[i]].output] if i in owner else new[i]

    edges, box_inputs = _edges(e.edges, owner, rep)
    out_nodes: list[Any] = []
    fns: list[Any] = []
    member_names: dict[int, list[str]] = {}
    for n in nodes:
        if n.index in owner:
            member_names.setdefault(owner[n.index], []).append(f"{n.name} = {n.formula}")
    for n in nodes:
        if n.index not in new:
            continue
        i = new[n.index]
        if n.index not in owner:
            out_nodes.append(
                dataclasses.replace(n, index=i, inputs=tuple(rep(j) for j in n.inputs))
            )
            fns.append(e._fns[n.index])
            continue
        c = calls[owner[n.index]]
        ins = tuple(box_inputs.get(i, ()))
        label = short_label(c.module)
        cls = type(c.module).__name__
        args = ", ".join(out_nodes[j].name for j in ins)
        caption = ["out " + "x".join(str(d) for d in n.shape)]
        if n.grad is not None:
            caption.append(f"|grad| {f(np.asarray(np.linalg.norm(n.grad)))}")
        bad = next((nodes[j] for j in sorted(c.members) if nodes[j].anomaly), None)
        out_nodes.append(
            ex.Node(
                index=i,
                name=n.name,
                op=cls,
                label=label,
                formula=f"{cls}({args})",
                inputs=ins,
                value=n.value,
                grad=n.grad,
                requires_grad=n.requires_grad,
                anomaly=None if bad is None else f"{bad.anomaly}, at {bad.name} = {bad.formula}",
                module=f"{cls}({c.module.extra_repr()})",
                caption=tuple(caption),
                members=tuple(member_names[owner[n.index]]),
            )
        )
        fns.append(None)

    consumers: dict[int, list[Any]] = {}
    for ed in edges:
        if ed.target is not None and ed.grad is not None:
            consumers.setdefault(ed.source, []).append(ed)

    def fanout(i: int, dout: Any) -> list[str]:
        branches = consumers.get(i, [])
        if len(branches) < 2:
            return []
        parts = " + ".join(f"{f(b.grad)} (from {out_nodes[b.target].name})" for b in branches)
        return [
            f"  upstream d{oname}/d{out_nodes[i].name} = {parts} = {f(dout)} "
            "(where a value fans out, the branches add)"
        ]

    steps: list[Any] = []
    for n in out_nodes:
        if n.is_input:
            text = f"{n.name} = {f(n.value)} (input)"
        elif n.module is not None:
            k = len(n.members)
            text = f"{n.name} = {n.module}({', '.join(out_nodes[j].name for j in n.inputs)})"
            text += f" = {f(n.value)}   ({k} gate{'s' if k != 1 else ''} inside)"
        else:
            text = f"{n.name} = {n.formula} = {f(n.value)}"
        if n.anomaly:
            text += f"   <-- {n.anomaly}"
        steps.append(ex.Step("forward", n.index, text))
    for s in e.steps:
        if s.kind != "backward":
            continue
        if s.node is None:
            steps.append(s)
        elif s.node not in owner:
            i = new[s.node]
            lines = s.text.splitlines()
            body = [ln for ln in lines[1:] if not ln.startswith("  upstream ")]
            text = "\n".join([lines[0], *fanout(i, s.upstream), *body])
            terms = tuple(dataclasses.replace(t, input=rep(t.input)) for t in s.terms)
            merged: dict[int, Any] = {}
            for c_idx, g in s.branches:
                r = rep(c_idx)
                merged[r] = g if r not in merged else merged[r] + g
            steps.append(
                dataclasses.replace(
                    s, node=i, text=text, terms=terms, branches=tuple(merged.items())
                )
            )
        elif calls[owner[s.node]].output == s.node:
            steps.append(_box_step(out_nodes[new[s.node]], s, edges, out_nodes, fanout, f, oname))
    if e.note is None:  # a backward pass ran: the inputs' gradients close it
        steps.append(_gradients(out_nodes, edges, f, oname))
    return ex.Explanation(
        out_nodes,
        edges,
        steps,
        new[e.output.index],
        e.precision,
        e.note,
        e.title,
        fns,
        collapsed=True,
    )


def _edges(
    edges: tuple[Any, ...], owner: dict[int, int], rep: Any
) -> tuple[list[Any], dict[int, list[int]]]:
    """The collapsed edges, and each box's sources in slot order. Edges inside a box vanish;
    edges from one source into a box merge, their gradients added (the gradient through the
    whole module)."""
    from chainrule.viz import explanation as ex

    out: list[Any] = []
    into: dict[tuple[int, int], int] = {}  # (source, box) -> position in out
    box_inputs: dict[int, list[int]] = {}
    for ed in edges:
        s = rep(ed.source)
        if ed.target is None:
            out.append(dataclasses.replace(ed, source=s))
            continue
        t = rep(ed.target)
        if s == t:
            continue
        if ed.target not in owner:
            out.append(dataclasses.replace(ed, source=s, target=t))
            continue
        k = into.get((s, t))
        if k is None:
            slots = box_inputs.setdefault(t, [])
            into[(s, t)] = len(out)
            out.append(ex.Edge(s, t, len(slots), ed.value, ed.grad))
            slots.append(s)
        elif ed.grad is not None:
            old = out[k]
            grad = ed.grad if old.grad is None else old.grad + ed.grad
            out[k] = dataclasses.replace(old, grad=grad)
    return out, box_inputs


def _box_step(
    n: Any, s: Any, edges: list[Any], nodes: list[Any], fanout: Any, f: Any, oname: str
) -> Any:
    """One backward step for a whole module call: upstream in, one downstream per input."""
    from chainrule.viz import explanation as ex

    k = len(n.members)
    local = f"{n.label} ({k} gate{'s' if k != 1 else ''})"
    terms = tuple(
        ex.Term(ed.source, local, ed.grad)
        for ed in edges
        if ed.target == n.index and ed.grad is not None
    )
    lines = [f"{n.name} = {n.formula}: module {local}, backward as one step"]
    lines += fanout(n.index, s.upstream) or [f"  upstream d{oname}/d{n.name} = {f(s.upstream)}"]
    lines += [f"  to {nodes[t.input].name}: downstream {f(t.downstream)}" for t in terms]
    return ex.Step(
        "backward",
        n.index,
        "\n".join(lines),
        upstream=s.upstream,
        terms=terms,
        pattern=f"module {local}: its gates chained",
        branches=tuple(
            (ed.target, ed.grad)
            for ed in edges
            if ed.source == n.index and ed.target is not None and ed.grad is not None
        ),
    )


def _gradients(nodes: list[Any], edges: list[Any], f: Any, oname: str) -> Any:
    from chainrule.viz import explanation as ex

    lines = ["gradients:"]
    for n in nodes:
        if not n.is_input or n.grad is None:
            continue
        parts = [ed.grad for ed in edges if ed.source == n.index and ed.target is not None]
        parts = [g for g in parts if g is not None]
        if len(parts) > 1:
            sums = " + ".join(f(g) for g in parts)
            lines.append(
                f"  d{oname}/d{n.name} = {sums} = {f(n.grad)} "
                "(where a value fans out, the branches add)"
            )
        else:
            lines.append(f"  d{oname}/d{n.name} = {f(n.grad)}")
    return ex.Step("gradients", None, "\n".join(lines))
