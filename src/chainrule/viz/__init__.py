"""See backprop: step-by-step explanations and pictures of a graph, as on the lecture's slides.

``explain(y)`` returns an ``Explanation``: print it for the forward table and the backward
steps (upstream x local = downstream), or write it as SVG, PNG or a self-contained HTML page
that steps through the passes. ``chainrule explain "(x+y)*z" x=-2 y=5 z=-4`` does the same
from the command line (``viz.cli``), on expressions parsed safely by ``viz.expr``. A network's
graph collapses into one node per ``nn`` module call, with shapes and gradient norms
(``viz.modules``; ``explain(y, collapse=False)`` shows every gate).

>>> import chainrule as cr
>>> e = cr.viz.explain_expression("(x+y)*z", {"x": -2, "y": 5, "z": -4})
>>> e.gradients["x"].item(), e.gradients["z"].item()
(-4.0, 3.0)
"""

from chainrule.viz.explanation import Edge, Explanation, Node, Step, Term, explain
from chainrule.viz.expr import ExpressionError, explain_expression, parse_expression

__all__ = [
    "Edge",
    "Explanation",
    "ExpressionError",
    "Node",
    "Step",
    "Term",
    "explain",
    "explain_expression",
    "parse_expression",
]
