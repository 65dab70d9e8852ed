"""``compare_grads``: check gradients derived by hand against the ones backprop computed.

For the learner who writes a backward pass by hand (the CS231n assignments, makemore's
"backprop ninja"): ``manual`` maps names to NumPy arrays, ``reference`` maps the same names to
Tensors after ``backward()`` (their ``.grad``) or to arrays. Each name is reported as
``exact`` (bitwise equal), ``close`` (within ``np.allclose(rtol, atol)``, the tolerance
printed), ``DIFFERENT`` (with the max abs difference), ``SHAPE`` (both shapes given) or
``MISSING`` (on one side only).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np


@dataclasses.dataclass
class GradComparison:
    """One name's verdict: ``status`` is exact, close, DIFFERENT, SHAPE or MISSING."""

    name: str
    status: str
    max_abs_diff: float
    manual_shape: tuple[int, ...] | None
    reference_shape: tuple[int, ...] | None

    @property
    def ok(self) -> bool:
        return self.status in ("exact", "close")


def _array(value: Any) -> np.ndarray:
    grad = getattr(value, "grad", None) if hasattr(value, "requires_grad") else None
    if hasattr(value, "requires_grad"):  # a Tensor: its gradient
        if grad is None:
            raise ValueError("has no .grad: call backward() first (or retain_grad() on a "
                             "non-leaf Tensor)")  # fmt: skip
        value = grad
    return np.asarray(getattr(value, "data", value), dtype=np.float64)


def compare_grads(
    manual: Mapping[str, Any],
    reference: Mapping[str, Any],
    rtol: float = 1e-5,
    atol: float = 1e-8,
    verbose: bool = True,
) -> dict[str, GradComparison]:
    """Compare each hand-derived gradient in ``manual`` with ``reference`` of the same name;
    prints one line per name (unless ``verbose`` is False) and returns the verdicts.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> x = cr.tensor([[1.0, -2.0]], requires_grad=True)
    >>> w = cr.tensor([[3.0], [0.5]], requires_grad=True)
    >>> (x @ w).tanh().sum().backward()
    >>> dh = 1 - np.tanh(x.data @ w.data) ** 2      # backward through tanh by hand
    >>> r = cr.compare_grads({"x": dh @ w.data.T, "w": x.data.T @ dh * 2}, {"x": x, "w": w})
    x  exact
    w  DIFFERENT  max abs diff 0.141
    >>> r["w"].ok
    False
    """
    width = max(map(len, [*manual, *reference]), default=0)
    results: dict[str, GradComparison] = {}
    for name in [*manual, *(k for k in reference if k not in manual)]:
        mine = np.asarray(manual[name], dtype=np.float64) if name in manual else None
        if name in reference:
            try:
                ref = _array(reference[name])
            except ValueError as e:
                raise ValueError(f"compare_grads: reference[{name!r}] {e}") from None
        else:
            ref = None
        if mine is None or ref is None:
            side = "manual" if mine is None else "reference"
            res = GradComparison(name, "MISSING", float("nan"),
                                 None if mine is None else mine.shape,
                                 None if ref is None else ref.shape)  # fmt: skip
            line = f"MISSING  (no {name!r} in {side})"
        elif mine.shape != ref.shape:
            res = GradComparison(name, "SHAPE", float("nan"), mine.shape, ref.shape)
            line = f"SHAPE  manual {mine.shape} vs reference {ref.shape}"
        else:
            diff = float(np.abs(mine - ref).max()) if mine.size else 0.0
            if np.array_equal(mine, ref):
                status, line = "exact", "exact"
            elif np.allclose(mine, ref, rtol=rtol, atol=atol):
                status = "close"
                line = f"close (rtol {rtol:g}, atol {atol:g})  max abs diff {diff:.3g}"
            else:
                status, line = "DIFFERENT", f"DIFFERENT  max abs diff {diff:.3g}"
            res = GradComparison(name, status, diff, mine.shape, ref.shape)
        results[name] = res
        if verbose:
            print(f"{name:<{width}}  {line}")
    return results
