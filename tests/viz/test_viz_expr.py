"""The expression parser: a whitelist over Python's ast, so hostile text is refused, with the
offending column, and nothing in it ever runs."""

from __future__ import annotations

import builtins
import os
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule.viz import expr
from chainrule.viz.expr import ExpressionError, parse_assignments, parse_expression

HOSTILE = [
    ("__import__('os').system('x')", "attribute access (.system)"),
    ("().__class__", "attribute access"),
    ("().__class__.__bases__[0].__subclasses__()", "not allowed"),
    ("x.y", "attribute access (.y)"),
    ("lambda: 1", "lambdas"),
    ("(lambda: os.system('x'))()", "lambdas"),
    ("exp(x)(1)", "only the listed functions"),
    ("[i for i in x]", "comprehensions"),
    ("(i for i in x)", "comprehensions"),
    ("{i: i for i in x}", "comprehensions"),
    ("open('f')", "unknown function 'open'"),
    ("eval('1')", "unknown function 'eval'"),
    ("exec('x=1')", "unknown function 'exec'"),
    ("__import__('os')", "unknown function '__import__'"),
    ("exp(x, base=2)", "keyword arguments"),
    ("exp(*x)", "starred"),
    ("2**2**100", "power towers"),
    ("x**(2**10)", "power towers"),
    ("9**9999", "too large"),
    ("x**-101", "too large"),
    ("'abc'", "strings"),
    ("b'abc'", "strings"),
    ("f'{x}'", "strings"),
    ("x[0]", "subscripts"),
    ("[1, 2]", "lists"),
    ("x if y else z", "if-expressions"),
    ("x < y", "comparisons"),
    ("x and y", "and/or"),
    ("(y := 2)", "assignment"),
    ("x // y", "FloorDiv"),
    ("x % y", "Mod"),
    ("~x", "Invert"),
    ("not x", "Not"),
    ("exp", "exp is a function"),
    ("__x", "not allowed as a variable name"),
    ("1j", "complex constants"),
    ("True", "bool constants"),
    ("...", "ellipsis constants"),
    ("1" * 400, "too large"),
    ("x" + "+x" * 400, "more than 300 parts"),
    ("exp(" * 30 + "x" + ")" * 30 + "+y" * 300, "more than 300 parts"),
    ("(" * 60 + "x" + ")" * 60, "nested more than"),
    ("-" * 200 + "x", "nested more than"),
    ("x +", "ends too soon"),
    ("x y", "syntax error"),
    ("x\x00", "unexpected character"),
    ("x\u00e9", "unexpected character"),
    ("x = 1", "syntax error"),
    ("import os", "syntax error"),
    ("x; y", "syntax error"),
    ("", "empty"),
]


