"""Tensor creation (zeros, ones, full, the ``_like`` forms, empty, arange, linspace, eye) and
randomness (rand, randn, randint, normal), with ``manual_seed``: one seed for everything random.

Creation functions take NumPy's arguments plus ``dtype=`` and ``requires_grad=``; a Python-float
result defaults to float32, as ``chainrule.tensor`` does. Their results are leaves: creation is
not differentiable (nothing flows into a constant). Only a float tensor may require a gradient.

``manual_seed(n)`` seeds the one global generator that weight initialization (``nn.init``),
dropout masks and the random functions here draw from, and the stream from which each
``DataLoader`` made without a ``seed`` takes its own. The same seed thus repeats a whole run:

>>> import chainrule as cr
>>> cr.manual_seed(0); a = cr.randn(2)
>>> cr.manual_seed(0); bool((cr.randn(2) == a).all())
True
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import _tensor

# None until manual_seed: then the generator of DataLoader seeds (a stream of its own, so that
# making a loader does not shift the weights drawn after it)
_loader_seeds: dict[str, np.random.Generator | None] = {"rng": None}


def manual_seed(n: int) -> None:
    """Seed initialization, dropout, the random functions and DataLoader order, all at once.

    >>> import chainrule as cr
    >>> from chainrule.data import DataLoader
    >>> def first_batch():
    ...     return next(iter(DataLoader(np.arange(6), np.arange(6), 2)))[1].tolist()
    >>> cr.manual_seed(7); a = first_batch()
    >>> cr.manual_seed(7); a == first_batch()
    True
    """
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"manual_seed: the seed must be an integer, got {n!r}") from None
    if n < 0:
        raise ValueError(f"manual_seed: the seed must be non-negative, got {n}")
    from chainrule.nn import init

    init.seed(n)
    _loader_seeds["rng"] = np.random.default_rng([n, 1])


def loader_seed() -> int:
    """A seed for a DataLoader given none: from manual_seed's stream, else from the OS."""
    rng = _loader_seeds["rng"]
    if rng is None:
        return int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    return int(rng.integers(2**63))


def _generator() -> np.random.Generator:
    from chainrule.nn import init

    return init.get_rng()


def _shape(op: str, shape: Any) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], Sequence | np.ndarray):
        shape = tuple(shape[0])  # zeros((2, 3)) as well as zeros(2, 3)
    try:
        dims = tuple(operator.index(s) for s in shape)
    except TypeError:
        raise TypeError(f"{op}: shape must be integers, got {tuple(shape)!r}") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"{op}: shape must be non-negative, got {dims}")
    return dims


def _dtype(op: str, dtype: Any, default: Any = np.float32) -> np.dtype:
    try:
        dt = np.dtype(default if dtype is None else dtype)
    except TypeError:
        raise TypeError(f"{op}: {dtype!r} is not a dtype") from None
    if dt.kind not in "biuf":
        raise TypeError(f"{op}: dtype must be bool, integer or float, got {dt}")
    return dt


def _leaf(op: str, data: np.ndarray, requires_grad: bool) -> Any:
    if requires_grad and data.dtype.kind != "f":
        raise ValueError(
            f"{op}: only a float tensor can require a gradient, got dtype {data.dtype}"
        )
    return _tensor.Tensor._wrap(data, bool(requires_grad))


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Any:
    """A tensor of zeros; shape as ``zeros(2, 3)`` or ``zeros((2, 3))``.

    >>> import chainrule as cr
    >>> cr.zeros(2, 3).shape, cr.zeros((2,), dtype="int64").dtype
    ((2, 3), dtype('int64'))
    """
    data = np.zeros(_shape("zeros", shape), _dtype("zeros", dtype))
    return _leaf("zeros", data, requires_grad)


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Any:
    """A tensor of ones.

    >>> import chainrule as cr
    >>> cr.ones(2)
    tensor([1., 1.])
    """
    return _leaf("ones", np.ones(_shape("ones", shape), _dtype("ones", dtype)), requires_grad)


