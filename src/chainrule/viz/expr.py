"""A safe parser for the expressions that ``chainrule explain`` takes, such as ``"(x+y)*z"``.

The text is parsed with ``ast.parse`` (which only builds a tree; nothing runs) and the tree is
checked against a whitelist: numbers, variable names, ``+ - * / ** @``, unary minus and plus,
and calls of exp, log, sqrt, tanh, sigmoid, relu, abs, max, min, sum, mean. Everything else
(attribute access, subscripts, strings, lambdas, comprehensions, keyword arguments, other
names, power towers, exponents beyond +-100, overlong or deeply nested text) is refused with an
``ExpressionError`` that points at the offending column. The checked tree is then walked to
build chainrule tensors; it is never compiled, ``eval``-ed or ``exec``-ed.

>>> e = parse_expression("(x + y) * z")
>>> e.variables
('x', 'y', 'z')
>>> e.evaluate({"x": -2, "y": 5, "z": -4}).item()
-12.0
>>> parse_expression("x.__class__")
Traceback (most recent call last):
...
chainrule.viz.expr.ExpressionError: attribute access (.__class__) is not allowed, at column 2
  x.__class__
   ^
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule import _tensor, ops
from chainrule.ops import registry

MAX_LENGTH = 1000
MAX_DEPTH = 40  # nesting of parentheses and operators
MAX_NODES = 300  # gates and leaves in the tree (a picture stops at 300 nodes too)
MAX_EXPONENT = 100
MAX_ELEMENTS = 256  # elements of one variable's value

# the functions an expression may call, by the names the registry gives them (``expr``)
UNARY: dict[str, Callable[[Any], Any]] = {
    f.expr: getattr(ops, f.function)
    for f in registry.ALL.values()
    if f.expr is not None and f.function is not None and f.arity == 1
}
BINARY: dict[str, Callable[[Any, Any], Any]] = {
    f.expr: getattr(ops, f.function)
    for f in registry.ALL.values()
    if f.expr is not None and f.function is not None and f.arity == 2
}
FUNCTIONS = frozenset(UNARY) | frozenset(BINARY)
_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.MatMult: "@"}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_DESCRIBE = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscripts",
    ast.Lambda: "lambdas",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.List: "lists",
    ast.Tuple: "tuples",
    ast.Dict: "dicts",
    ast.Set: "sets",
    ast.Compare: "comparisons",
    ast.BoolOp: "and/or",
    ast.IfExp: "if-expressions",
    ast.NamedExpr: "assignment (:=)",
    ast.Starred: "starred arguments",
    ast.JoinedStr: "strings",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}


class ExpressionError(ValueError):
    """An expression or a variable's value was refused; ``column`` is 1-based (0: none).

    ``str(err)`` is the message, then the text with a caret under the offending part;
    ``err.message`` is the message alone, on one line.
    """

    def __init__(self, message: str, text: str = "", column: int = 0) -> None:
        self.message = message + (f", at column {column}" if column else "")
        self.text = text
        self.column = column
        shown = ""
        if text and column and len(text) <= 200:
            shown = f"\n  {text}\n  {' ' * (column - 1)}^"
        super().__init__(self.message + shown)


@dataclass(frozen=True)
class ParsedExpression:
    """A checked expression: its text, its tree and its variables (in order of appearance)."""

    text: str
    tree: ast.expr
    variables: tuple[str, ...]

    def evaluate(
        self, values: Mapping[str, Any], leaves: dict[str, Any] | None = None
    ) -> _tensor.Tensor:
        """Build the graph on float64 leaves named after the variables (``requires_grad``).

        ``leaves``, when given, receives name -> leaf tensor.
        """
        missing = [v for v in self.variables if v not in values]
        if missing:
            raise ExpressionError(
                f"variable {missing[0]!r} has no value: give it as {missing[0]}=VALUE",
                self.text,
                _column(self.text, self.tree, missing[0]),
            )
        unused = [k for k in values if k not in self.variables]
        if unused:
            raise ExpressionError(
                f"variable {unused[0]!r} is given but the expression never uses it"
            )
        made: dict[str, Any] = {}
        for name in self.variables:
            t = _tensor.tensor(_value_array(name, values[name]), requires_grad=True)
            t.name = name
            made[name] = t
        if leaves is not None:
            leaves.update(made)
        with np.errstate(all="ignore"):  # a nan/inf is shown (and marked) by explain
            out = _Builder(self.text, made).build(self.tree)
        if not isinstance(out, _tensor.Tensor):  # a constant expression: nothing to explain
            raise ExpressionError("the expression has no variable: nothing to differentiate")
        return out


def _value_array(name: str, v: Any) -> np.ndarray:
    if isinstance(v, str):
        v = parse_value(name, v)
    a = np.array(v, dtype=np.float64)
    if a.size > MAX_ELEMENTS:
        raise ExpressionError(f"variable {name!r} has {a.size} elements; at most {MAX_ELEMENTS}")
    return a


def parse_value(name: str, text: str) -> Any:
    """A variable's value from the command line: a number or a nested list of numbers.

    >>> parse_value("x", "-2"), parse_value("W", "[[0.1, 0.5], [-0.3, 0.8]]")
    (-2.0, [[0.1, 0.5], [-0.3, 0.8]])
    """
    if len(text) > 20 * MAX_ELEMENTS:
        raise ExpressionError(f"the value of {name} is too long")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ExpressionError(
            f"cannot read the value of {name}: {text!r} (give a number such as -2.5, or a "
            "list such as [0.2, 0.4])"
        ) from None
    count = [0]

    def walk(node: ast.expr, depth: int) -> Any:
        count[0] += 1
        if depth > 4 or count[0] > 2 * MAX_ELEMENTS:
            raise ExpressionError(f"the value of {name} is nested too deeply or too large")
        if isinstance(node, ast.List):
            return [walk(e, depth + 1) for e in node.elts]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            v = walk(node.operand, depth + 1)
            if isinstance(v, list):
                raise ExpressionError(f"the value of {name}: a minus sign goes on a number")
            return -v if isinstance(node.op, ast.USub) else v
        v = _number(node)
        if v is not None and math.isfinite(v):
            return v
        raise ExpressionError(
            f"the value of {name} must be a number or a list of numbers, got {text!r}"
        )

    try:
        return walk(tree, 0)
    except OverflowError:
        raise ExpressionError(f"the value of {name} is too large") from None


def parse_assignments(items: Sequence[str]) -> dict[str, Any]:
    """``["x=-2", "W=[[1,2],[3,4]]"]`` -> ``{"x": -2.0, "W": [[1.0, 2.0], [3.0, 4.0]]}``."""
    values: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not text.strip():
            raise ExpressionError(f"expected NAME=VALUE, got {item!r}")
        if not _NAME.match(name) or name in FUNCTIONS:
            raise ExpressionError(f"{name!r} cannot be a variable name")
        if name in values:
            raise ExpressionError(f"variable {name!r} is given twice")
        values[name] = parse_value(name, text)
    return values


def parse_expression(text: str) -> ParsedExpression:
    """Check ``text`` against the whitelist; raise ``ExpressionError`` pointing at the problem."""
    if not isinstance(text, str):
        raise ExpressionError(f"the expression must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"the expression is {len(text)} characters long; at most {MAX_LENGTH}",
            text,
            MAX_LENGTH + 1,
        )
    if not text.strip():
        raise ExpressionError("the expression is empty")
    for i, ch in enumerate(text):
        if not (ch.isascii() and (ch.isprintable() or ch in " \t")):
            raise ExpressionError(f"unexpected character {ch!r}", text, i + 1)
    depth = 0
    for i, ch in enumerate(text):  # before ast.parse, whose own limit is a crash, not a message
        depth += (ch in "([{") - (ch in ")]}")
        if depth > MAX_DEPTH:
            raise ExpressionError(
                f"the expression is nested more than {MAX_DEPTH} levels deep", text, i + 1
            )
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        indent = len(text) - len(text.lstrip())
        if e.offset:
            col = min(e.offset + indent, len(text.rstrip()) + 1)
            raise ExpressionError(f"syntax error: {e.msg}", text, col) from None
        end = len(text.rstrip()) + 1  # Python gives no position when the text ends too soon
        raise ExpressionError("syntax error: the expression ends too soon", text, end) from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError("the expression is nested too deeply to read", text) from None
    checker = _Checker(text, len(text) - len(text.lstrip()))
    checker.check(tree.body, 0)
    first: dict[str, int] = {}  # variables in order of appearance in the text
    for sub in ast.walk(tree.body):
        if isinstance(sub, ast.Name) and sub.id in checker.variables:
            first[sub.id] = min(first.get(sub.id, sub.col_offset), sub.col_offset)
    return ParsedExpression(text, tree.body, tuple(sorted(first, key=first.__getitem__)))


def explain_expression(text: str, values: Mapping[str, Any], **options: Any) -> Any:
    """Parse ``text``, build it on the given values and explain it (see ``chainrule.explain``).

    >>> e = explain_expression("2*(x*y + max(z, w))", {"x": 3, "y": -4, "z": 2, "w": -1})
    >>> [float(g) for g in e.gradients.values()]
    [-8.0, 6.0, 2.0, 0.0]
    """
    from chainrule.viz import explanation

    parsed = parse_expression(text)
    leaves: dict[str, Any] = {}
    out = parsed.evaluate(values, leaves)
    options.setdefault("title", f"f = {text.strip()}")
    names = dict(leaves) if out._node is None else {**leaves, "f": out}
    return explanation.explain(out, names=names, **options)


class _Checker:
    """Walk the tree once, refusing anything outside the whitelist."""

    def __init__(self, text: str, indent: int) -> None:
        self.text = text
        self.indent = indent
        self.variables: list[str] = []
        self.count = 0

    def fail(self, message: str, node: ast.AST) -> None:
        col = getattr(node, "col_offset", None)
        if isinstance(node, ast.Attribute) and node.end_col_offset is not None:
            col = node.end_col_offset - len(node.attr) - 1  # point at the dot
        raise ExpressionError(message, self.text, 0 if col is None else col + self.indent + 1)

    def check(self, node: ast.expr, depth: int) -> None:
        self.count += 1
        if self.count > MAX_NODES:
            self.fail(f"the expression has more than {MAX_NODES} parts", node)
        if depth > MAX_DEPTH:
            self.fail(f"the expression is nested more than {MAX_DEPTH} levels deep", node)
        if isinstance(node, ast.Constant):
            v = node.value
            if type(v) not in (int, float):
                what = "strings" if isinstance(v, str | bytes) else f"{type(v).__name__} constants"
                self.fail(f"{what} are not allowed; only numbers", node)
            if not math.isfinite(_number(node) or 0.0):
                self.fail("the number is too large", node)
        elif isinstance(node, ast.Name):
            if node.id in FUNCTIONS:
                self.fail(f"{node.id} is a function: call it as {node.id}(...)", node)
            if not _NAME.match(node.id):
                self.fail(f"{node.id!r} is not allowed as a variable name", node)
            if node.id not in self.variables:
                self.variables.append(node.id)
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, ast.USub | ast.UAdd):
                self.fail(f"the operator {type(node.op).__name__} is not allowed", node)
            self.check(node.operand, depth + 1)
        elif isinstance(node, ast.BinOp):
            # a chain a + b + c ... is flat to its reader: walk its left spine in a loop
            while isinstance(node, ast.BinOp):
                if type(node.op) not in _OPS:
                    self.fail(f"the operator {type(node.op).__name__} is not allowed", node)
                if isinstance(node.op, ast.Pow):
                    self.check_exponent(node.right)
                self.check(node.right, depth + 1)
                node = node.left
                self.count += 1
                if self.count > MAX_NODES:
                    self.fail(f"the expression has more than {MAX_NODES} parts", node)
            self.check(node, depth + 1)
        elif isinstance(node, ast.Call):
            self.check_call(node, depth)
        else:
            what = _DESCRIBE.get(type(node), f"{type(node).__name__} expressions")
            detail = f" (.{node.attr})" if isinstance(node, ast.Attribute) else ""
            self.fail(
                f"{what}{detail} {'is' if what.endswith('access') else 'are'} not allowed", node
            )

    def check_exponent(self, node: ast.expr) -> None:
        for sub in ast.walk(node):
            if isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.Pow):
                self.fail("power towers (a ** b ** c) are not allowed", sub)
        value = _constant(node)
        if value is not None and abs(value) > MAX_EXPONENT:
            self.fail(f"the exponent {value:g} is too large (at most +-{MAX_EXPONENT})", node)

    def check_call(self, node: ast.Call, depth: int) -> None:
        if not isinstance(node.func, ast.Name):
            self.check(node.func, depth + 1)  # refuses attribute access, calls of calls ...
            self.fail("only the listed functions can be called", node)
        assert isinstance(node.func, ast.Name)
        name = node.func.id
        if name not in FUNCTIONS:
            allowed = ", ".join(sorted(FUNCTIONS))
            self.fail(f"unknown function {name!r}; the functions are {allowed}", node)
        if node.keywords:
            self.fail(f"{name}() takes no keyword arguments", node.keywords[0].value)
        want = 1 if name in UNARY else 2
        if len(node.args) != want:
            self.fail(f"{name}() takes {want} argument{'s' if want > 1 else ''}", node)
        for a in node.args:
            self.check(a, depth + 1)


def _constant(node: ast.expr) -> float | None:
    """The value of a (signed) number literal, else None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        v = _constant(node.operand)
        return None if v is None else (-v if isinstance(node.op, ast.USub) else v)
    return _number(node)


