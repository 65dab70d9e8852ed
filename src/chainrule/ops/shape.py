"""Shape gates: reshape, transpose, broadcast_to, expand/squeeze, indexing, concatenate, stack.

None of them changes a value, so each backward only moves the upstream gradient back to where
its elements came from: reshape back, transpose by the inverse permutation, scatter into zeros
for indexing (``np.add.at`` where an index repeats, so repeated indices accumulate).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.function import Function


class Reshape(Function):
    """out = x.reshape(shape);  dx = dout.reshape(x.shape)"""

    __slots__ = ("shape",)

    def forward(self, x: Any, shape: tuple[int, ...] = (-1,)) -> Any:
        x = np.asarray(x)
        self.shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape an input of shape {x.shape} ({x.size} elements) "
                f"into shape {tuple(shape)}"
            ) from None

    def backward(self, dout: np.ndarray) -> Any:
        return dout.reshape(self.shape)


class Transpose(Function):
    """out = x.transpose(axes);  dx = dout.transpose(inverse of axes)"""

    __slots__ = ("axes",)

    def forward(self, x: Any, axes: Any = None) -> Any:
        x = np.asarray(x)
        out = x.transpose(None if axes is None else tuple(axes))  # NumPy validates the axes
        # the inverse permutation needs them non-negative: argsort((-1, 0)) is not (1, 0)'s
        self.axes = None if axes is None else tuple(int(a) % x.ndim for a in axes)
        return out

    def backward(self, dout: np.ndarray) -> Any:
        if self.axes is None:
            return dout.transpose()
        return dout.transpose(np.argsort(self.axes))


class BroadcastTo(Function):
    """out = broadcast_to(x, shape);  dx = dout summed over the broadcast axes (by the engine)"""

    __slots__ = ()

    def forward(self, x: Any, shape: tuple[int, ...] = ()) -> Any:
        x = np.asarray(x)
        try:
            return np.broadcast_to(x, shape)
        except ValueError:
            raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}") from None

    def backward(self, dout: np.ndarray) -> Any:
        return dout  # the engine's unbroadcast sums it back to x's shape


class ExpandDims(Function):
    """out = expand_dims(x, axis);  dx = dout.reshape(x.shape)"""

    __slots__ = ("shape",)

    def forward(self, x: Any, axis: Any = 0) -> Any:
        x = np.asarray(x)
        self.shape = x.shape
        return np.expand_dims(x, axis)

    def backward(self, dout: np.ndarray) -> Any:
        return dout.reshape(self.shape)


class Squeeze(Function):
    """out = squeeze(x, axis);  dx = dout.reshape(x.shape)"""

    __slots__ = ("shape",)

    def forward(self, x: Any, axis: Any = None) -> Any:
        x = np.asarray(x)
        self.shape = x.shape
        return np.squeeze(x, axis)

    def backward(self, dout: np.ndarray) -> Any:
        return dout.reshape(self.shape)


def _is_basic(index: Any) -> bool:
    """True for an index of ints, slices, None and Ellipsis only (no element is hit twice)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, int | slice | np.integer) for p in parts)


class Index(Function):
    """out = x[index];  dx = zeros like x with dout added at index (repeats accumulate)"""

    __slots__ = ("dtype", "index", "shape")

    def forward(self, x: Any, index: Any = None) -> Any:
        x = np.asarray(x)
        self.shape, self.dtype, self.index = x.shape, x.dtype, index
        try:
            return x[index]
        except IndexError as e:
            raise IndexError(f"index: {e} (indexing an input of shape {x.shape})") from None

    def backward(self, dout: np.ndarray) -> Any:
        dx = np.zeros(self.shape, dtype=dout.dtype)
        if _is_basic(self.index):
            dx[self.index] = dout
        else:
            np.add.at(dx, self.index, dout)
        return dx


class Concatenate(Function):
    """out = concatenate(xs, axis);  dxs = dout split back at the inputs' boundaries"""

    __slots__ = ("axis", "bounds")

    def forward(self, *xs: Any, axis: int = 0) -> Any:
        arrays = [np.asarray(x) for x in xs]
        self.axis = axis
        self.bounds = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        try:
            return np.concatenate(arrays, axis=axis)
        except ValueError:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise ValueError(f"concatenate: shapes {shapes} differ outside axis {axis}") from None

    def backward(self, dout: np.ndarray) -> tuple[Any, ...]:
        return tuple(np.split(dout, self.bounds, axis=self.axis))


class Stack(Function):
    """out = stack(xs, axis);  dxs = the slices of dout along axis"""

    __slots__ = ("axis", "n")

    def forward(self, *xs: Any, axis: int = 0) -> Any:
        arrays = [np.asarray(x) for x in xs]
        try:
            out = np.stack(arrays, axis=axis)
        except ValueError:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise ValueError(f"stack: all inputs need the same shape, got {shapes}") from None
        self.axis = axis if axis >= 0 else axis + out.ndim
        self.n = len(arrays)
        return out

    def backward(self, dout: np.ndarray) -> tuple[Any, ...]:
        return tuple(np.take(dout, i, axis=self.axis) for i in range(self.n))
