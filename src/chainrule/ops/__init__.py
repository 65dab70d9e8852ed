"""Every differentiable primitive, as a Function, and the public functions that apply them.

``ALL_OPS`` lists the core gates, derived from the registry (``ops.registry``: each gate's
facts are declared beside it); the test table in ``tests/ops`` has one row per entry and a
meta-test fails when one is missing. Functions follow NumPy's names and semantics.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.function import Function, TensorBase
from chainrule.ops import (  # noqa: F401 - issue 11's families register their gates on import
    activations,
    arithmetic,
    compare,
    contract,
    elementwise,
    gather,
    layout,
    linalg,
    mathfns,
    reduce,
    registry,
    scan,
)
from chainrule.ops import shape as shape_ops

# every core gate, in registration order: the facts live beside each gate (ops.registry)
ALL_OPS: tuple[type[Function], ...] = registry.gates(
    "arithmetic", "elementwise", "reduce", "shape", "linalg"
)


_TensorBase = TensorBase  # every Tensor is one; TensorBase.concrete is chainrule.Tensor
_NUMERIC_KINDS = "biuf"


def lift_operand(other: Any, like: Any) -> Any:
    """An operator's operand: Tensors, Python numbers and other backends' arrays pass; NumPy
    arrays and lists take ``like``'s float dtype."""
    t = type(other)
    if t is float or t is int or isinstance(other, _TensorBase) or backend.is_foreign(other):
        return other
    arr = np.asarray(other)
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(f"unsupported operand of type {t.__name__} for a chainrule Tensor")
    dt = like.data.dtype
    if dt.kind == "f" and arr.dtype != dt:
        arr = arr.astype(dt)
    return arr


_lift = lift_operand


def _t(x: Any) -> Any:
    return x if isinstance(x, _TensorBase) else _TensorBase.concrete(x)


def _pair(x: Any, y: Any) -> tuple[Any, Any]:
    """Two operands, at least one a Tensor; a plain operand takes the Tensor's float dtype."""
    if isinstance(x, _TensorBase):
        return x, _lift(y, x)
    if isinstance(y, _TensorBase):
        return _lift(x, y), y
    return _t(x), _t(y)


def add(x: Any, y: Any) -> Any:
    """x + y, broadcasting.

    >>> import chainrule as cr
    >>> cr.add(cr.tensor([1.0, 2.0]), 3.0)
    tensor([4., 5.])
    """
    return arithmetic.Add.apply(*_pair(x, y))


def subtract(x: Any, y: Any) -> Any:
    """x - y, broadcasting; either operand may be a number or an array.

    >>> import chainrule as cr
    >>> cr.subtract(5.0, cr.tensor([1.0, 2.0]))
    tensor([4., 3.])
    """
    return arithmetic.Sub.apply(*_pair(x, y))


def multiply(x: Any, y: Any) -> Any:
    """x * y, broadcasting.

    >>> import chainrule as cr
    >>> cr.multiply(cr.tensor([1.0, 2.0]), cr.tensor([[1.0], [2.0]]))
    tensor([[1., 2.],
            [2., 4.]])
    """
    return arithmetic.Mul.apply(*_pair(x, y))


def divide(x: Any, y: Any) -> Any:
    """x / y, broadcasting.

    >>> import chainrule as cr
    >>> cr.divide(cr.tensor([1.0, 3.0]), 2.0)
    tensor([0.5, 1.5])
    """
    return arithmetic.Div.apply(*_pair(x, y))


def negative(x: Any) -> Any:
    """-x.

    >>> import chainrule as cr
    >>> cr.negative(cr.tensor([1.0, -2.0]))
    tensor([-1.,  2.])
    """
    return arithmetic.Neg.apply(_t(x))


def power(x: Any, y: Any) -> Any:
    """x ** y for a Tensor or number exponent.

    >>> import chainrule as cr
    >>> cr.power(cr.tensor(3.0), 2)
    tensor(9.)
    """
    return arithmetic.Pow.apply(*_pair(x, y))


def exp(x: Any) -> Any:
    """e ** x, elementwise.

    >>> import chainrule as cr
    >>> cr.exp(cr.tensor([0.0, 1.0]))
    tensor([1.    , 2.7183])
    """
    return elementwise.Exp.apply(_t(x))


def log(x: Any) -> Any:
    """Natural logarithm, elementwise.

    >>> import chainrule as cr
    >>> cr.log(cr.tensor([1.0, np.e]))
    tensor([0., 1.])
    """
    return elementwise.Log.apply(_t(x))


