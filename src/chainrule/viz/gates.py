"""What each gate is called and what its local gradient is, in the lecture's words.

One small table per fact, each derived from the op registry: the label a gate carries in a
picture (``+``, ``*``, ``exp``, ``1/x``), the formula it computes from its inputs' names
(``q * z``), the pattern of its backward pass ("add distributes", "mul swaps and scales", "max
routes") and the local gradient written out with its numbers ("e^x at x = -1.00 is 0.37").
Gates this module does not know (a user's ``Function``) get their class name and a generic
description.

>>> import numpy as np
>>> x = Operand("x", np.array(-1.0), False)
>>> local_text("Exp", 0, [x], np.array(0.3679), lambda v: f"{float(v):.2f}")
'e^x at x = -1.00 is 0.37'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

import chainrule.ops  # noqa: F401 - loads every gate, so the registry is complete
from chainrule.ops import registry

Fmt = Callable[[np.ndarray], str]


@dataclass(frozen=True)
class Operand:
    """One input of a gate as the explanation shows it: a node's name or a constant's value."""

    text: str
    value: np.ndarray
    constant: bool


# The tables below are derived from the op registry: each gate declares its label, local
# derivative and backward pattern beside its forward and backward (chainrule.ops.registry).
_FACTS = registry.facts_by_name()

# unary gates: (picture label, local derivative in terms of the gate's input x)
UNARY: dict[str, tuple[str, str]] = {n: (f.label, f.local) for n, f in _FACTS.items() if f.unary}

BINARY_SYMBOL = {n: f.symbol for n, f in _FACTS.items() if f.symbol is not None}

# gates whose output element i depends only on input element i (their Jacobian is diagonal)
ELEMENTWISE = frozenset(n for n, f in _FACTS.items() if f.elementwise)

SHAPE_OPS = frozenset(n for n, f in _FACTS.items() if f.family == "shape")

REDUCE_LOCAL = {n: f.local for n, f in _FACTS.items() if f.family == "reduce"}

PATTERNS = {n: f.pattern for n, f in _FACTS.items() if f.pattern is not None}


def num(c: object) -> str:
    """A constant written compactly: ``2`` not ``2.0``, arrays by their shape.

    >>> num(2.0), num(-1), num(0.5), num(np.ones(3))
    ('2', '-1', '0.5', 'const(3,)')
    """
    a = np.asarray(c)
    if a.size != 1:
        return f"const{a.shape}"
    v = a.reshape(()).item()
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return f"{v:g}" if isinstance(v, float) else str(v)


def label(op: str, ins: Sequence[Operand]) -> str:
    """The gate's label in a picture: constants fold in, as on the slides (``+1``, ``1/x``)."""
    if op in UNARY:
        return UNARY[op][0]
    if op in BINARY_SYMBOL and len(ins) == 2:
        sym = BINARY_SYMBOL[op]
        a, b = ins
        if b.constant and not a.constant:
            return f"x^{b.text}" if op == "Pow" else f"{sym}{b.text}"
        if a.constant and not b.constant:
            if op == "Div":
                return f"{a.text}/x"
            if op in ("Sub", "Pow"):
                return f"{a.text}-x" if op == "Sub" else f"{a.text}^x"
            return f"{sym}{a.text}"  # + and * commute
        return sym
    if op in ("Maximum", "Minimum"):
        return op[:3].lower()
    return op.lower() if op[:1].isupper() else op


def formula(op: str, args: Sequence[str]) -> str:
    """What the gate computes, written with its inputs' names: ``q * z``, ``exp(n3)``."""
    if op in BINARY_SYMBOL and len(args) == 2:
        return f"{args[0]} {BINARY_SYMBOL[op]} {args[1]}"
    if op == "Neg" and len(args) == 1:
        return f"-{args[0]}"
    if op in ("Maximum", "Minimum"):
        return f"{op[:3].lower()}({', '.join(args)})"
    name = UNARY[op][0] if op in UNARY else label(op, [])
    return f"{name}({', '.join(args)})"