def empty(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Any:
    """An uninitialized tensor (its values are whatever memory held).

    >>> import chainrule as cr
    >>> cr.empty(3, 2).shape
    (3, 2)
    """
    return _leaf("empty", np.empty(_shape("empty", shape), _dtype("empty", dtype)), requires_grad)


def full(shape: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Any:
    """A tensor of ``fill_value``; the dtype follows the value (a float gives float32).

    >>> import chainrule as cr
    >>> cr.full((2,), 7), cr.full((2,), 0.5)
    (tensor([7, 7]), tensor([0.5, 0.5]))
    """
    dims = _shape("full", (shape,))
    default = np.float32 if isinstance(fill_value, float) else np.asarray(fill_value).dtype
    data = np.full(dims, fill_value, _dtype("full", dtype, default))
    return _leaf("full", data, requires_grad)


def _like_dtype(op: str, x: Any, dtype: Any) -> np.dtype:
    return _dtype(op, dtype, np.asarray(getattr(x, "data", x)).dtype)


def zeros_like(x: Any, dtype: Any = None, requires_grad: bool = False) -> Any:
    """Zeros of x's shape and (by default) dtype.

    >>> import chainrule as cr
    >>> cr.zeros_like(cr.tensor([1.0, 2.0]))
    tensor([0., 0.])
    """
    dt = _like_dtype("zeros_like", x, dtype)
    return _leaf("zeros_like", np.zeros(np.shape(getattr(x, "data", x)), dt), requires_grad)


def ones_like(x: Any, dtype: Any = None, requires_grad: bool = False) -> Any:
    """Ones of x's shape and (by default) dtype.

    >>> import chainrule as cr
    >>> cr.ones_like(cr.tensor([[1, 2]]))
    tensor([[1, 1]])
    """
    dt = _like_dtype("ones_like", x, dtype)
    return _leaf("ones_like", np.ones(np.shape(getattr(x, "data", x)), dt), requires_grad)


def full_like(x: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Any:
    """``fill_value`` in x's shape and (by default) dtype.

    >>> import chainrule as cr
    >>> cr.full_like(cr.tensor([1.0, 2.0]), 3.0)
    tensor([3., 3.])
    """
    dt = _like_dtype("full_like", x, dtype)
    data = np.full(np.shape(getattr(x, "data", x)), fill_value, dt)
    return _leaf("full_like", data, requires_grad)


def arange(
    start: Any, stop: Any = None, step: Any = 1, dtype: Any = None, requires_grad: bool = False
) -> Any:
    """Evenly spaced values in [start, stop), as numpy.arange (integers stay int64).

    >>> import chainrule as cr
    >>> cr.arange(4), cr.arange(0.0, 1.0, 0.25)
    (tensor([0, 1, 2, 3]), tensor([0.  , 0.25, 0.5 , 0.75]))
    """
    if step == 0:
        raise ValueError("arange: step must not be zero")
    data = np.arange(start, stop, step) if stop is not None else np.arange(start)
    default = np.float32 if data.dtype == np.float64 else data.dtype
    return _leaf("arange", data.astype(_dtype("arange", dtype, default)), requires_grad)


def linspace(
    start: float,
    stop: float,
    num: int = 50,
    endpoint: bool = True,
    dtype: Any = None,
    requires_grad: bool = False,
) -> Any:
    """``num`` evenly spaced values from start to stop, as numpy.linspace.

    >>> import chainrule as cr
    >>> cr.linspace(0, 1, 5)
    tensor([0.  , 0.25, 0.5 , 0.75, 1.  ])
    """
    if operator.index(num) < 0:
        raise ValueError(f"linspace: num must be non-negative, got {num}")
    data = np.linspace(start, stop, num, endpoint=endpoint)
    return _leaf("linspace", data.astype(_dtype("linspace", dtype)), requires_grad)


def eye(
    n: int, m: int | None = None, k: int = 0, dtype: Any = None, requires_grad: bool = False
) -> Any:
    """An n x m matrix with ones on diagonal k, as numpy.eye.

    >>> import chainrule as cr
    >>> cr.eye(2)
    tensor([[1., 0.],
            [0., 1.]])
    """
    rows, cols = _shape("eye", (n, n if m is None else m))
    return _leaf("eye", np.eye(rows, cols, k, dtype=_dtype("eye", dtype)), requires_grad)


def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Any:
    """Uniform samples in [0, 1), from the global generator (see manual_seed).

    >>> import chainrule as cr
    >>> cr.manual_seed(0); x = cr.rand(1000)
    >>> bool(((x >= 0) & (x < 1)).all())
    True
    """
    dt = _dtype("rand", dtype)
    if dt.kind != "f":
        raise TypeError(f"rand: dtype must be a float type, got {dt}")
    data = _generator().random(_shape("rand", shape), dtype=np.float64).astype(dt)
    return _leaf("rand", data, requires_grad)


def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Any:
    """Standard normal samples, from the global generator (see manual_seed).

    >>> import chainrule as cr
    >>> cr.manual_seed(0); round(float(cr.randn(10000).std()), 1)
    1.0
    """
    return normal(0.0, 1.0, _shape("randn", shape), dtype=dtype, requires_grad=requires_grad)


def normal(
    loc: float = 0.0,
    scale: float = 1.0,
    size: Any = None,
    dtype: Any = None,
    requires_grad: bool = False,
) -> Any:
    """Normal samples of mean loc and standard deviation scale, as numpy.random.normal.

    >>> import chainrule as cr
    >>> cr.manual_seed(0); round(float(cr.normal(5.0, 0.1, (10000,)).mean()), 1)
    5.0
    """
    if not scale >= 0:
        raise ValueError(f"normal: scale must be non-negative, got {scale}")
    dt = _dtype("normal", dtype)
    if dt.kind != "f":
        raise TypeError(f"normal: dtype must be a float type, got {dt}")
    dims = () if size is None else _shape("normal", (size,) if isinstance(size, int) else size)
    data = np.asarray(_generator().normal(loc, scale, dims)).astype(dt)
    return _leaf("normal", data, requires_grad)


def randint(low: int, high: int | None = None, size: Any = None, dtype: Any = None) -> Any:
    """Integers in [low, high) (or [0, low)), as numpy.random.randint; int64 by default.

    >>> import chainrule as cr
    >>> cr.manual_seed(0); x = cr.randint(3, 6, (1000,))
    >>> sorted(set(x.tolist()))
    [3, 4, 5]
    """
    lo, hi = (0, low) if high is None else (low, high)
    if not lo < hi:
        raise ValueError(f"randint: needs low < high, got low={lo}, high={hi}")
    dt = _dtype("randint", dtype, np.int64)
    if dt.kind not in "iu":
        raise TypeError(f"randint: dtype must be an integer type, got {dt}")
    dims = () if size is None else _shape("randint", (size,) if isinstance(size, int) else size)
    data = np.asarray(_generator().integers(lo, hi, dims, dtype=dt))
    return _leaf("randint", data, False)