def sqrt(x: Any) -> Any:
    """Square root, elementwise.

    >>> import chainrule as cr
    >>> cr.sqrt(cr.tensor([4.0, 9.0]))
    tensor([2., 3.])
    """
    return elementwise.Sqrt.apply(_t(x))


def abs(x: Any) -> Any:
    """|x|, elementwise (gradient 0 at 0).

    >>> import chainrule as cr
    >>> cr.abs(cr.tensor([-1.5, 2.0]))
    tensor([1.5, 2. ])
    """
    return elementwise.Abs.apply(_t(x))


def sin(x: Any) -> Any:
    """Sine, elementwise.

    >>> import chainrule as cr
    >>> cr.sin(cr.tensor([0.0, np.pi / 2]))
    tensor([0., 1.])
    """
    return elementwise.Sin.apply(_t(x))


def cos(x: Any) -> Any:
    """Cosine, elementwise.

    >>> import chainrule as cr
    >>> cr.cos(cr.tensor([0.0, np.pi]))
    tensor([ 1., -1.])
    """
    return elementwise.Cos.apply(_t(x))


def tanh(x: Any) -> Any:
    """Hyperbolic tangent, elementwise.

    >>> import chainrule as cr
    >>> cr.tanh(cr.tensor([0.0, 1.0]))
    tensor([0.    , 0.7616])
    """
    return elementwise.Tanh.apply(_t(x))


def sigmoid(x: Any) -> Any:
    """The logistic function 1 / (1 + e^-x) as one fused gate.

    >>> import chainrule as cr
    >>> cr.sigmoid(cr.tensor([0.0, 1.0]))
    tensor([0.5   , 0.7311])
    """
    return elementwise.Sigmoid.apply(_t(x))


def relu(x: Any) -> Any:
    """max(0, x), elementwise (gradient 0 at 0).

    >>> import chainrule as cr
    >>> cr.relu(cr.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """
    return elementwise.ReLU.apply(_t(x))


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    """x for x > 0, else negative_slope * x.

    >>> import chainrule as cr
    >>> cr.leaky_relu(cr.tensor([-1.0, 2.0]), 0.1)
    tensor([-0.1,  2. ])
    """
    return elementwise.LeakyReLU.apply(_t(x), slope=negative_slope)


def elu(x: Any, alpha: float = 1.0) -> Any:
    """x for x > 0, else alpha * (e^x - 1).

    >>> import chainrule as cr
    >>> cr.elu(cr.tensor([-1.0, 2.0]))
    tensor([-0.6321,  2.    ])
    """
    return elementwise.ELU.apply(_t(x), alpha=alpha)


def maximum(x: Any, y: Any) -> Any:
    """Elementwise max of two operands; ties split the gradient evenly.

    >>> import chainrule as cr
    >>> z, w = cr.tensor(2.0, requires_grad=True), cr.tensor(-1.0, requires_grad=True)
    >>> cr.maximum(z, w).backward()
    >>> z.grad.item(), w.grad.item()
    (1.0, 0.0)
    """
    return elementwise.Maximum.apply(*_pair(x, y))


def minimum(x: Any, y: Any) -> Any:
    """Elementwise min of two operands; ties split the gradient evenly.

    >>> import chainrule as cr
    >>> cr.minimum(cr.tensor([1.0, 5.0]), 3.0)
    tensor([1., 3.])
    """
    return elementwise.Minimum.apply(*_pair(x, y))


def clip(x: Any, a_min: Any = None, a_max: Any = None) -> Any:
    """Limit x to [a_min, a_max]; the gradient passes where x is inside (bounds included).

    >>> import chainrule as cr
    >>> cr.clip(cr.tensor([-2.0, 0.5, 2.0]), -1.0, 1.0)
    tensor([-1. ,  0.5,  1. ])
    """
    if isinstance(a_min, _TensorBase) or isinstance(a_max, _TensorBase):
        out = _t(x)
        if a_min is not None:
            out = maximum(out, a_min)
        if a_max is not None:
            out = minimum(out, a_max)
        return out
    if a_min is None and a_max is None:
        raise ValueError("clip: give a_min, a_max or both")
    return elementwise.Clip.apply(_t(x), a_min=a_min, a_max=a_max)


