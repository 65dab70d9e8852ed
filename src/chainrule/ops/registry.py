"""The op registry: every gate's facts, declared once, beside the gate, with ``@op(...)``.

PyTorch keeps one ``derivatives.yaml`` row per op; chainrule keeps one decorator per gate. Each
table that used to repeat an op's facts is derived from here: ``ops.ALL_OPS``, the NumPy ufuncs
that Tensors dispatch (``Tensor.__array_ufunc__``), the explanation tables of ``viz.gates`` (a
gate's label, local gradient and backward pattern in the lecture's words), the Jacobian lens's
``REBUILDABLE`` and the functions an ``explain`` expression may call. A meta-test
(``tests/ops/test_registry.py``) fails when a gate lacks a fact or a test-table row.

>>> from chainrule.ops import elementwise
>>> f = elementwise.Exp.facts
>>> f.function, f.method, f.ufuncs, f.label, f.local
('exp', 'exp', ('exp',), 'exp', 'e^x')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

FAMILIES = ("arithmetic", "elementwise", "reduce", "shape", "linalg", "nn", "conv", "compare",
            "creation")  # fmt: skip

T = TypeVar("T", bound=type)


@dataclass(frozen=True)
class OpFacts:
    """What one gate is, for everything that is not its forward and backward."""

    gate: str  # the class name, as graphs and explanations name the node
    family: str  # one of FAMILIES: where it lives and which test table has its row
    function: str | None  # its public function (NumPy's name), in ``namespace``
    method: str | None  # its Tensor method, or None
    label: str  # what a picture of the graph shows on the gate
    local: str  # its local gradient (or backward pattern) in the lecture's words
    namespace: str = "chainrule"  # the module where ``function`` lives
    ufuncs: tuple[str, ...] = ()  # NumPy ufuncs on Tensors that this gate serves
    symbol: str | None = None  # the binary operator it is (+ - * / ** @), if any
    pattern: str | None = None  # its backward pattern as a sentence ("add distributes: ...")
    unary: bool = False  # a one-input gate whose local derivative is ``local`` (in x)
    elementwise: bool = False  # output element i depends on input element i only
    rebuildable: bool = False  # ``type(node).apply(*node.inputs)`` rebuilds it (no options)
    expr: str | None = None  # the name an ``explain`` expression calls it by, if any
    arity: int = 1  # how many Tensor inputs a ufunc call passes


ALL: dict[type, OpFacts] = {}  # gate class -> its facts, in registration order


def op(**facts: Any) -> Callable[[T], T]:
    """Declare a gate's facts: ``@op(family="elementwise", function="exp", ...)``.

    The facts are stored as ``cls.facts`` and in ``ALL``; a family outside ``FAMILIES`` or a
    gate registered twice is an error at import, not a silent gap in a table.
    """

    def register(cls: T) -> T:
        family = facts.get("family")
        if family not in FAMILIES:
            raise ValueError(f"@op on {cls.__name__}: family {family!r} is not one of {FAMILIES}")
        if cls in ALL:
            raise ValueError(f"@op: {cls.__name__} is registered twice")
        info = OpFacts(gate=cls.__name__, **facts)
        cls.facts = info  # type: ignore[attr-defined]
        ALL[cls] = info
        return cls

    return register


def gates(*families: str) -> tuple[type, ...]:
    """The registered gates of these families (all when none is named), in registration order."""
    return tuple(c for c, f in ALL.items() if not families or f.family in families)


def facts_by_name() -> dict[str, OpFacts]:
    """Each registered gate's facts by its class name (what graphs and explanations see)."""
    return {f.gate: f for f in ALL.values()}
