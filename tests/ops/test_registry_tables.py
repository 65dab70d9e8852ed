"""The derived tables equal the literal tables they replaced (commit 4f9c447), gate for gate.

``test_registry.py`` spot-checks the derivations; this pins every entry the old literals had,
so a changed fact in a decorator shows up here. Gates registered since (``IndexAdd``, the fused
nn gates) may add entries; the old gates' entries must not change.
"""

from __future__ import annotations

from typing import Any

import chainrule as cr
from chainrule import _tensor
from chainrule.ops import ALL_OPS, registry
from chainrule.viz import expr, gates, jacobian

OLD_UNARY = {
    "Exp": ("exp", "e^x"),
    "Log": ("log", "1/x"),
    "Sqrt": ("sqrt", "1/(2 sqrt(x))"),
    "Abs": ("abs", "sign(x)"),
    "Sin": ("sin", "cos(x)"),
    "Cos": ("cos", "-sin(x)"),
    "Tanh": ("tanh", "1 - tanh(x)^2"),
    "Sigmoid": ("sigmoid", "(1 - sigmoid(x)) sigmoid(x)"),
    "ReLU": ("relu", "1 if x > 0 else 0"),
    "LeakyReLU": ("leaky_relu", "1 if x > 0 else slope"),
    "ELU": ("elu", "1 if x > 0 else elu(x) + alpha"),
    "Neg": ("*-1", "-1"),
    "Clip": ("clip", "1 inside the bounds, else 0"),
    "Cast": ("cast", "1"),
}
OLD_BINARY_SYMBOL = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "Pow": "**", "MatMul": "@"}
OLD_ELEMENTWISE = frozenset(OLD_UNARY) | {
    "Add", "Sub", "Mul", "Div", "Pow", "Maximum", "Minimum", "Where"
}  # fmt: skip
OLD_SHAPE_OPS = frozenset(
    {
        "Reshape",
        "Transpose",
        "BroadcastTo",
        "ExpandDims",
        "Squeeze",
        "Index",
        "Concatenate",
        "Stack",
    }
)
OLD_REDUCE_LOCAL = {
    "Sum": "1 for every element (the upstream is copied to each)",
    "Mean": "1/N for every element (N the number averaged)",
    "Max": "1 at the maximum, 0 elsewhere (ties share)",
    "Min": "1 at the minimum, 0 elsewhere (ties share)",
    "Var": "2 (x - mean) / N",
    "Std": "(x - mean) / (N std)",
    "Softmax": "the softmax Jacobian diag(s) - s s^T, applied row by row",
    "LogSoftmax": "I - softmax(x), applied row by row",
    "LogSumExp": "softmax(x)",
}
OLD_PATTERNS = {
    "Add": "add distributes: each input gets the upstream gradient unchanged",
    "Sub": "sub distributes: the first input gets the upstream, the second its negative",
    "Mul": "mul swaps and scales: each input gets the upstream times the other input",
    "Div": "div: the numerator gets upstream / y, the denominator upstream * (-x / y^2)",
    "Pow": "pow: the base gets upstream * y x^(y-1), the exponent upstream * ln(x) x^y",
    "Maximum": "max routes: the larger input gets the whole upstream, the other gets 0",
    "Minimum": "min routes: the smaller input gets the whole upstream, the other gets 0",
    "ReLU": "relu routes: the upstream passes where the input was positive, else 0",
    "Max": "max routes: the maximum element gets the upstream, the others 0",
    "Min": "min routes: the minimum element gets the upstream, the others 0",
    "Sum": "sum distributes (like add): every element gets the upstream",
    "Mean": "mean distributes: every element gets the upstream / N",
    "MatMul": "matmul swaps and scales, as matrices: each input gets the upstream times the "
    "other input, transposed",
    "Softmax": "softmax couples each row: every input gets s * (upstream - sum(upstream * s))",
    "LogSoftmax": "log-softmax couples each row: upstream - softmax * sum(upstream)",
    "LogSumExp": "logsumexp spreads the upstream over its inputs, weighted by softmax(x)",
    "Var": "var: each element gets the upstream times 2 (x - mean) / N",
    "Std": "std: each element gets the upstream times (x - mean) / (N std)",
    "Where": "where routes: each element's upstream goes to the branch that was chosen",
}
OLD_REBUILDABLE = frozenset(
    {"Add", "Sub", "Mul", "Div", "Pow", "Neg", "Exp", "Log", "Sqrt", "Abs", "Sin", "Cos", "Tanh",
     "Sigmoid", "ReLU", "Maximum", "Minimum", "MatMul"}
)  # fmt: skip
# ufunc -> (gate, whether the operands are lifted as a pair)
OLD_UFUNCS = {
    "add": ("Add", True),
    "subtract": ("Sub", True),
    "multiply": ("Mul", True),
    "divide": ("Div", True),
    "true_divide": ("Div", True),
    "power": ("Pow", True),
    "maximum": ("Maximum", True),
    "minimum": ("Minimum", True),
    "matmul": ("MatMul", True),
    "negative": ("Neg", False),
    "exp": ("Exp", False),
    "log": ("Log", False),
    "sqrt": ("Sqrt", False),
    "absolute": ("Abs", False),
    "sin": ("Sin", False),
    "cos": ("Cos", False),
    "tanh": ("Tanh", False),
}
OLD_EXPR_UNARY = {
    "exp": cr.exp, "log": cr.log, "sqrt": cr.sqrt, "tanh": cr.tanh, "sigmoid": cr.sigmoid,
    "relu": cr.relu, "abs": cr.abs, "sum": cr.sum, "mean": cr.mean,
}  # fmt: skip
OLD_EXPR_BINARY = {"max": cr.maximum, "min": cr.minimum}
OLD_ALL_OPS = {
    "Add", "Sub", "Mul", "Div", "Neg", "Pow", "Exp", "Log", "Sqrt", "Abs", "Sin", "Cos", "Tanh",
    "Sigmoid", "ReLU", "LeakyReLU", "ELU", "Maximum", "Minimum", "Clip", "Where", "Cast", "Sum",
    "Mean", "Var", "Std", "Max", "Min", "Softmax", "LogSoftmax", "LogSumExp", "MatMul", "Reshape",
    "Transpose", "BroadcastTo", "ExpandDims", "Squeeze", "Index", "Concatenate", "Stack",
}  # fmt: skip


