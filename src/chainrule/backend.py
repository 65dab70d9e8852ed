"""The array layer: which array namespace a value belongs to, and the NumPy-only speed tricks.

Gates write their backward rules once against the namespace they are handed (Chainer's
``xp = get_array_module(x)``): NumPy for NumPy arrays and scalars, CuPy for CuPy arrays, any
library whose arrays implement the array API's ``__array_namespace__`` (the strict stand-in
backend of the tests does), and chainrule's own differentiable namespace for Tensors, which is
how the same rule records the graph of a gradient under ``create_graph=True``.

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