def pattern(op: str, ins: Sequence[Operand]) -> str:
    """The gate's backward pattern in one line."""
    if op == "Mul" and any(i.constant for i in ins):
        c = next(i for i in ins if i.constant)
        return f"mul by a constant scales: the input gets the upstream times {c.text}"
    if op == "Add" and any(i.constant for i in ins):
        return "add of a constant passes the upstream through unchanged"
    if op == "Div" and ins and ins[0].constant:
        return f"{ins[0].text}/x gate: downstream = upstream x the local -{ins[0].text}/x^2"
    if op == "Pow" and len(ins) == 2 and ins[1].constant:
        return f"power gate: downstream = upstream x the local {ins[1].text} x^({ins[1].text}-1)"
    if op == "Neg":
        return "the *-1 gate flips the sign of the upstream"
    if op in PATTERNS:
        return PATTERNS[op]
    if op in UNARY:
        return "one input: downstream = upstream x the gate's local derivative"
    if op in SHAPE_OPS:
        return "shape gate: moves the upstream back into the input's shape, no arithmetic"
    return f"{op}.backward computes the downstream gradients"


def local_text(op: str, slot: int, ins: Sequence[Operand], local: np.ndarray | None, f: Fmt) -> str:
    """The local gradient of the gate's output with respect to input ``slot``, with numbers.

    ``local`` is its value where the gate is elementwise (None otherwise).
    """
    me = ins[slot]
    is_ = f" is {f(local)}" if local is not None else ""
    if op in UNARY:
        deriv = UNARY[op][1]
        if op in ("Neg", "Cast"):
            return deriv
        if op == "Sigmoid" and me.value.size == 1 and local is not None:
            # the lecture's grouped gate: (1 - 0.73) * 0.73 = 0.20, from the output alone
            s = 1 / (1 + np.exp(-float(me.value.reshape(()))))
            return f"{deriv} at x = {f(me.value)}: (1 - {f(s)}) * {f(s)} = {f(local)}"
        return f"{deriv} at x = {f(me.value)}{is_}"
    if op == "Add":
        return "1"
    if op == "Sub":
        return "1" if slot == 0 else "-1"
    other = ins[1 - slot] if len(ins) == 2 else None
    if op == "Mul" and other is not None:
        if other.constant:
            return f"{other.text} (the constant)"
        return f"{other.text} = {f(other.value)} (the other input)"
    if op == "Div" and other is not None:
        if slot == 0:
            return f"1/y at y = {f(other.value)}{is_}"
        if other.constant:
            c = other.text
            head = "-1/x^2" if c == "1" else f"-{c}/x^2"
            return f"{head} at x = {f(me.value)}{is_}"
        return f"-x/y^2 at x = {f(other.value)}, y = {f(me.value)}{is_}"
    if op == "Pow" and other is not None:
        if slot == 0:
            if other.constant:
                cv = float(np.asarray(other.value).reshape(-1)[0]) if other.value.size else 0.0
                head = "2x" if cv == 2 else f"{other.text} x^{num(cv - 1)}"
                return f"{head} at x = {f(me.value)}{is_}"
            return f"y x^(y-1) at x = {f(me.value)}, y = {f(other.value)}{is_}"
        return f"ln(x) x^y at x = {f(other.value)}, y = {f(me.value)}{is_}"
    if op in ("Maximum", "Minimum") and other is not None:
        word = "larger" if op == "Maximum" else "smaller"
        if local is not None and local.size == 1:
            v = float(local.reshape(()))
            if v == 1.0:
                return f"1 ({me.text} = {f(me.value)} is the {word})"
            if v == 0.0:
                return f"0 ({me.text} = {f(me.value)} is not the {word})"
            return f"{f(local)} (a tie: the upstream is shared)"
        return f"1 where {me.text} is the {word}, else 0{is_}"
    if op == "MatMul" and other is not None:
        if slot == 0:
            return f"{other.text}^T on the right: downstream = upstream @ {other.text}^T"
        return f"{other.text}^T on the left: downstream = {other.text}^T @ upstream"
    if op == "Where":
        return "1 where the condition chose this input, else 0"
    if op in REDUCE_LOCAL:
        return REDUCE_LOCAL[op]
    if op in SHAPE_OPS:
        return "the upstream reshaped back to the input (no arithmetic)"
    if local is not None:
        return f"{f(local)} (from {op}.backward)"
    return f"from {op}.backward"