def _number(node: ast.expr) -> float | None:
    """The value of a number literal (inf when too large for a float), else None."""
    if not isinstance(node, ast.Constant):
        return None
    v = node.value
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    try:
        return float(v)
    except OverflowError:
        return math.inf


def _column(text: str, tree: ast.expr, name: str) -> int:
    indent = len(text) - len(text.lstrip())
    for sub in ast.walk(tree):
        if isinstance(sub, ast.Name) and sub.id == name:
            return sub.col_offset + indent + 1
    return 0


class _Builder:
    """Turn a checked tree into chainrule operations (iteratively deep trees are refused)."""

    def __init__(self, text: str, leaves: Mapping[str, Any]) -> None:
        self.text = text
        self.leaves = leaves

    def build(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            return _number(node)
        if isinstance(node, ast.Name):
            return self.leaves[node.id]
        if isinstance(node, ast.UnaryOp):
            v = self.build(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp):
            spine = []
            while isinstance(node, ast.BinOp):  # a + b + c ...: fold the chain in a loop
                spine.append(node)
                node = node.left
            acc = self.build(node)
            for op in reversed(spine):
                right = self.build(op.right)
                if isinstance(op.op, ast.Pow):
                    self.check_power(op, right)
                acc = self.binary(op, acc, right)
            return acc
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        args = [self.build(a) for a in node.args]
        name = node.func.id
        try:
            if name in UNARY:
                return UNARY[name](_lift(args[0]))
            return BINARY[name](_lift(args[0]), _lift(args[1]))
        except ValueError as e:
            raise ExpressionError(f"{name}: {e}", self.text, self.col(node)) from None

    def col(self, node: ast.expr) -> int:
        return node.col_offset + len(self.text) - len(self.text.lstrip()) + 1

    def check_power(self, node: ast.BinOp, exponent: Any) -> None:
        """An exponent known only from a variable's value is bounded here."""
        e = np.asarray(exponent.data if isinstance(exponent, _tensor.Tensor) else exponent)
        big = float(np.nanmax(np.abs(e))) if e.size else 0.0
        if big > MAX_EXPONENT:
            raise ExpressionError(
                f"the exponent's value {big:g} is too large (at most +-{MAX_EXPONENT})",
                self.text,
                self.col(node.right),
            )

    def binary(self, node: ast.BinOp, a: Any, b: Any) -> Any:
        try:
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                return a * b
            if isinstance(node.op, ast.Div):
                return a / b
            if isinstance(node.op, ast.Pow):
                return a**b
            return _lift(a) @ _lift(b)
        except (ValueError, ZeroDivisionError, OverflowError) as e:
            raise ExpressionError(
                f"{_OPS[type(node.op)]}: {e}", self.text, self.col(node)
            ) from None


def _lift(v: Any) -> Any:
    return v if isinstance(v, _tensor.Tensor) else _tensor.tensor(v, dtype="float64")