@pytest.fixture
def tripwires(monkeypatch):
    """Record any call that would mean hostile text ran: imports, os.system, open, eval, exec."""
    calls: list[str] = []
    real_import = builtins.__import__

    def record(name):
        def fn(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} was called while parsing")

        return fn

    def guarded_import(name, *args, **kwargs):
        if name in ("os", "subprocess", "sys", "shutil", "socket"):
            calls.append(f"import {name}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(os, "system", record("os.system"))
    monkeypatch.setattr(subprocess, "Popen", record("subprocess.Popen"))
    monkeypatch.setattr(builtins, "open", record("open"))
    monkeypatch.setattr(builtins, "eval", record("eval"))
    monkeypatch.setattr(builtins, "exec", record("exec"))
    monkeypatch.setattr(builtins, "__import__", guarded_import)
    return calls


@pytest.mark.parametrize(("text", "message"), HOSTILE)
def test_hostile_input_is_refused_without_running(tripwires, text, message):
    with pytest.raises(ExpressionError) as info:
        p = parse_expression(text)
        p.evaluate(dict.fromkeys(p.variables, 1.0))
    assert message in str(info.value)
    assert tripwires == []
    assert "\n" not in info.value.message  # the message alone is one line


def test_overlong_input_is_refused_before_parsing():
    with pytest.raises(ExpressionError, match="1001 characters long; at most 1000"):
        parse_expression("x+" * 500 + "x")


def test_error_points_at_the_offending_part():
    with pytest.raises(ExpressionError) as info:
        parse_expression("(x + y).__class__")
    err = info.value
    assert err.column == 8  # the dot
    lines = str(err).splitlines()
    assert lines[1].strip() == "(x + y).__class__"
    assert lines[2].index("^") - lines[1].index("(") == err.column - 1
    with pytest.raises(ExpressionError, match="column 10"):
        parse_expression("exp(x) + open(y)")


def test_long_flat_chains_are_fine():
    p = parse_expression("+".join(f"x{i}" for i in range(150)))
    assert p.evaluate({f"x{i}": i for i in range(150)}).item() == sum(range(150))


def test_exponent_from_a_variable_is_bounded_at_evaluation():
    p = parse_expression("x ** y")
    with pytest.raises(ExpressionError, match="exponent's value 1000 is too large"):
        p.evaluate({"x": 2, "y": 1000})
    assert p.evaluate({"x": 2, "y": 10}).item() == 1024.0


def test_missing_and_unused_variables():
    p = parse_expression("(x+y)*z")
    with pytest.raises(ExpressionError, match="variable 'z' has no value: give it as z=VALUE"):
        p.evaluate({"x": 1, "y": 2})
    with pytest.raises(ExpressionError, match="'w' is given but the expression never uses it"):
        p.evaluate({"x": 1, "y": 2, "z": 3, "w": 4})


def test_values_from_the_command_line():
    v = parse_assignments(["x=-2", "W=[[0.1, 0.5], [-0.3, 0.8]]", "b = 1e-3"])
    assert v == {"x": -2.0, "W": [[0.1, 0.5], [-0.3, 0.8]], "b": 0.001}
    for bad, msg in [
        (["x"], "expected NAME=VALUE"),
        (["x="], "expected NAME=VALUE"),
        (["x=__import__('os')"], "must be a number"),
        (["x=1", "x=2"], "given twice"),
        (["exp=1"], "cannot be a variable name"),
        (["x=[[[[[[1]]]]]]"], "nested too deeply"),
        (["x=" + "9" * 400], "must be a number"),
        (["x=nan"], "must be a number"),
        (["x=-[1]"], "a minus sign goes on a number"),
        (["x=((("], "cannot read the value"),
    ]:
        with pytest.raises(ExpressionError, match=msg):
            parse_assignments(bad)
    with pytest.raises(ExpressionError, match="at most 256"):
        parse_expression("sum(x)").evaluate({"x": [1.0] * 300})


def test_every_function_and_operator_builds():
    text = "sum(W@x) + mean(x) + exp(a) + log(b) + sqrt(b) + tanh(a) + sigmoid(a) + relu(a)"
    text += " + abs(-a) + max(a, b) + min(a, b) + a/b - a**2 + +a"
    p = parse_expression(text)
    out = p.evaluate({"W": [[1, 2], [3, 4]], "x": [1, -1], "a": 0.5, "b": 2})
    import math

    want = (-1 - 1) + 0 + math.exp(0.5) + math.log(2) + math.sqrt(2) + math.tanh(0.5)
    want += 1 / (1 + math.exp(-0.5)) + 0.5 + 0.5 + 2 + 0.5 + 0.25 - 0.25 + 0.5
    assert out.item() == pytest.approx(want)


def test_wrong_arity_and_shapes_are_clear():
    with pytest.raises(ExpressionError, match=r"max\(\) takes 2 arguments"):
        parse_expression("max(x)")
    with pytest.raises(ExpressionError, match="exp"):
        parse_expression("exp(x, y)")
    with pytest.raises(ExpressionError, match="@"):
        parse_expression("W @ x").evaluate({"W": [[1, 2, 3]], "x": [1, 2]})
    with pytest.raises(ExpressionError, match="no variable"):
        parse_expression("1 + 2").evaluate({})
    with pytest.raises(ExpressionError, match="/"):
        parse_expression("x + 1/0").evaluate({"x": 1})


ALPHABET = "xyz0129.+-*/()@ ,_aepslqrtmnid[]'\"=:<>"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=40))
def test_any_text_is_either_an_expression_or_a_clear_error(text):
    try:
        p = parse_expression(text)
    except ExpressionError as e:
        assert e.message
        return
    assert all(v not in expr.FUNCTIONS for v in p.variables)
