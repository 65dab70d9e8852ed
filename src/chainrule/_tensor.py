"""Tensor: an ndarray, its gradient and the node that made it. No maths lives here.

Operators and methods call the gates in ``chainrule.ops``; ``backward`` calls ``chainrule.engine``.

>>> import chainrule as cr
>>> x = cr.tensor([1.0, -2.0, 3.0], requires_grad=True)
>>> y = (x * x).sum()
>>> y.backward()
>>> x.grad
tensor([ 2., -4.,  6.])
"""

from __future__ import annotations

import builtins
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from chainrule import backend, engine, function, ops
from chainrule.ops import arithmetic, contract, elementwise, linalg, reduce, registry
from chainrule.ops import shape as shape_ops

_FLOAT_KINDS = "f"
_float32: Any = np.float32  # (data is typed ndarray; a 0-d op result is a scalar too)
_new = object.__new__
_ndarray = np.ndarray
_NUMERIC_KINDS = "biuf"


def _as_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Convert user data to an ndarray: Python floats become float32, float arrays keep theirs."""
    if isinstance(data, Tensor):
        data = data.data
    if backend.is_foreign(data):  # a CuPy (or array-API) array stays on its own backend
        return data if dtype is None or data.dtype == np.dtype(dtype) else data.astype(dtype)
    try:
        if dtype is not None:
            return np.array(data, dtype=dtype)
        arr = np.array(data)
    except (ValueError, TypeError) as e:  # ragged lists, strings that are no numbers, ...
        raise type(e)(f"chainrule.tensor: cannot make a tensor from this data: {e}") from None
    if isinstance(data, np.ndarray | np.generic):
        if arr.dtype.kind not in _NUMERIC_KINDS:
            raise TypeError(f"chainrule.tensor: unsupported dtype {arr.dtype}")
        return arr
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)  # Python floats and lists of them default to float32
    elif arr.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(
            f"chainrule.tensor: cannot make a tensor from {type(data).__name__} "
            f"(NumPy sees dtype {arr.dtype}); give numbers, nested lists or an ndarray"
        )
    return arr


class Tensor(function.TensorBase):
    """An n-dimensional array that records the operations applied to it.

    ``requires_grad=True`` marks a leaf whose gradient ``backward`` fills into ``.grad``.

    >>> import chainrule as cr
    >>> t = cr.Tensor([[1.0, 2.0]], requires_grad=True)
    >>> t.shape, t.dtype, t.is_leaf
    ((1, 2), dtype('float32'), True)
    """

    __slots__ = ()  # data, grad, requires_grad and the node: function.TensorBase's
    __hash__ = object.__hash__  # == is elementwise, identity stays the hash (as in PyTorch)

    data: np.ndarray
    grad: Tensor | None
    requires_grad: bool

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        # A Python number is held as a NumPy scalar, as a 0-d op result is: its maths is ~8x
        # faster than a 0-d array's (in-place methods turn it into an array first)
        arr = _float32(data) if dtype is None and type(data) is float else _as_array(data, dtype)
        if requires_grad and arr.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(
                f"requires_grad=True needs floating-point data, got dtype {arr.dtype}: only "
                "floating-point tensors have gradients (convert with dtype=np.float32)"
            )
        self.data = arr
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._node: function.Function | None = None
        self._version = 0
        self._meta: dict[str, Any] | None = None

    # Fast constructor, no conversion and no checks: for an op's output, a gradient, or a leaf
    # made from a number (``chainrule.tensor``); the engine builds every ``.grad`` with it.
    _wrap = staticmethod(function.wrap)

    # -- NumPy interoperability -----------------------------------------------------------------

    __array_priority__ = 1000.0

    def __array_namespace__(self, api_version: str | None = None) -> Any:
        """chainrule's differentiable namespace (NumPy's names): what a backward rule's
        ``xp`` is under ``create_graph=True``."""
        from chainrule.ops import namespace

        return namespace

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if dtype is not None and dtype != self.data.dtype:
            return np.asarray(self.data.astype(dtype))
        # np.array, not the data itself: a 0-d op result is held as a NumPy scalar
        return np.array(self.data) if copy else np.asarray(self.data)

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """NumPy ufuncs on Tensors: the differentiable ones record a node, others need no grad."""
        fn = _UFUNCS.get(ufunc.__name__) if method == "__call__" and not kwargs else None
        if fn is not None:
            return fn(*inputs)
        if any(isinstance(x, Tensor) and x.requires_grad for x in inputs):
            raise TypeError(
                f"numpy.{ufunc.__name__} ({method}) is not differentiable in chainrule; "
                "use the chainrule function of the same name, or detach() the tensor first"
            )
        arrays = [x.data if isinstance(x, Tensor) else x for x in inputs]
        result = getattr(ufunc, method)(*arrays, **kwargs)
        if isinstance(result, np.ndarray | np.generic):
            return Tensor._wrap(np.asarray(result))
        return result

    # -- properties -----------------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        """True for tensors the user created (and results that need no gradient)."""
        return self._node is None

    @property
    def grad_fn(self) -> function.Function | None:
        """The node that produced this tensor, or None for a leaf."""
        return self._node

    @property
    def name(self) -> str | None:
        """An optional label, used by ``chainrule.explain`` and the pictures."""
        return None if self._meta is None else self._meta.get("name")

    @name.setter
    def name(self, value: str | None) -> None:
        self._set_meta("name", value)

    def _set_meta(self, key: str, value: Any) -> None:
        if self._meta is None:
            self._meta = {}
        self._meta[key] = value

    @property
    def T(self) -> Tensor:  # noqa: N802 - NumPy's name
        return shape_ops.Transpose.apply(self, axes=None)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    def numpy(self) -> np.ndarray:
        """The data as an ndarray, shared, not copied: writing into it changes the tensor.

        (A 0-d tensor made from a number, or an op's 0-d result, holds a NumPy scalar for
        speed; it becomes a 0-d array here, once, so that the sharing holds for it too.)

        >>> import chainrule as cr
        >>> t = cr.tensor([1.0, 2.0])
        >>> t.numpy()[0] = 5.0
        >>> t
        tensor([5., 2.])
        """
        return self._writable()

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number.

        >>> import chainrule as cr
        >>> cr.tensor([2.5]).item()
        2.5
        """
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        """The values as nested Python lists (NumPy's tolist); no gradient.

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0]]).tolist()
        [[1.0, 2.0]]
        """
        return backend.to_numpy(self.data).tolist()

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut from the graph.

        An in-place change through the detached tensor counts as a change of this one, so a
        graph that saved the shared data still notices it at backward.

        >>> import chainrule as cr
        >>> x = cr.tensor([1.0], requires_grad=True)
        >>> (x * 2).detach().requires_grad
        False
        """
        out = Tensor._wrap(self._writable())  # (a NumPy scalar cannot be shared: an array can)
        # The tensors sharing this data, held weakly (a kept loss.detach() must not keep the
        # graph alive); one list for the whole group, so a change through any of them is seen.
        if self._meta is None:
            self._meta = {}
        group = self._meta.get("sharers")
        if group is None:
            group = self._meta["sharers"] = [weakref.ref(self)]
        elif len(group) > 16:
            group[:] = [r for r in group if r() is not None]  # drop the dead
        group.append(weakref.ref(out))
        out._meta = {"sharers": group}
        return out

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Make this leaf record operations on it (or stop), in place; returns self (PyTorch's).

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).requires_grad_().requires_grad
        True
        """
        if requires_grad and self.data.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(f"requires_grad needs floating-point data, got dtype {self.dtype}")
        if not requires_grad and self._node is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor: use detach()")
        self.requires_grad = requires_grad
        return self

    def astype(self, dtype: Any) -> Tensor:
        """A copy converted to dtype; differentiable between float types.

        To a non-float dtype the result is outside the graph (integers have no gradient).

        >>> import chainrule as cr
        >>> cr.tensor([1.5, 2.5], requires_grad=True).astype("int64").requires_grad
        False
        """
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            return Tensor._wrap(np.asarray(self.data.astype(dtype)))
        return elementwise.Cast.apply(self, dtype=dtype)

    def float(self) -> Tensor:
        """A float32 copy (PyTorch's ``.float()``), recorded: the gradient flows back.

        >>> import chainrule as cr
        >>> cr.tensor([1, 2]).float()
        tensor([1., 2.])
        """
        return self.astype(np.float32)

    def double(self) -> Tensor:
        """A float64 copy (PyTorch's ``.double()``), recorded: the gradient flows back.

        >>> import chainrule as cr
        >>> cr.tensor([1.0]).double().dtype
        dtype('float64')
        """
        return self.astype(np.float64)

    def __repr__(self) -> str:
        data = backend.to_numpy(self.data)  # printing is an explicit copy to the host
        body = np.array2string(data, separator=", ", prefix="tensor(", precision=4)
        extras = []
        if self.data.dtype not in (np.float32, np.int64, np.bool_):
            extras.append(f"dtype={self.data.dtype}")
        if self._node is not None:
            extras.append(f"grad_fn={type(self._node).__name__}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return f"tensor({body}{''.join(', ' + e for e in extras)})"

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                "use .any() or .all()"
            )
        return bool(self.data)

    def __float__(self) -> builtins.float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError("only integer tensors with one element can be used as an index")
        return int(self.data)

    # -- autograd -------------------------------------------------------------------------------

    def backward(
        self, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False
    ) -> None:
        """Backpropagate from this tensor, accumulating into the leaves' ``.grad``.

        ``gradient`` is the upstream gradient (same shape); it may be left out for a scalar.
        Without ``retain_graph`` the values saved for backward are freed as soon as each node
        has used them, so a second backward through the same graph raises. ``create_graph=True``
        records the backward pass itself: the leaves' ``.grad`` then carry a graph and can be
        differentiated again (``retain_graph`` defaults to ``create_graph``, as in PyTorch).

        >>> import chainrule as cr
        >>> x = cr.tensor(0.5, dtype="float64", requires_grad=True)
        >>> cr.tanh(x).backward(create_graph=True)   # x.grad = 1 - tanh(x)^2, as a graph
        >>> g = x.grad
        >>> x.grad = None
        >>> g.backward()                             # d2/dx2 tanh = -2 tanh (1 - tanh^2)
        >>> round(x.grad.item(), 6)
        -0.726862
        """
        engine.backward(self, gradient, retain_graph, create_graph)

    def retain_grad(self) -> None:
        """Keep the gradient of this intermediate in ``.grad`` after backward.

        >>> import chainrule as cr
        >>> x = cr.tensor(3.0, requires_grad=True)
        >>> h = x * x
        >>> h.retain_grad()
        >>> (h * 2).backward()
        >>> h.grad
        tensor(2.)
        """
        if self._node is None:
            if not self.requires_grad:
                raise RuntimeError("retain_grad() on a tensor that does not require grad")
            return  # leaves keep their gradient anyway
        import weakref

        self._node._set_extra("retain", weakref.ref(self))

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> Callable[[], None]:
        """Call ``hook(grad)`` when this gradient is computed; a returned Tensor replaces it.

        Returns a function that removes the hook.

        >>> import chainrule as cr
        >>> x = cr.tensor(3.0, requires_grad=True)
        >>> remove = x.register_hook(lambda g: g * 10)
        >>> (x * 2).backward()
        >>> x.grad
        tensor(20.)
        """
        if not self.requires_grad:
            raise RuntimeError("register_hook on a tensor that does not require grad")
        if self._node is not None:
            if self._node._extra is None or "hooks" not in self._node._extra:
                self._node._set_extra("hooks", [])
            hooks = self._node._extra["hooks"]  # type: ignore[index]
        else:
            if self._meta is None or "hooks" not in self._meta:
                self._set_meta("hooks", [])
            hooks = self._meta["hooks"]  # type: ignore[index]
        hooks.append(hook)
        return lambda: hooks.remove(hook) if hook in hooks else None

    # -- in-place changes (never recorded; they bump the version the engine checks) -------------

    def _inplace(self, what: str) -> None:
        if self._node is not None:
            raise RuntimeError(
                f"in-place {what} on a tensor produced by {type(self._node).__name__}: its value "
                "may be needed for backward. Use the out-of-place operation (y = y + 1)."
            )
        if self.requires_grad and function.GradMode.enabled:
            raise RuntimeError(
                f"in-place {what} on a leaf that requires grad; wrap it in chainrule.no_grad() "
                "(as optimizers do) or use an out-of-place operation"
            )
        if type(self.data) is not np.ndarray:  # a 0-d op result is held as a NumPy scalar
            self.data = np.array(self.data)
        self._version = function.new_version()
        if self._meta is not None:
            for ref in self._meta.get("sharers", ()):  # detach() shares data: they changed too
                other = ref()
                if other is not None:
                    other._version = self._version
                    if other._node is not None:  # an op's output, saved by its own node
                        other._node._set_extra("output_changed", what)

    def _value(self, other: Any) -> Any:
        return other.data if isinstance(other, Tensor) else other

    def add_(self, other: Any, alpha: builtins.float = 1.0) -> Tensor:
        """self += alpha * other, in place on the data (PyTorch's); returns self. On a leaf
        that requires grad, only under ``no_grad`` (the usual hand-written update).

        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, 2.0])
        >>> w.add_(cr.tensor([1.0, 1.0]), alpha=0.5)
        tensor([1.5, 2.5])
        """
        self._inplace("add_")
        v = self._value(other)
        self.data += v if alpha == 1.0 else alpha * np.asarray(v)
        return self

    def sub_(self, other: Any) -> Tensor:
        """self -= other, in place on the data; returns self (see ``add_``).

        >>> import chainrule as cr
        >>> cr.tensor([3.0]).sub_(1.0)
        tensor([2.])
        """
        self._inplace("sub_")
        self.data -= self._value(other)
        return self

    def mul_(self, other: Any) -> Tensor:
        """self *= other, in place on the data; returns self (see ``add_``).

        >>> import chainrule as cr
        >>> cr.tensor([3.0]).mul_(2.0)
        tensor([6.])
        """
        self._inplace("mul_")
        self.data *= self._value(other)
        return self

    def div_(self, other: Any) -> Tensor:
        """self /= other, in place on the data; returns self (see ``add_``).

        >>> import chainrule as cr
        >>> cr.tensor([3.0]).div_(2.0)
        tensor([1.5])
        """
        self._inplace("div_")
        self.data /= self._value(other)
        return self

    def _writable(self) -> np.ndarray:
        # an op's 0-d result is a NumPy scalar (immutable): make it an array to write into
        if type(self.data) is not np.ndarray:
            self.data = np.array(self.data)
        return self.data

    def zero_(self) -> Tensor:
        """Set every element to 0, in place; returns self.

        >>> import chainrule as cr
        >>> cr.tensor([3.0, 4.0]).zero_()
        tensor([0., 0.])
        """
        self._inplace("zero_")
        self._writable()[...] = 0
        return self

    def fill_(self, value: builtins.float) -> Tensor:
        """Set every element to value, in place; returns self.

        >>> import chainrule as cr
        >>> cr.tensor([3.0, 4.0]).fill_(7.0)
        tensor([7., 7.])
        """
        self._inplace("fill_")
        self._writable()[...] = value
        return self

    def copy_(self, src: Any) -> Tensor:
        """Copy src's values (broadcast to this shape) into this tensor, in place; returns self.

        >>> import chainrule as cr
        >>> cr.tensor([0.0, 0.0]).copy_([1.0, 2.0])
        tensor([1., 2.])
        """
        self._inplace("copy_")
        self._writable()[...] = self._value(src)
        return self

    def __setitem__(self, index: Any, value: Any) -> None:
        self._inplace("item assignment")
        self._writable()[_index(index)] = self._value(value)

    def _iop(
        self, other: Any, inplace: Callable[[Any], Tensor], outplace: Callable[[Tensor], Tensor]
    ) -> Tensor:
        """``x op= y`` as PyTorch does it: in place on the data while nothing is recorded (so
        ``with no_grad(): w -= lr * w.grad`` updates the parameter itself); refused on a leaf
        that requires grad while recording; on any other tensor the op is recorded and ``x``,
        the same object, becomes its output, with its version bumped (nodes that saved the old
        value refuse to backward through it)."""
        if not function.GradMode.enabled:
            return inplace(other)
        if self._node is None and self.requires_grad:
            raise RuntimeError(
                "an in-place operator (x += y, -=, *=, /=) on a leaf that requires grad would "
                "change a value the graph needs and lose the leaf: update parameters inside "
                "chainrule.no_grad() (as an optimizer step does), or write x = x + y"
            )
        if not (self._node is not None or (isinstance(other, Tensor) and other.requires_grad)):
            return inplace(other)  # nothing to record: plain data
        old = _wrap(self.data, self.requires_grad)  # the value before, as the new node's input
        old._node, old._version = self._node, self._version
        out = outplace(old)
        self.data, self._node, self.requires_grad = out.data, out._node, out.requires_grad
        self._version = function.new_version()
        return self

    def __iadd__(self, other: Any) -> Tensor:
        return self._iop(other, self.add_, lambda old: old + other)

    def __isub__(self, other: Any) -> Tensor:
        return self._iop(other, self.sub_, lambda old: old - other)

    def __imul__(self, other: Any) -> Tensor:
        return self._iop(other, self.mul_, lambda old: old * other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._iop(other, self.div_, lambda old: old / other)

    # -- arithmetic operators -------------------------------------------------------------------

    def __add__(self, other: Any) -> Tensor:
        return _add(self, other if type(other) is Tensor else _operand(other, self))

    def __radd__(self, other: Any) -> Tensor:
        return _add(other if type(other) is Tensor else _operand(other, self), self)

    def __sub__(self, other: Any) -> Tensor:
        return _sub(self, other if type(other) is Tensor else _operand(other, self))

    def __rsub__(self, other: Any) -> Tensor:
        return _sub(other if type(other) is Tensor else _operand(other, self), self)

    def __mul__(self, other: Any) -> Tensor:
        return _mul(self, other if type(other) is Tensor else _operand(other, self))

    def __rmul__(self, other: Any) -> Tensor:
        return _mul(other if type(other) is Tensor else _operand(other, self), self)

    def __truediv__(self, other: Any) -> Tensor:
        return _div(self, other if type(other) is Tensor else _operand(other, self))

    def __rtruediv__(self, other: Any) -> Tensor:
        return _div(other if type(other) is Tensor else _operand(other, self), self)

    def __neg__(self) -> Tensor:
        return _neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __pow__(self, exponent: Any) -> Tensor:
        return ops.power(self, exponent)

    def __rpow__(self, base: Any) -> Tensor:
        return _pow(ops.lift_operand(base, self), self)

    def __matmul__(self, other: Any) -> Tensor:
        return _matmul(self, other if type(other) is Tensor else _operand(other, self))

    def __rmatmul__(self, other: Any) -> Tensor:
        return _matmul(other if type(other) is Tensor else _operand(other, self), self)

    def __abs__(self) -> Tensor:
        return elementwise.Abs.apply(self)

    # % and // (ops.mathfns); & | ^ ~ on bool or integer tensors, outside the graph (ops.compare)
    def __mod__(self, other: Any) -> Tensor:
        return ops.mathfns.mod(self, other)

    def __rmod__(self, other: Any) -> Tensor:
        return ops.mathfns.mod(other, self)

    def __floordiv__(self, other: Any) -> Tensor:
        return ops.mathfns.floor_divide(self, other)

    def __rfloordiv__(self, other: Any) -> Tensor:
        return ops.mathfns.floor_divide(other, self)

    def __and__(self, other: Any) -> Tensor:
        return ops.compare.bitwise_and(self, other)

    def __rand__(self, other: Any) -> Tensor:
        return ops.compare.bitwise_and(other, self)

    def __or__(self, other: Any) -> Tensor:
        return ops.compare.bitwise_or(self, other)

    def __ror__(self, other: Any) -> Tensor:
        return ops.compare.bitwise_or(other, self)

    def __xor__(self, other: Any) -> Tensor:
        return ops.compare.bitwise_xor(self, other)

    def __rxor__(self, other: Any) -> Tensor:
        return ops.compare.bitwise_xor(other, self)

    def __invert__(self) -> Tensor:
        return ops.compare.invert(self)

    # comparisons give boolean tensors outside the graph
    def _cmp(self, other: Any, op: Callable[[Any, Any], Any]) -> Tensor:
        return Tensor._wrap(np.asarray(op(self.data, self._value(other))))

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._cmp(other, np.equal)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._cmp(other, np.not_equal)

    def __lt__(self, other: Any) -> Tensor:
        return self._cmp(other, np.less)

    def __le__(self, other: Any) -> Tensor:
        return self._cmp(other, np.less_equal)

    def __gt__(self, other: Any) -> Tensor:
        return self._cmp(other, np.greater)

    def __ge__(self, other: Any) -> Tensor:
        return self._cmp(other, np.greater_equal)

    def __getitem__(self, index: Any) -> Tensor:
        return shape_ops.Index.apply(self, index=_index(index))

    # -- methods named as NumPy names them ------------------------------------------------------

    def exp(self) -> Tensor:
        return elementwise.Exp.apply(self)

    def log(self) -> Tensor:
        return elementwise.Log.apply(self)

    def sqrt(self) -> Tensor:
        return elementwise.Sqrt.apply(self)

    def abs(self) -> Tensor:
        return elementwise.Abs.apply(self)

    def sin(self) -> Tensor:
        return elementwise.Sin.apply(self)

    def cos(self) -> Tensor:
        return elementwise.Cos.apply(self)

    def tanh(self) -> Tensor:
        return elementwise.Tanh.apply(self)

    def sigmoid(self) -> Tensor:
        return elementwise.Sigmoid.apply(self)

    def relu(self) -> Tensor:
        return elementwise.ReLU.apply(self)

    def leaky_relu(self, negative_slope: builtins.float = 0.01) -> Tensor:
        return elementwise.LeakyReLU.apply(self, slope=negative_slope)

    def elu(self, alpha: builtins.float = 1.0) -> Tensor:
        return elementwise.ELU.apply(self, alpha=alpha)

    def clip(self, a_min: Any = None, a_max: Any = None) -> Tensor:
        return ops.clip(self, a_min, a_max)

    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return reduce.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return reduce.Mean.apply(self, axis=axis, keepdims=keepdims)

    def var(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        return reduce.Var.apply(self, axis=axis, keepdims=keepdims, ddof=ddof)

    def std(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        return ops.std(self, axis=axis, keepdims=keepdims, ddof=ddof)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return reduce.Max.apply(self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return reduce.Min.apply(self, axis=axis, keepdims=keepdims)

    # the ndarray methods of issue 11's ops (ops.layout, ops.gather, ops.mathfns)
    def ravel(self) -> Tensor:
        return ops.layout.ravel(self)

    def repeat(self, repeats: Any, axis: int | None = None) -> Tensor:
        return ops.layout.repeat(self, repeats, axis)

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        return ops.layout.swapaxes(self, axis1, axis2)

    def diagonal(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
        return ops.layout.diagonal(self, offset, axis1, axis2)

    def trace(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
        return ops.layout.trace(self, offset, axis1, axis2)

    def take(self, indices: Any, axis: int | None = None) -> Tensor:
        return ops.gather.take(self, indices, axis)

    def argsort(self, axis: int = -1) -> Tensor:
        return ops.gather.argsort(self, axis)

    def round(self) -> Tensor:
        return ops.mathfns.round(self)

    def prod(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return ops.scan.prod(self, axis=axis, keepdims=keepdims)

    def cumsum(self, axis: Any = None) -> Tensor:
        return ops.scan.cumsum(self, axis=axis)

    def cumprod(self, axis: Any = None) -> Tensor:
        return ops.scan.cumprod(self, axis=axis)

    def argmax(self, axis: Any = None) -> Tensor:
        return Tensor._wrap(np.asarray(self.data.argmax(axis=axis)))

    def argmin(self, axis: Any = None) -> Tensor:
        return Tensor._wrap(np.asarray(self.data.argmin(axis=axis)))

    def any(self, axis: Any = None) -> Tensor:
        """Whether any element (along axis) is true, as NumPy's any; a bool tensor, no gradient.

        >>> import chainrule as cr
        >>> cr.tensor([0.0, 2.0]).any()
        tensor(True)
        """
        return Tensor._wrap(np.asarray(self.data.any(axis=axis)))

    def all(self, axis: Any = None) -> Tensor:
        """Whether every element (along axis) is true, as NumPy's all; a bool tensor, no
        gradient.

        >>> import chainrule as cr
        >>> cr.tensor([0.0, 2.0]).all()
        tensor(False)
        """
        return Tensor._wrap(np.asarray(self.data.all(axis=axis)))

    def softmax(self, axis: int = -1) -> Tensor:
        return reduce.Softmax.apply(self, axis=axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return reduce.LogSoftmax.apply(self, axis=axis)

    def logsumexp(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return reduce.LogSumExp.apply(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], tuple | list):
            shape = tuple(shape[0])
        return shape_ops.Reshape.apply(self, shape=shape)

    def flatten(self) -> Tensor:
        return shape_ops.Reshape.apply(self, shape=(-1,))

    def transpose(self, *axes: Any) -> Tensor:
        if len(axes) == 1 and isinstance(axes[0], tuple | list):
            axes = tuple(axes[0])
        return shape_ops.Transpose.apply(self, axes=axes or None)

    def permute(self, *axes: Any) -> Tensor:
        return self.transpose(*axes)

    def broadcast_to(self, shape: tuple[int, ...]) -> Tensor:
        return shape_ops.BroadcastTo.apply(self, shape=tuple(shape))

    def expand_dims(self, axis: Any) -> Tensor:
        return shape_ops.ExpandDims.apply(self, axis=axis)

    def unsqueeze(self, axis: int) -> Tensor:
        """A new axis of length 1 at axis (PyTorch's name for ``expand_dims``).

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).unsqueeze(0).shape
        (1, 2)
        """
        return shape_ops.ExpandDims.apply(self, axis=axis)

    def squeeze(self, axis: Any = None) -> Tensor:
        return shape_ops.Squeeze.apply(self, axis=axis)

    def dot(self, other: Any) -> Tensor:
        """numpy.dot on any ranks (``cr.dot``): inner product of vectors, matmul of matrices,
        otherwise a sum over this tensor's last axis and other's second-to-last (its only
        axis when 1-D).

        >>> import chainrule as cr
        >>> cr.ones(2, 3, 4).dot(cr.ones(5, 4, 6)).shape
        (2, 3, 5, 6)
        """
        return contract.dot(self, ops.lift_operand(other, self))

    # -- PyTorch habits (issue 15) ----------------------------------------------------------------

    def clone(self) -> Tensor:
        """A copy of the data, in the graph (its gradient flows back to this tensor unchanged).

        >>> import chainrule as cr
        >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
        >>> y = x.clone()
        >>> y.data[0] = 5.0  # the copy's own memory
        >>> (y * 3).sum().backward()
        >>> x.tolist(), x.grad.tolist()
        ([1.0, 2.0], [3.0, 3.0])
        """
        if self.data.dtype.kind not in _FLOAT_KINDS:
            return Tensor._wrap(np.array(self.data, copy=True), False)
        return elementwise.Cast.apply(self, dtype=self.data.dtype)


# The operators' gates and the fast constructor, bound once (every attribute lookup saved
# counts on a scalar graph).
_wrap = Tensor._wrap
_add = arithmetic.Add.apply
_sub = arithmetic.Sub.apply
_mul = arithmetic.Mul.apply
_div = arithmetic.Div.apply
_neg = arithmetic.Neg.apply
_pow = arithmetic.Pow.apply
_matmul = linalg.MatMul.apply

# The constant cache, one of the NumPy-only speed tricks kept in chainrule.backend
_CONSTANTS = backend.NUMPY_CONSTANTS
_constant = backend.numpy_constant


def _operand(other: Any, like: Tensor) -> Any:
    """An operator's operand: see ``_lift``, with the constant cache above."""
    t = type(other)
    if t is not float and t is not int:
        return ops.lift_operand(other, like)
    data = like.data
    if type(data) is not _ndarray or not data.ndim:
        return other  # 0-d data is a NumPy scalar, whose maths with Python numbers is fast
    const = _CONSTANTS.get((other, data.dtype))
    return _constant(other, data.dtype) if const is None else const


def _index(index: Any) -> Any:
    """Unwrap Tensors inside an index (integer or boolean arrays) to ndarrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Make a Tensor from numbers, nested lists, an ndarray or another Tensor (copied).

    Python floats become float32; float64 arrays stay float64; integers stay integers.

    >>> import chainrule as cr
    >>> cr.tensor([1.0, 2.0], requires_grad=True)
    tensor([1., 2.], requires_grad=True)
    >>> cr.tensor(3, dtype="float64").dtype
    dtype('float64')
    """
    if type(data) is float:  # a scalar leaf, the micrograd-style graph's unit: a NumPy scalar
        if dtype is None:
            return _wrap(_float32(data), bool(requires_grad))
        try:
            scalar = _SCALAR_TYPE.get(dtype)
        except TypeError:  # an unhashable dtype argument: let the constructor explain
            scalar = None
        if scalar is not None:
            return _wrap(scalar(data), bool(requires_grad))
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A Tensor sharing ``array``'s memory (no copy): a change to one shows in the other.

    >>> import numpy as np, chainrule as cr
    >>> a = np.zeros(3, dtype=np.float32)
    >>> t = cr.from_numpy(a)
    >>> a[0] = 7.0
    >>> t.tolist()
    [7.0, 0.0, 0.0]
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    if array.dtype.kind not in "biufc":
        raise TypeError(f"from_numpy: cannot hold an array of dtype {array.dtype}")
    return Tensor._wrap(array, False)


def as_tensor(data: Any, dtype: Any = None) -> Tensor:
    """``data`` as a Tensor, sharing memory when it can: a Tensor (or an ndarray) of the asked
    dtype is used as is; anything else is converted (a copy), as ``chainrule.tensor`` does.

    >>> import numpy as np, chainrule as cr
    >>> a = np.ones(2)
    >>> cr.as_tensor(a).numpy() is a, cr.as_tensor(a, dtype=np.float32).dtype
    (True, dtype('float32'))
    """
    want = None if dtype is None else np.dtype(dtype)
    if isinstance(data, Tensor):
        return data if want is None or data.dtype == want else data.astype(want)
    if isinstance(data, np.ndarray) and (want is None or data.dtype == want):
        return from_numpy(data)
    return tensor(data, dtype=dtype)


# the float dtypes a Python-float leaf may be asked for, by every spelling, and their scalar type
_SCALAR_TYPE: dict[Any, Any] = {None: np.float32}
for _t in (np.float32, np.float64):
    _SCALAR_TYPE.update({_t: _t, np.dtype(_t): _t, np.dtype(_t).name: _t})


_UFUNCS: dict[str, Callable[..., Any]] = {}


def _register_ufuncs() -> None:
    def binary(fn: type[function.Function]) -> Callable[..., Tensor]:
        def call(a: Any, b: Any) -> Tensor:
            like = a if isinstance(a, Tensor) else b
            return fn.apply(ops.lift_operand(a, like), ops.lift_operand(b, like))

        return call

    # which gate serves which NumPy ufunc is a fact of the gate (its registry entry)
    gate: Any
    for gate, facts in registry.ALL.items():
        for name in facts.ufuncs:
            _UFUNCS[name] = binary(gate) if facts.arity == 2 else gate.apply


_register_ufuncs()


def _document_methods() -> None:
    """Each method named after a chainrule function (``t.exp()`` is ``cr.exp(t)``) and written
    without a docstring takes the function's, example included, under a line that says so."""
    import chainrule

    for name, method in vars(Tensor).items():
        fn = getattr(chainrule, name, None)
        if name.startswith("_") or not callable(method) or method.__doc__ or fn is None:
            continue
        if fn.__doc__:
            method.__doc__ = f"``t.{name}(...)`` is ``chainrule.{name}(t, ...)``:\n\n{fn.__doc__}"
