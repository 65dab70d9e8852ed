"""The gate API: ``Function``, the node every operation records in the graph.

A gate is the lecture's unit of backpropagation. ``forward`` computes the output from NumPy
arrays and caches on ``self`` what the local gradient needs; ``backward(dout)`` receives the
upstream gradient and returns one downstream gradient per input (``None`` where no gradient is
needed). The built-in operations are Functions too, so a user can group several nodes into a
bigger one whenever its local gradient can be written down::

    >>> import numpy as np
    >>> import chainrule as cr
    >>> class MultiplyGate(cr.Function):
    ...     def forward(self, x, y):
    ...         self.x, self.y = x, y          # cache what backward needs
    ...         return x * y
    ...     def backward(self, dout):
    ...         return dout * self.y, dout * self.x   # mul swaps and scales
    >>> a = cr.tensor(3.0, requires_grad=True)
    >>> b = cr.tensor(-4.0, requires_grad=True)
    >>> MultiplyGate.apply(a, b).backward()
    >>> a.grad.item(), b.grad.item()
    (-4.0, 3.0)

Gradients returned by ``backward`` may have the *broadcast* shape of the output: the engine sums
them back to each input's shape (the one place where that happens).

A backward that is itself differentiable lets ``create_graph=True`` record it (gradients of
gradients). Write it with operators and the namespace of what it is handed, cache the inputs
as given and the output as ``self.out`` (the engine hands those to it as Tensors), recompute
any other float value it needs, and say so with ``differentiable_backward = True``::

    >>> class Cube(cr.Function):
    ...     differentiable_backward = True
    ...     def forward(self, x):
    ...         self.x = x                        # cached as given
    ...         return x * x * x
    ...     def backward(self, dout):
    ...         return 3 * dout * self.x * self.x  # operators only: arrays or Tensors
    >>> x = cr.tensor(2.0, dtype="float64", requires_grad=True)
    >>> (dx,) = cr.grad(Cube.apply(x), x, create_graph=True)
    >>> (d2x,) = cr.grad(dx, x)
    >>> dx.item(), d2x.item()                     # 3 x^2 and 6 x
    (12.0, 12.0)

A gate without the flag still gives first derivatives; under ``create_graph=True`` it raises an
error that names it, never a silently wrong (constant) second derivative.
"""

from __future__ import annotations

import functools
import itertools
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from chainrule.backend import is_foreign

if TYPE_CHECKING:  # for annotations only: Tensor sits above this module
    from chainrule._tensor import Tensor

F = TypeVar("F", bound=Callable[..., Any])


class GradMode:
    """Process-wide switches read on every operation (class attributes for speed)."""

    enabled = True  # record graphs?
    anomaly = False  # check every forward and backward value for NaN/inf?
    # The clock of the most recent in-place change of a Tensor. One counter orders both node
    # creation (Function._seq) and in-place changes (Tensor._version): an input changed after a
    # node was recorded has _version > that node's _seq (see Function.check_versions).
    inplace_epoch = -1


class no_grad:  # noqa: N801 - PyTorch's name, used as a context manager and a decorator
    """Disable graph recording inside a ``with`` block or a decorated function.

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> with cr.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    >>> @cr.no_grad          # also as a bare decorator, or as @cr.no_grad()
    ... def double(t):
    ...     return t * 2
    >>> double(w).requires_grad
    False
    """

    _target = False

    def __new__(cls, func: Any = None) -> Any:
        self = super().__new__(cls)
        if func is not None:  # used bare, as @no_grad: decorate func right away
            if not callable(func):
                raise TypeError(f"{cls.__name__}() takes no arguments (got {func!r})")
            return self(func)
        return self

    def __enter__(self) -> None:
        self._prev = GradMode.enabled
        GradMode.enabled = self._target

    def __exit__(self, *exc: object) -> None:
        GradMode.enabled = self._prev

    def __call__(self, func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)():
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class enable_grad(no_grad):  # noqa: N801
    """Re-enable graph recording inside a ``no_grad`` region."""

    _target = True


def is_grad_enabled() -> bool:
    """True when operations are being recorded for backward.

    >>> import chainrule as cr
    >>> with cr.no_grad():
    ...     print(cr.is_grad_enabled())
    False
    """
    return GradMode.enabled


