"""Hypothesis strategies for the whole suite, in one place: shapes, arrays, axes, indices.

Shapes include 0-d and size-1 axes; pairs are drawn to broadcast against each other. Arrays are
float64 (gradients are checked in float64). Ops with kinks (abs, relu, maximum, clip, max) get
values on a grid that keeps them away from the kink, so central differences are valid there.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

MAX_SIDE = 4


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1) -> st.SearchStrategy[Any]:
    """Array shapes with 0 to ``max_dims`` axes of length ``min_side`` to 4."""
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=MAX_SIDE
    )


def broadcast_shapes(n: int = 2, min_dims: int = 0, max_dims: int = 3) -> st.SearchStrategy[Any]:
    """``n`` shapes that broadcast together (size-1 axes and missing leading axes included)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=n, min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=MAX_SIDE
    ).map(lambda b: b.input_shapes)


def floats(shape: Any, lo: float = -3.0, hi: float = 3.0) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays with elements in [lo, hi]."""
    elements = st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    return hnp.arrays(np.float64, shape, elements=elements)


@st.composite
def away_from_zero(draw: st.DrawFn, shape: Any, margin: float = 0.1, hi: float = 3.0) -> np.ndarray:
    """float64 arrays with |element| in [margin, hi] and either sign (for 1/x, abs, relu)."""
    magnitude = draw(floats(shape, margin, hi))
    negative = draw(hnp.arrays(np.bool_, shape))
    return np.where(negative, -magnitude, magnitude)


def grid(
    shape: Any, offset: float = 0.0, unique: bool = False, span: int = 15
) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays on the grid ``0.2 k + offset`` (|k| <= span).

    Two arrays drawn with offsets 0 and 0.1 never tie and stay 0.1 apart, which keeps
    maximum/minimum/clip away from their kinks; ``unique`` gives a single maximum per axis.
    """
    ks = hnp.arrays(np.int64, shape, elements=st.integers(-span, span), unique=unique)
    return ks.map(lambda k: 0.2 * k + offset)


def axes_for(ndim: int, allow_none: bool = True) -> st.SearchStrategy[Any]:
    """A reduction's ``axis``: None, one axis (negative allowed) or a tuple of distinct axes."""
    options: list[st.SearchStrategy[Any]] = [st.just(())]
    if allow_none:
        options.append(st.none())
    if ndim > 0:
        one = st.integers(-ndim, ndim - 1)
        several = st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)
        # each chosen axis written either as i or as i - ndim
        signed = several.flatmap(
            lambda axs: st.tuples(*[st.sampled_from([a, a - ndim]) for a in axs])
        )
        options += [one, signed]
    return st.one_of(*options)


def one_axis(ndim: int) -> st.SearchStrategy[int]:
    """One existing axis of an ``ndim``-d array, negative allowed."""
    return st.integers(-ndim, ndim - 1)


def matmul_shapes() -> st.SearchStrategy[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Shapes x, y for x @ y: 1-D or 2-D operands, or batches with broadcast batch axes."""

    @st.composite
    def draw_shapes(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...]]:
        n, k, m = (draw(st.integers(1, MAX_SIDE)) for _ in range(3))
        bx, by = draw(broadcast_shapes(2, min_dims=0, max_dims=2))
        x_kind = draw(st.sampled_from(["vector", "matrix", "batch"]))
        y_kind = draw(st.sampled_from(["vector", "matrix", "batch"]))
        x = {"vector": (k,), "matrix": (n, k), "batch": (*bx, n, k)}[x_kind]
        y = {"vector": (k,), "matrix": (k, m), "batch": (*by, k, m)}[y_kind]
        return x, y

    return draw_shapes()


@st.composite
def broadcast_target(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(shape, target) where ``shape`` broadcasts to ``target`` (for broadcast_to)."""
    target = draw(shapes(0, 3))
    kept = draw(st.integers(0, len(target)))  # how many trailing axes the input keeps
    tail = target[len(target) - kept :]
    shape = tuple(draw(st.sampled_from([1, s])) for s in tail)
    return shape, target
