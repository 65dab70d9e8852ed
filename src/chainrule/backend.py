"""The array layer: which array namespace a value belongs to, and the NumPy-only speed tricks.

Gates write their backward rules once against the namespace they are handed (Chainer's
``xp = get_array_module(x)``): NumPy for NumPy arrays and scalars, CuPy for CuPy arrays, any
library whose arrays implement the array API's ``__array_namespace__`` (the strict stand-in
backend of the tests does), and chainrule's own differentiable namespace for Tensors, which is
how the same rule records the graph of a gradient under ``create_graph=True``.

The NumPy-only speed tricks each have one place, and a plain path for every other backend:
0-d results and Python-float leaves are NumPy scalars (NumPy's own behaviour, ~8x faster maths
than 0-d arrays; other backends keep 0-d arrays); the constant cache below (``numpy_constant``);
the root gradient "1" cached by type (``engine``); and the optimizers' one-pass BLAS updates
(``chainrule._blas``, taken only for C-contiguous NumPy arrays, NumPy ufuncs otherwise).

>>> import numpy as np
>>> get_array_module(np.ones(2)) is np
True
>>> import chainrule as cr
>>> xp = get_array_module(cr.tensor([1.0, 2.0]))
>>> xp.exp(cr.tensor(0.0)).item()
1.0
"""

from __future__ import annotations

from typing import Any

import numpy as np

_ndarray = np.ndarray
_generic = np.generic
_NUMPY_TYPES = frozenset(
    {np.ndarray, float, int, bool}
    | {t for t in np.sctypeDict.values() if issubclass(t, np.generic)}
)


def get_array_module(x: Any, *more: Any) -> Any:
    """The namespace of the first value that is not a NumPy array or scalar (else NumPy)."""
    if type(x) in _NUMPY_TYPES and not more:  # the fast path: one NumPy value
        return np
    for v in (x, *more):
        t = type(v)
        if t is _ndarray or isinstance(v, _generic | float | int | bool) or v is None:
            continue
        namespace = getattr(v, "__array_namespace__", None)
        if namespace is not None and not isinstance(v, _ndarray):
            return namespace()
        if t.__module__.startswith("cupy"):  # CuPy without the array-API method
            import cupy  # type: ignore[import-not-found]

            return cupy
    return np


def is_numpy(x: Any) -> bool:
    """True for NumPy arrays and scalars: the values the NumPy fast paths may touch."""
    return type(x) is _ndarray or isinstance(x, _generic)


def is_foreign(x: Any) -> bool:
    """True for an array of another backend (CuPy, an array-API library): kept as it is, never
    converted to NumPy behind the user's back."""
    if type(x) in _NUMPY_TYPES or isinstance(x, _ndarray | _generic) or is_tensor(x):
        return False
    return hasattr(x, "__array_namespace__") or type(x).__module__.startswith("cupy")


def is_tensor(x: Any) -> bool:
    """True for a chainrule Tensor (without importing it: the array layer sits below it)."""
    return hasattr(x, "_node") and hasattr(x, "requires_grad")


def data_of(x: Any) -> Any:
    """The array behind a value: a Tensor's data (a rule handed Tensors under create_graph
    takes its masks and shifts from it, as constants), anything else as it is."""
    return x.data if is_tensor(x) else x


def to_numpy(x: Any) -> np.ndarray:
    """A host NumPy copy of any backend's array (explicit: CuPy's ``.get()``, array-API
    ``to_numpy``-style methods), for printing, saving and explanations, never inside ops."""
    if is_numpy(x):
        return np.asarray(x)
    get = getattr(x, "get", None)
    if callable(get):  # CuPy
        return np.asarray(get())
    to = getattr(x, "to_numpy", None)
    if callable(to):
        return np.asarray(to())
    return np.asarray(x)


# NumPy 2 is slow to combine a small array with a Python number (it must work out the number's
# dtype each time: ~560 ns for (16,) float32 times 1.0001, against ~280 ns for an array times a
# 0-d array). Constants recur (x * 0.5, x + 1e-8 in a loop), so an op on a float tensor of 1 or
# more dimensions gets its Python-number operand as a cached read-only 0-d array of the
# tensor's dtype: the same value NumPy would use, and a faster forward and backward. Zero and
# NaN are left alone (-0.0 == 0.0 as a key; NaN != NaN); the cache is bounded.
NUMPY_CONSTANTS: dict[tuple[Any, np.dtype], np.ndarray] = {}


def numpy_constant(value: float, dtype: np.dtype) -> Any:
    """``value`` as a cached read-only 0-d array of a float ``dtype`` (or unchanged).

    >>> c = numpy_constant(0.5, np.dtype(np.float32))
    >>> c.dtype, c.flags.writeable, numpy_constant(0.5, np.dtype(np.float32)) is c
    (dtype('float32'), False, True)
    """
    const = NUMPY_CONSTANTS.get((value, dtype))
    if const is not None:
        return const
    if dtype.kind != "f" or not value or value != value or abs(value) > np.finfo(dtype).max:
        return value
    if len(NUMPY_CONSTANTS) >= 4096:
        NUMPY_CONSTANTS.clear()
    const = np.array(value, dtype=dtype)
    const.flags.writeable = False
    NUMPY_CONSTANTS[(value, dtype)] = const
    return const
