"""Anomaly detection: raise at the first NaN or inf, naming the op and the line that made it.

>>> import chainrule as cr
>>> x = cr.tensor([-1.0, 4.0], requires_grad=True)
>>> with cr.detect_anomaly():  # doctest: +ELLIPSIS
...     y = cr.sqrt(x)
Traceback (most recent call last):
...
chainrule.anomaly.AnomalyError: Sqrt produced nan in its forward pass (1 of 2 elements), ...

Inside ``detect_anomaly()`` NumPy's floating-point warnings (divide by zero, overflow, invalid
value) are silenced: the AnomalyError, naming the op and the line, replaces them.
"""

from __future__ import annotations

import os
import traceback
from typing import Any

import numpy as np

from chainrule import function

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class AnomalyError(FloatingPointError):
    """A NaN or inf appeared in a forward or backward pass under ``detect_anomaly()``.

    ``node`` is the Function where it appeared (None when nothing was recorded); ``value`` is
    the bad forward output (None for a backward anomaly), so ``chainrule.explain`` can show it.
    """

    def __init__(self, message: str, node: Any = None, value: Any = None) -> None:
        super().__init__(message)
        self.node = node
        self.value = value


class detect_anomaly:  # noqa: N801 - PyTorch's name
    """Context manager: check every op's output and gradient for NaN/inf (slow; for debugging).

    The error names the op and the user's source line that created it; the node where the
    value first appeared is kept on ``AnomalyError.node`` and marked in ``chainrule.explain``.
    """

    def __enter__(self) -> detect_anomaly:
        self._prev = function.GradMode.anomaly
        # NumPy's RuntimeWarning would come first (an exception under warnings-as-errors) and
        # hide which op made the value; the AnomalyError names it
        self._errstate = np.errstate(divide="ignore", over="ignore", invalid="ignore")
        self._errstate.__enter__()
        function.GradMode.anomaly = True
        return self

    def __exit__(self, *exc: object) -> None:
        function.GradMode.anomaly = self._prev
        self._errstate.__exit__(None, None, None)


def user_frame(stack: list[traceback.FrameSummary] | None) -> traceback.FrameSummary | None:
    """The innermost frame outside chainrule: the user's line that created a node."""
    for frame in reversed(stack or []):
        if not os.path.abspath(frame.filename).startswith(_PACKAGE_DIR):
            return frame
    return None


def _where(node: Any) -> str:
    # a recorded node keeps the stack of its creation; an unrecorded op is still on the stack
    frame = user_frame(node.trace if node is not None else traceback.extract_stack())
    if frame is None:
        return ""
    return f", created at {frame.filename}:{frame.lineno}: {(frame.line or '').strip()}"


def _bad(a: Any) -> str | None:
    arr = np.asarray(a)
    if arr.dtype.kind not in "fc" or np.isfinite(arr).all():
        return None
    kind = "nan" if np.isnan(arr).any() else "inf"
    n = int((~np.isfinite(arr)).sum())
    return f"{kind} ({n} of {arr.size} elements)"


def check_forward(name: str, out: Any, node: Any = None) -> None:
    bad = _bad(out)
    if bad:
        raise AnomalyError(
            f"{name} produced {bad.split(' ', 1)[0]} in its forward pass "
            f"{bad.split(' ', 1)[1]}{_where(node)}",
            node,
            out,
        )


def after_forward(node: Any, out: Any) -> None:
    node._set_extra("trace", traceback.extract_stack()[:-2])
    check_forward(type(node).__name__, out, node)


def check_backward(node: Any, dins: tuple[Any, ...]) -> None:
    for i, g in enumerate(dins):
        if g is None:
            continue
        bad = _bad(g)
        if bad:
            raise AnomalyError(
                f"{type(node).__name__}.backward produced {bad.split(' ', 1)[0]} in the gradient "
                f"of input {i} {bad.split(' ', 1)[1]}{_where(node)}",
                node,
            )