def _new_gates() -> set[str]:
    return {f.gate for f in registry.ALL.values()} - OLD_ALL_OPS


def _same_on_old_gates(derived: Any, old: Any) -> None:
    """``derived`` has ``old``'s entries exactly; any other key is a gate registered since."""
    derived_keys = set(derived)
    assert derived_keys - set(old) <= _new_gates(), derived_keys - set(old)
    assert set(old) <= derived_keys, set(old) - derived_keys
    if isinstance(old, dict):
        assert {k: derived[k] for k in old} == old


def test_all_ops_holds_the_old_gates() -> None:
    names = {g.__name__ for g in ALL_OPS}
    assert names >= OLD_ALL_OPS and names - OLD_ALL_OPS <= _new_gates()


def test_viz_gates_tables_equal_the_old_literals() -> None:
    _same_on_old_gates(gates.UNARY, OLD_UNARY)
    _same_on_old_gates(gates.BINARY_SYMBOL, OLD_BINARY_SYMBOL)
    _same_on_old_gates(gates.ELEMENTWISE, OLD_ELEMENTWISE)
    _same_on_old_gates(gates.SHAPE_OPS, OLD_SHAPE_OPS)
    _same_on_old_gates(gates.REDUCE_LOCAL, OLD_REDUCE_LOCAL)
    _same_on_old_gates(gates.PATTERNS, OLD_PATTERNS)


def test_rebuildable_equals_the_old_literal() -> None:
    _same_on_old_gates(jacobian.REBUILDABLE, OLD_REBUILDABLE)


def test_ufuncs_equal_the_old_literal() -> None:
    assert set(_tensor._UFUNCS) >= set(OLD_UFUNCS)  # gates registered since may only add
    by_name = registry.facts_by_name()
    for ufunc, (gate, paired) in OLD_UFUNCS.items():
        assert ufunc in by_name[gate].ufuncs
        fn = _tensor._UFUNCS[ufunc]
        if paired:  # a wrapper that lifts a plain operand to the Tensor's dtype, then applies
            out = fn(cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True), [[2.0, 1.0]] * 2)
            assert type(out._node).__name__ == gate and out.dtype == "float32"
        else:
            assert getattr(fn, "__self__", None).__name__ == gate  # the gate's own apply


def test_expression_functions_equal_the_old_literals() -> None:
    assert expr.UNARY == OLD_EXPR_UNARY
    assert expr.BINARY == OLD_EXPR_BINARY


def test_every_public_function_is_exported() -> None:
    """A gate's function in the chainrule namespace is in ``chainrule.__all__`` too."""
    public = {f.function for f in registry.ALL.values() if f.namespace == "chainrule"}
    missing = sorted(n for n in public if n is not None and n not in cr.__all__)
    assert not missing, f"gate functions missing from chainrule.__all__: {missing}"
