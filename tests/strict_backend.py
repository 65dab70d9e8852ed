"""A strict stand-in array backend: CuPy's contract without a GPU.

``StrictArray`` wraps a NumPy array but, as CuPy does, refuses every implicit conversion to
NumPy (``np.asarray``, NumPy ufuncs and functions, ``__array__``). Its namespace (the module-
like ``namespace`` below, returned by ``__array_namespace__``) offers the NumPy names the
engine's rules use. A test that runs the op table on it proves that no op, no rule and no
engine step takes a host round-trip: any would raise ``ImplicitConversionError``.
"""

from __future__ import annotations

import operator
from types import SimpleNamespace
from typing import Any

import numpy as np


class ImplicitConversionError(TypeError):
    """What the strict backend raises where CuPy would refuse a silent copy to NumPy."""


def _raw(x: Any) -> Any:
    if isinstance(x, StrictArray):
        return x._a
    if isinstance(x, np.ndarray) and x.dtype.kind != "b" and x.dtype.kind not in "iu":
        raise ImplicitConversionError(f"a NumPy float array of shape {x.shape} met a strict array")
    if isinstance(x, tuple):
        return tuple(_raw(e) for e in x)
    if isinstance(x, list):
        return [_raw(e) for e in x]
    return x


def _wrap(r: Any) -> Any:
    if isinstance(r, np.ndarray | np.generic):
        return StrictArray(np.asarray(r))
    if isinstance(r, tuple):
        return tuple(_wrap(e) for e in r)
    if isinstance(r, list):
        return [_wrap(e) for e in r]
    return r


class StrictArray:
    """An array that only its own namespace and operators may touch."""

    __array_ufunc__ = None  # NumPy ufuncs refuse it (they raise TypeError)

    def __init__(self, a: Any) -> None:
        self._a = np.asarray(a)

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise ImplicitConversionError("implicit conversion of a strict array to NumPy")

    def __array_function__(self, *args: Any, **kwargs: Any) -> Any:
        raise ImplicitConversionError("a NumPy function was called on a strict array")

    def __array_namespace__(self, api_version: str | None = None) -> Any:
        return namespace

    def to_numpy(self) -> np.ndarray:
        """The explicit copy to the host (CuPy's ``.get()``)."""
        return self._a.copy()

    # attributes
    shape = property(lambda self: self._a.shape)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    dtype = property(lambda self: self._a.dtype)
    T = property(lambda self: StrictArray(self._a.T))

    def __len__(self) -> int:
        return len(self._a)

    def __repr__(self) -> str:
        return f"StrictArray({self._a!r})"

    def __float__(self) -> float:  # CuPy syncs a 0-d array to a Python number
        return float(self._a)

    def __bool__(self) -> bool:
        return bool(self._a)

    def item(self) -> Any:
        return self._a.item()

    def __getitem__(self, index: Any) -> StrictArray:
        return StrictArray(self._a[_raw(index)])

    def __setitem__(self, index: Any, value: Any) -> None:
        self._a[_raw(index)] = _raw(value)

    def __iadd__(self, other: Any) -> StrictArray:
        self._a += _raw(other)
        return self

    def __isub__(self, other: Any) -> StrictArray:
        self._a -= _raw(other)
        return self

    def __imul__(self, other: Any) -> StrictArray:
        self._a *= _raw(other)
        return self

    def __iand__(self, other: Any) -> StrictArray:
        self._a &= _raw(other)
        return self

    def __itruediv__(self, other: Any) -> StrictArray:
        self._a /= _raw(other)
        return self


def _method(name: str) -> Any:
    def call(self: StrictArray, *args: Any, **kwargs: Any) -> Any:
        kwargs = {k: _raw(v) for k, v in kwargs.items()}
        return _wrap(getattr(self._a, name)(*_raw(args), **kwargs))

    return call


for _name in (
    "sum", "mean", "max", "min", "var", "std", "reshape", "transpose", "astype", "copy", "all",
    "any", "cumsum", "cumprod", "prod", "argmax", "argmin", "nonzero", "swapaxes",
):  # fmt: skip
    setattr(StrictArray, _name, _method(_name))


def _binary(op: Any, reflected: bool = False) -> Any:
    def call(self: StrictArray, other: Any) -> Any:
        if not isinstance(other, StrictArray | int | float | bool | np.generic):
            return NotImplemented
        a, b = self._a, _raw(other)
        return _wrap(op(b, a) if reflected else op(a, b))

    return call


for _name, _op in {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "truediv": operator.truediv,
    "pow": operator.pow,
    "matmul": operator.matmul,
    "and": operator.and_,
    "or": operator.or_,
}.items():
    setattr(StrictArray, f"__{_name}__", _binary(_op))
    setattr(StrictArray, f"__r{_name}__", _binary(_op, reflected=True))
for _name, _op in {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}.items():
    setattr(StrictArray, f"__{_name}__", _binary(_op))
StrictArray.__neg__ = lambda self: StrictArray(-self._a)  # type: ignore[method-assign]
StrictArray.__invert__ = lambda self: StrictArray(~self._a)  # type: ignore[method-assign]
StrictArray.__hash__ = None  # type: ignore[assignment]


def _function(name: str) -> Any:
    fn = getattr(np, name)

    def call(*args: Any, **kwargs: Any) -> Any:
        kwargs = {k: _raw(v) for k, v in kwargs.items()}
        return _wrap(fn(*_raw(args), **kwargs))

    call.__name__ = name
    return call


class _AddAt:
    def at(self, a: StrictArray, index: Any, values: Any) -> None:
        np.add.at(a._a, _raw(index), _raw(values))

    def __call__(self, x: Any, y: Any) -> Any:
        return _wrap(np.add(_raw(x), _raw(y)))


_NAMES = [
    "exp",
    "log",
    "sqrt",
    "abs",
    "sin",
    "cos",
    "tanh",
    "sign",
    "expm1",
    "log1p",
    "where",
    "maximum",
    "minimum",
    "clip",
    "power",
    "ones",
    "zeros",
    "zeros_like",
    "ones_like",
    "full_like",
    "broadcast_to",
    "expand_dims",
    "squeeze",
    "concatenate",
    "stack",
    "isfinite",
    "isnan",
    "max",
    "min",
    "shape",
    "result_type",
    "multiply",
    "equal",
    "greater",
    "less",
]


class _Namespace(SimpleNamespace):
    """The listed names, and any other NumPy function by name, on strict arrays only."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or not callable(getattr(np, name, None)):
            raise AttributeError(name)
        fn = _function(name)
        setattr(self, name, fn)
        return fn


namespace = _Namespace(**{n: _function(n) for n in _NAMES})
namespace.add = _AddAt()
namespace.asarray = lambda x, dtype=None: (
    StrictArray(x._a.astype(dtype) if dtype is not None else x._a)
    if isinstance(x, StrictArray)
    else StrictArray(np.asarray(x, dtype=dtype))
)
for _dt in ("float32", "float64", "int64", "bool_"):
    setattr(namespace, _dt, getattr(np, _dt))
namespace.bool = bool