def where(condition: Any, x: Any, y: Any) -> Any:
    """x where condition holds, else y; the branch not taken gets an exact zero gradient.

    >>> import chainrule as cr
    >>> cr.where([True, False], cr.tensor([1.0, 2.0]), 0.0)
    tensor([1., 0.])
    """
    if isinstance(condition, _TensorBase):
        cond = condition.data
    else:  # another backend's mask stays where it is
        cond = condition if backend.is_foreign(condition) else np.asarray(condition)
    x, y = _pair(x, y)
    return elementwise.Where.apply(cond, x, y)


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Sum over axis (all axes by default).

    >>> import chainrule as cr
    >>> cr.sum(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=0)
    tensor([4., 6.])
    """
    return reduce.Sum.apply(_t(x), axis=axis, keepdims=keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Mean over axis (all axes by default).

    >>> import chainrule as cr
    >>> cr.mean(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=1, keepdims=True)
    tensor([[1.5],
            [3.5]])
    """
    return reduce.Mean.apply(_t(x), axis=axis, keepdims=keepdims)


def var(x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Any:
    """Variance over axis (NumPy's ddof=0 by default).

    >>> import chainrule as cr
    >>> cr.var(cr.tensor([1.0, 2.0, 3.0, 4.0]), ddof=1)
    tensor(1.6667)
    """
    return reduce.Var.apply(_t(x), axis=axis, keepdims=keepdims, ddof=ddof)


def std(x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Any:
    """Standard deviation over axis; its gradient is 0 where the deviation is 0.

    >>> import chainrule as cr
    >>> cr.std(cr.tensor([1.0, 3.0]))
    tensor(1.)
    """
    return reduce.Std.apply(_t(x), axis=axis, keepdims=keepdims, ddof=ddof)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Max over axis; tied maxima share the gradient evenly.

    >>> import chainrule as cr
    >>> cr.max(cr.tensor([[1.0, 5.0], [3.0, 2.0]]), axis=1)
    tensor([5., 3.])
    """
    return reduce.Max.apply(_t(x), axis=axis, keepdims=keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Min over axis; tied minima share the gradient evenly.

    >>> import chainrule as cr
    >>> cr.min(cr.tensor([[1.0, 5.0], [3.0, 2.0]]))
    tensor(1.)
    """
    return reduce.Min.apply(_t(x), axis=axis, keepdims=keepdims)


def softmax(x: Any, axis: int = -1) -> Any:
    """e^x / sum e^x along axis, computed stably.

    >>> import chainrule as cr
    >>> cr.softmax(cr.tensor([0.0, np.log(3.0)]))
    tensor([0.25, 0.75])
    """
    return reduce.Softmax.apply(_t(x), axis=axis)


def log_softmax(x: Any, axis: int = -1) -> Any:
    """x - logsumexp(x) along axis, computed stably.

    >>> import chainrule as cr
    >>> cr.log_softmax(cr.tensor([0.0, 0.0]))
    tensor([-0.6931, -0.6931])
    """
    return reduce.LogSoftmax.apply(_t(x), axis=axis)


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """log sum e^x over axis, stable for large |x|.

    >>> import chainrule as cr
    >>> round(cr.logsumexp(cr.tensor([1e4, 1e4], dtype="float64")).item(), 4)
    10000.6931
    """
    return reduce.LogSumExp.apply(_t(x), axis=axis, keepdims=keepdims)


def matmul(x: Any, y: Any) -> Any:
    """x @ y: 1-D, 2-D or batched, as numpy.matmul.

    >>> import chainrule as cr
    >>> cr.matmul(cr.tensor([[1.0, 2.0]]), cr.tensor([[3.0], [4.0]]))
    tensor([[11.]])
    """
    return linalg.MatMul.apply(*_pair(x, y))


def dot(x: Any, y: Any) -> Any:
    """numpy.dot on any ranks: ``contract.dot`` (``cr.dot``).

    >>> import chainrule as cr
    >>> cr.ops.dot(cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0]))
    tensor(11.)
    """
    return contract.dot(x, y)


def reshape(x: Any, shape: Sequence[int]) -> Any:
    """x with a new shape and the same elements.

    >>> import chainrule as cr
    >>> cr.reshape(cr.tensor([1.0, 2.0, 3.0, 4.0]), (2, 2))
    tensor([[1., 2.],
            [3., 4.]])
    """
    return shape_ops.Reshape.apply(_t(x), shape=tuple(shape))


def transpose(x: Any, axes: Sequence[int] | None = None) -> Any:
    """Permute the axes (reverse them by default).

    >>> import chainrule as cr
    >>> cr.transpose(cr.tensor([[1.0, 2.0]]))
    tensor([[1.],
            [2.]])
    """
    return shape_ops.Transpose.apply(_t(x), axes=None if axes is None else tuple(axes))


def permute(x: Any, axes: Sequence[int]) -> Any:
    """Permute the axes.

    >>> import chainrule as cr
    >>> cr.permute(cr.tensor(np.zeros((2, 3, 4))), (2, 0, 1)).shape
    (4, 2, 3)
    """
    return transpose(x, axes)


def broadcast_to(x: Any, shape: Sequence[int]) -> Any:
    """x broadcast to a shape; the gradient is summed back.

    >>> import chainrule as cr
    >>> cr.broadcast_to(cr.tensor([1.0, 2.0]), (2, 2))
    tensor([[1., 2.],
            [1., 2.]])
    """
    return shape_ops.BroadcastTo.apply(_t(x), shape=tuple(shape))


def expand_dims(x: Any, axis: Any) -> Any:
    """x with a new axis of size 1 at axis.

    >>> import chainrule as cr
    >>> cr.expand_dims(cr.tensor([1.0, 2.0]), 0).shape
    (1, 2)
    """
    return shape_ops.ExpandDims.apply(_t(x), axis=axis)


def squeeze(x: Any, axis: Any = None) -> Any:
    """x without its axes of size 1 (or just axis).

    >>> import chainrule as cr
    >>> cr.squeeze(cr.tensor([[1.0], [2.0]]))
    tensor([1., 2.])
    """
    return shape_ops.Squeeze.apply(_t(x), axis=axis)


def concatenate(xs: Sequence[Any], axis: int = 0) -> Any:
    """Join tensors along an existing axis.

    >>> import chainrule as cr
    >>> cr.concatenate([cr.tensor([1.0]), cr.tensor([2.0, 3.0])])
    tensor([1., 2., 3.])
    """
    if len(xs) == 0:
        raise ValueError("concatenate: needs at least one tensor")
    return shape_ops.Concatenate.apply(*[_t(x) for x in xs], axis=axis)


def stack(xs: Sequence[Any], axis: int = 0) -> Any:
    """Join tensors of one shape along a new axis.

    >>> import chainrule as cr
    >>> cr.stack([cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0])], axis=1)
    tensor([[1., 3.],
            [2., 4.]])
    """
    if len(xs) == 0:
        raise ValueError("stack: needs at least one tensor")
    return shape_ops.Stack.apply(*[_t(x) for x in xs], axis=axis)


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    """Split into pieces along axis, as numpy.split; each piece is an indexing node.

    >>> import chainrule as cr
    >>> cr.split(cr.tensor([1.0, 2.0, 3.0, 4.0]), 2)
    [tensor([1., 2.]), tensor([3., 4.])]
    """
    t = _t(x)
    if not -t.ndim <= axis < t.ndim:
        raise ValueError(f"split: axis {axis} is out of bounds for an input of shape {t.shape}")
    n = t.shape[axis]
    if isinstance(indices_or_sections, int):
        if indices_or_sections <= 0 or n % indices_or_sections:
            raise ValueError(
                f"split: axis {axis} of length {n} does not divide into {indices_or_sections} "
                "equal pieces"
            )
        step = n // indices_or_sections
        bounds = list(range(step, n, step))
    else:
        bounds = list(indices_or_sections)
    edges = [0, *bounds, n]
    pieces = []
    for lo, hi in itertools.pairwise(edges):
        index = [slice(None)] * t.ndim
        index[axis] = slice(lo, hi)
        pieces.append(shape_ops.Index.apply(t, index=tuple(index)))
    return pieces


def add_at(shape: Sequence[int], index: Any, values: Any) -> Any:
    """zeros(shape) with ``values`` added at ``index``, repeated indices accumulating: NumPy's
    ``np.add.at`` as a differentiable op (indexing's backward; its own backward is indexing).

    >>> import numpy as np
    >>> import chainrule as cr
    >>> cr.add_at((3,), np.array([0, 2, 2]), cr.tensor([1.0, 2.0, 3.0]))
    tensor([1., 0., 5.])
    """
    return shape_ops.IndexAdd.apply(_t(values), shape=tuple(shape), index=index)
