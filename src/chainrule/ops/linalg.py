"""Matrix multiplication, NumPy's ``matmul``: 1-D vectors, 2-D matrices and batches of them.

For out = x @ y the vectorized chain rule gives dx = dout @ y^T and dy = x^T @ dout: each
gradient has its input's shape and the Jacobian is never built. A 1-D operand is promoted to a
row (x) or a column (y) for the products, as matmul itself does, and the added axis removed
after; batch axes that were broadcast are summed by the engine.
"""

from __future__ import annotations

from typing import Any

from chainrule.function import Function
from chainrule.ops import registry


def _mT(a: Any) -> Any:  # noqa: N802 - the matrix transpose's usual name
    """Swap the last two axes (the batched matrix transpose), on arrays and Tensors alike."""
    if a.ndim == 2:
        return a.T
    return a.transpose((*range(a.ndim - 2), a.ndim - 1, a.ndim - 2))


@registry.op(
    family="linalg",
    function="matmul",
    method="__matmul__",
    label="@",
    local="matmul swaps and scales, as matrices",
    ufuncs=("matmul",),
    symbol="@",
    pattern="matmul swaps and scales, as matrices: each input gets the upstream times the "
    "other input, transposed",
    rebuildable=True,
    arity=2,
)
class MatMul(Function):
    """out = x @ y;  dx = dout @ y^T,  dy = x^T @ dout"""

    __slots__ = ("x", "y")
    differentiable_backward = True

    def forward(self, x: Any, y: Any) -> Any:
        if x.ndim == 0 or y.ndim == 0:
            raise ValueError(
                f"matmul needs arrays of at least 1 dimension, got {x.shape} @ {y.shape}"
            )
        if x.shape[-1] != y.shape[-2 if y.ndim > 1 else 0]:
            raise ValueError(
                f"matmul: shapes {x.shape} and {y.shape} are not aligned: "
                f"{x.shape[-1]} (last axis of x) != {y.shape[-2 if y.ndim > 1 else 0]} "
                f"({'second-to-last' if y.ndim > 1 else 'only'} axis of y)"
            )
        self.x, self.y = x, y
        return x @ y

    def backward(self, dout: Any) -> tuple[Any, Any]:
        nx, ny = self.needs_input_grad
        x, y = self.x, self.y
        if x.ndim >= 2 and y.ndim >= 2:  # the common case: (N, D) @ (D, M) -> (N, M)
            dx = dout @ _mT(y) if nx else None
            dy = _mT(x) @ dout if ny else None
            return dx, dy
        x2 = x[None, :] if x.ndim == 1 else x  # (k,) -> (1, k)
        y2 = y[:, None] if y.ndim == 1 else y  # (k,) -> (k, 1)
        # put back the axes matmul dropped: m (y was 1-D) first, then n (x was 1-D), so that
        # 1-D @ 1-D, whose dout is 0-d, becomes (1, 1)
        d = dout
        if y.ndim == 1:
            d = d.reshape((*d.shape, 1))  # (..., n) -> (..., n, 1)
        if x.ndim == 1:
            d = d.reshape((*d.shape[:-1], 1, d.shape[-1]))  # (..., m) -> (..., 1, m)
        dx = dy = None
        if nx:
            dx = d @ _mT(y2)  # (..., 1, k) when x was 1-D
            if x.ndim == 1:
                dx = dx[..., 0, :]
        if ny:
            dy = _mT(x2) @ d  # (..., k, 1) when y was 1-D
            if y.ndim == 1:
                dy = dy[..., 0]
        return dx, dy
