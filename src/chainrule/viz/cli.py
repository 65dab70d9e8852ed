"""``chainrule explain``: explain an expression from the command line.

``register(subparsers)`` adds the subcommand to the ``chainrule`` program (``chainrule.cli``);
its handler prints the explanation and writes the pictures asked for. Bad input (an expression
the parser refuses, a missing variable, a file that cannot be written) prints the reason on
stderr and returns 2, without a traceback.

>>> import argparse
>>> parser = argparse.ArgumentParser(prog="chainrule")
>>> _ = register(parser.add_subparsers())
>>> args = parser.parse_args(["explain", "(x+y)*z", "x=-2", "y=5", "z=-4"])
>>> args.func(args)  # doctest: +ELLIPSIS
Explanation of f = (x+y)*z
...
    df/dz = 3.00
0
"""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any

import numpy as np

from chainrule.viz import expr, layout, png

EPILOG = """\
examples:
  chainrule explain "(x+y)*z" x=-2 y=5 z=-4
  chainrule explain "1/(1+exp(-(w0*x0+w1*x1+w2)))" w0=2 x0=-1 w1=-3 x1=-2 w2=-3 --html neuron.html
  chainrule explain "(x+y)*z" x=-2 y=5 z=-4 --png graph.png --dpi 150 --size 8x6
  chainrule explain "sum((W@x)**2)" "W=[[0.1,0.5],[-0.3,0.8]]" "x=[0.2,0.4]" --jacobian

The expression takes numbers, variables, + - * / ** @, unary minus, parentheses and the
functions exp, log, sqrt, tanh, sigmoid, relu, abs, max, min, sum, mean. A variable's value is
a number or a (nested) list of numbers.
"""


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``explain`` subcommand to an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "explain",
        help="show every step of backprop through an expression, with the numbers",
        description="Explain the forward and backward pass of an expression, step by step.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("expression", help='the expression, e.g. "(x+y)*z"')
    p.add_argument("values", nargs="*", metavar="NAME=VALUE", help="a value for each variable")
    p.add_argument("--svg", metavar="PATH", help="write the graph as SVG")
    p.add_argument("--png", metavar="PATH", help="write the graph as PNG")
    p.add_argument(
        "--dpi",
        type=int,
        default=None,
        metavar="N",
        help=f"the PNG's dots per inch, {DPI[0]} to {DPI[1]} (default: 110)",
    )
    p.add_argument(
        "--size",
        default=None,
        metavar="WxH",
        help="the PNG's width and height in inches, e.g. 8x6: the graph is scaled to fit, "
        f"centred, each side {SIDE[0]:g} to {SIDE[1]:g} (default: the size the graph needs)",
    )
    p.add_argument("--html", metavar="PATH", help="write a page that steps through the passes")
    p.add_argument(
        "--jacobian",
        action="store_true",
        help="show the Jacobian of each vectorized gate and the VJP backprop computes instead",
    )
    p.add_argument(
        "--precision",
        type=int,
        default=None,
        metavar="N",
        help="decimals shown for every value and gradient, in the text and the pictures, "
        "0 to 12 (default: 2, or 3 where a value needs them)",
    )
    p.set_defaults(func=handler)
    return p


DPI = (20, 1200)
SIDE = (0.5, 200.0)  # inches


def parse_size(text: str) -> tuple[float, float]:
    """``"8x6"`` -> (8.0, 6.0) inches; ValueError with the reason for anything else.

    >>> parse_size("8x6"), parse_size("4.5X3")
    ((8.0, 6.0), (4.5, 3.0))
    """
    parts = text.lower().split("x")
    try:
        if len(parts) != 2:
            raise ValueError
        w, h = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"--size takes WIDTHxHEIGHT in inches, e.g. 8x6; got {text!r}") from None
    for side in (w, h):
        if not SIDE[0] <= side <= SIDE[1]:  # also refuses nan and inf
            raise ValueError(
                f"--size: each side must be {SIDE[0]:g} to {SIDE[1]:g} inches; got {text!r}"
            )
    return w, h


def _fail(message: str) -> int:
    print(f"chainrule explain: error: {message}", file=sys.stderr)
    return 2


def handler(args: argparse.Namespace) -> int:
    """Run ``chainrule explain``; 0 on success, 2 on bad input (the reason on stderr)."""
    if args.precision is not None and not 0 <= args.precision <= 12:
        return _fail(f"--precision must be between 0 and 12, got {args.precision}")
    png_options: dict[str, Any] = {}
    if args.dpi is not None:
        if not DPI[0] <= args.dpi <= DPI[1]:
            return _fail(f"--dpi must be between {DPI[0]} and {DPI[1]}, got {args.dpi}")
        png_options["dpi"] = args.dpi
    if args.size is not None:
        try:
            png_options["size"] = parse_size(args.size)
        except ValueError as e:
            return _fail(str(e))
    if png_options and args.png is None:
        return _fail("--dpi and --size shape the PNG: give --png PATH too")
    try:
        values = expr.parse_assignments(args.values)
        # log(0), 0/0, overflow: the explanation prints the inf or nan; no NumPy warning with
        # chainrule's source paths on stderr
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            explanation = expr.explain_expression(args.expression, values, precision=args.precision)
    except expr.ExpressionError as e:
        return _fail(str(e))
    print(explanation)
    if args.jacobian:
        print()
        print(_jacobians(explanation))
    writers = (
        ("svg", explanation.to_svg),
        ("png", lambda path: explanation.to_png(path, **png_options)),
        ("html", explanation.to_html),
    )
    for kind, write in writers:
        path = getattr(args, kind)
        if path is None:
            continue
        try:
            write(path)
        except (layout.GraphTooLargeError, png.PictureSizeError) as e:
            return _fail(str(e))
        except OSError as e:
            return _fail(f"cannot write {path}: {e.strerror or e}")
        print(f"wrote {path}")
    return 0


def _jacobians(explanation: Any) -> str:
    gates = [n for n in explanation.nodes if not n.is_input]
    vector = [
        n
        for n in gates
        if n.value.size > 1 or any(explanation.nodes[j].value.size > 1 for j in n.inputs)
    ]
    if not vector:
        return (
            "Jacobian lens: every value here is a scalar, so each gate's Jacobian is 1 x 1: "
            "its local gradient, shown above. Give a variable a list value (x=[1,2]) to see "
            "diagonal and block structure."
        )
    return "\n\n".join(str(explanation.jacobian(n)) for n in vector)


def main(argv: list[str] | None = None) -> int:
    """``python -m chainrule.viz.cli ...``: the subcommand on its own (for tests and debugging)."""
    parser = argparse.ArgumentParser(prog="chainrule")
    register(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