class TensorBase:
    """What the engine and the gates know of a Tensor: its data, gradient and node.

    ``chainrule.Tensor`` is its subclass (with the operators and methods); defining it makes it
    the type every gate's result is built as, so this module and the ops never import it.
    """

    __slots__ = ("__weakref__", "_meta", "_node", "_version", "data", "grad", "requires_grad")
    concrete: ClassVar[type[Any]]
    data: Any
    grad: Any
    requires_grad: bool
    _node: Function | None
    _version: int
    _meta: dict[str, Any] | None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        global _Result
        super().__init_subclass__(**kwargs)
        if "concrete" not in TensorBase.__dict__:  # the first subclass: chainrule.Tensor
            TensorBase.concrete = _Result = cls


def wrap(data: Any, requires_grad: bool = False) -> Tensor:
    """A Tensor around ``data``, no conversion and no checks: for an op's output, a gradient,
    or a leaf made from a number; the engine builds every ``.grad`` with it."""
    t = _new(TensorBase.concrete)
    t.data = data
    t.grad = None
    t.requires_grad = requires_grad
    t._node = None
    t._version = 0
    t._meta = None
    return t  # type: ignore[no-any-return]


class Function:
    """Base class of every node in the graph; subclass it to write a gate.

    Subclasses implement ``forward(self, *arrays, **options)`` and ``backward(self, dout)``.
    Call ``MyGate.apply(*inputs, **options)``: Tensor inputs are unwrapped to arrays, any other
    argument (numbers, arrays) is passed through as a constant that receives no gradient, and
    keyword options go to ``forward`` unchanged. ``self.needs_input_grad`` tells ``forward`` and
    ``backward`` which inputs want a gradient.
    """

    # inputs: the arguments given to apply (Tensors and constants), the node's edges in the graph.
    # needs_input_grad: one bool per input; None once the node has been freed by backward.
    # _extra: None, or a dict of rarely used things: "hooks" and "retain" (the output tensor's
    # hooks and retain_grad()), "trace" (anomaly mode's stack), "anomaly".
    # _seq: creation order. A node's inputs are always created before it, so creation order is
    # a topological order: the engine runs nodes by decreasing _seq, with no counting pass.
    __slots__ = ("__weakref__", "_extra", "_seq", "inputs", "needs_input_grad")
    inputs: tuple[Any, ...]
    needs_input_grad: Any  # tuple[bool, ...], or None once freed
    _seq: int
    _extra: dict[str, Any] | None

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def backward(self, dout: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.backward is not implemented")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        """Run ``forward`` on the inputs' arrays and record the node when a gradient is needed."""
        # This runs for every op of every graph, so it is written for speed: one and two inputs
        # are unrolled and forward is called without building argument lists.
        tensor_type = _Result  # chainrule.Tensor: its exact type makes isinstance fastest
        fn = _new(cls)
        nargs = len(args)
        try:
            if nargs == 2:
                a, b = args
                if isinstance(a, tensor_type):
                    ra = a.requires_grad
                    a = a.data
                else:
                    ra = False
                if isinstance(b, tensor_type):
                    rb = b.requires_grad
                    b = b.data
                else:
                    rb = False
                record = (ra or rb) and GradMode.enabled
                fn.needs_input_grad = (ra, rb) if record else _NO_GRADS[2]
                out = fn.forward(a, b, **kwargs) if kwargs else fn.forward(a, b)
            elif nargs == 1:
                a = args[0]
                if isinstance(a, tensor_type):
                    record = a.requires_grad and GradMode.enabled
                    a = a.data
                else:
                    record = False
                fn.needs_input_grad = _ONE_GRAD if record else _NO_GRADS[1]
                out = fn.forward(a, **kwargs) if kwargs else fn.forward(a)
            else:
                arrays = []
                needs = []
                record = False
                for x in args:
                    if isinstance(x, tensor_type):
                        arrays.append(x.data)
                        needs.append(x.requires_grad)
                        record = record or x.requires_grad
                    else:
                        arrays.append(x)
                        needs.append(False)
                record = record and GradMode.enabled
                fn.needs_input_grad = tuple(needs) if record else (False,) * nargs
                out = fn.forward(*arrays, **kwargs)
        except ValueError as e:  # name the op and the shapes, not just NumPy's complaint
            raise _shape_error(cls, args, e) from None
        if type(out) is not _ndarray and not isinstance(out, _generic) and not is_foreign(out):
            out = np.asarray(out)  # 0-d results stay NumPy scalars: their maths is ~8x faster
        result = _new(tensor_type)
        result.data = out
        result.grad = None
        result._version = 0
        result._meta = None
        if record:
            fn.inputs = args
            fn._seq = _next_seq()
            fn._extra = None
            result.requires_grad = True
            result._node = fn
        else:
            result.requires_grad = False
            result._node = None
        if GradMode.anomaly:
            from chainrule import anomaly

            if record:
                anomaly.after_forward(fn, out)
            else:
                anomaly.check_forward(cls.__name__, out)
        return result

    # -- engine support -------------------------------------------------------------------------

    def check_versions(self) -> None:
        """Raise if an input was changed in place after this node was recorded."""
        if self._seq > GradMode.inplace_epoch:
            return  # no in-place change anywhere since recording: nothing to compare
        for i, a in enumerate(self.inputs):
            if isinstance(a, TensorBase) and a._version > self._seq:
                raise RuntimeError(
                    f"{type(self).__name__}.backward: input {i} (shape {a.shape}) was modified "
                    "in place after the forward pass used it, so the value saved for backward "
                    "is stale. Use an out-of-place operation (y = y + 1) instead of an in-place "
                    "one (y += 1), or run the in-place change before building the graph."
                )

    # What forward cached: the slots subclasses declare, and whether instances have a __dict__
    # (user gates cache there). Computed once per class, in __init_subclass__.
    _cached: tuple[str, ...] = ()
    _has_dict = False
    # True when backward follows the rule that lets create_graph=True record it: written with
    # the namespace it is handed, inputs cached as given, the output cached as ``out``.
    differentiable_backward = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names: list[str] = []
        for klass in cls.__mro__:
            if klass is Function:
                break
            slots = klass.__dict__.get("__slots__", ())
            names.extend([slots] if isinstance(slots, str) else slots)
        cls._cached = tuple(n for n in names if n not in ("__dict__", "__weakref__"))
        cls._has_dict = "__dict__" not in Function.__slots__ and not all(
            "__slots__" in k.__dict__ for k in cls.__mro__ if k is not object
        )

    def free(self) -> None:
        """Drop what forward cached, keeping the graph's edges (called after backward)."""
        self.needs_input_grad = None
        for name in self._cached:
            setattr(self, name, None)
        if self._has_dict:
            self.__dict__.clear()

    @property
    def freed(self) -> bool:
        return self.needs_input_grad is None

    def _set_extra(self, key: str, value: Any) -> None:
        if self._extra is None:
            self._extra = {}
        self._extra[key] = value

    @property
    def trace(self) -> list[traceback.FrameSummary] | None:
        """The stack where anomaly mode saw this node created (None outside anomaly mode)."""
        return None if self._extra is None else self._extra.get("trace")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} node>"


_new = object.__new__
_Result: Any = TensorBase  # the type of every result: chainrule.Tensor, once it is defined
_ndarray = np.ndarray
_generic = np.generic
_next_seq = itertools.count().__next__


def new_version() -> int:
    """Stamp for a Tensor changed in place (``t._version = new_version()``): graphs recorded
    before it that saved the tensor will refuse to backward."""
    v = _next_seq()
    GradMode.inplace_epoch = v
    return v


_NO_GRADS = [(False,) * n for n in range(3)]
_ONE_GRAD = (True,)


def _shape_error(cls: type, args: Any, e: ValueError) -> ValueError:
    """Name the op and the input shapes, not just NumPy's complaint (an AxisError the op
    raised names them already, and keeps its type: it is an IndexError too)."""
    if isinstance(e, np.exceptions.AxisError):
        return e
    shapes = ", ".join(str(np.shape(x.data if isinstance(x, TensorBase) else x)) for x in args)
    return ValueError(f"{cls.__name__} (input shapes {shapes}): {e}")
