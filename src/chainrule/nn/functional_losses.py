"""The fused loss gates of ``nn.functional`` and their functions: softmax cross-entropy, the
CS231n multiclass hinge, mean squared error and binary cross-entropy on logits. Each is one
node with a hand-written local gradient, differentiable twice.

The plain case (a mean, no class weights, nothing ignored) runs the gate; the other reductions
and options go on to the compositions of ``nn.losses2``. ``nn.functional`` makes them public.

>>> import numpy as np
>>> import chainrule as cr
>>> from chainrule.nn import functional_losses as FL
>>> round(FL.svm_loss(cr.tensor([[3.2, 5.1, -1.7]]), np.array([0])).item(), 2)
2.9
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import _tensor, backend
from chainrule.function import Function
from chainrule.ops import registry


def _array(x: Any) -> np.ndarray:
    return x.data if isinstance(x, _tensor.Tensor) else np.asarray(x)


# -- losses -------------------------------------------------------------------------------------


def _check_targets(targets: Any, scores: np.ndarray, op: str) -> np.ndarray:
    """Integer class indices of shape (N,), each in [0, C)."""
    y = _array(targets)
    if scores.ndim != 2:
        raise ValueError(f"{op}: scores must have shape (N, C), got {scores.shape}")
    n, c = scores.shape
    if n == 0 or c == 0:
        raise ValueError(f"{op}: scores of shape {scores.shape}: an empty batch has no mean loss")
    if y.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: targets must be integer class indices, got dtype {y.dtype} "
            "(convert with targets.astype(np.int64))"
        )
    if y.shape != (n,):
        raise ValueError(
            f"{op}: targets must have shape ({n},) for scores {scores.shape}, got {y.shape}"
        )
    if n and (y.min() < 0 or y.max() >= c):
        bad = y[(y < 0) | (y >= c)][0]
        raise ValueError(f"{op}: target {bad} is out of range for {c} classes (0..{c - 1})")
    return y


@registry.op(
    family="nn",
    function="cross_entropy",
    method=None,
    label="crossentropy",
    local="dlogits = (softmax(logits) - onehot(y)) / N",
    namespace="chainrule.nn.functional",
)
class CrossEntropy(Function):
    """loss = mean_i(logsumexp(z_i) - sum_j q_ij z_ij), q = (1-s) onehot(y) + s/C;
    dz = dout * (softmax(z) - q) / N"""

    __slots__ = ("probs", "smoothing", "y", "z")
    differentiable_backward = True

    def forward(self, z: Any, y: Any, smoothing: float = 0.0) -> Any:
        n = z.shape[0]
        rows = np.arange(n)
        shifted = z - z.max(axis=1, keepdims=True)  # (N, C): no overflow in exp
        e = np.exp(shifted)
        s = e.sum(axis=1, keepdims=True)  # (N, 1)
        lse = np.log(s)
        if smoothing:
            target = (1.0 - smoothing) * shifted[rows, y] + smoothing * shifted.mean(axis=1)
        else:
            target = shifted[rows, y]
        loss = (lse[:, 0] - target).mean(dtype=z.dtype)
        e /= s  # the softmax, kept for backward
        self.probs, self.y, self.smoothing, self.z = e, y, smoothing, z
        return np.asarray(loss, dtype=z.dtype)

    def backward(self, dout: Any) -> tuple[Any, None]:
        probs, y, z = self.probs, self.y, self.z
        n, c = probs.shape
        scale = dout / n
        if backend.is_tensor(z):  # create_graph: the softmax as a function of z, q a constant
            q = np.zeros((n, c), dtype=probs.dtype)
            q[np.arange(n), y] = 1.0 - self.smoothing
            q += self.smoothing / c
            return (backend.get_array_module(z).softmax(z, axis=1) - q) * scale, None
        dz = probs * scale
        if self.smoothing:
            dz -= scale * (self.smoothing / c)
            dz[np.arange(n), y] -= scale * (1.0 - self.smoothing)
        else:
            dz[np.arange(n), y] -= scale
        return dz, None


def cross_entropy(
    logits: Any,
    targets: Any,
    label_smoothing: float = 0.0,
    *,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Any:
    """Softmax cross-entropy (the lecture's softmax loss), mean over the batch, one fused node.

    ``logits`` (N, C) are raw scores; ``targets`` (N,) integer class indices, or (N, C) class
    probabilities ("soft" targets). With ``label_smoothing`` s the target distribution is
    (1 - s) on the true class plus s / C on every class. As PyTorch: class ``weight`` (C,),
    targets equal to ``ignore_index`` count for nothing (the mean divides by the weight of the
    rows counted), ``reduction="sum"`` or ``"none"`` (one loss per row).

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> z = cr.tensor(np.zeros((4, 10), np.float32))
    >>> round(F.cross_entropy(z, np.zeros(4, np.int64)).item(), 4)  # log(10) at chance
    2.3026
    >>> F.cross_entropy(cr.zeros(2, 2), [1, -100], reduction="none")
    tensor([0.6931, 0.    ])
    """
    y = _array(targets)
    if weight is None and reduction == "mean" and not (y.ndim == 2 and y.dtype.kind == "f"):
        # the plain case, one fused gate; a target equal to ignore_index sends it on to the
        # composition (found only where the check fails, or where ignore_index is a class)
        z = _array(logits)
        try:
            y = _check_targets(y, z, "cross_entropy")
        except ValueError:
            if not (y.dtype.kind in "iu" and (y == ignore_index).any()):
                raise
        else:
            if not (0 <= ignore_index < z.shape[1] and (y == ignore_index).any()):
                if not 0.0 <= label_smoothing <= 1.0:
                    raise ValueError(
                        f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}"
                    )
                return CrossEntropy.apply(logits, y, smoothing=float(label_smoothing))
    from chainrule.nn import losses2

    return losses2.cross_entropy(logits, targets, weight, ignore_index, reduction, label_smoothing)


@registry.op(
    family="nn",
    function="svm_loss",
    method=None,
    label="svmloss",
    local="ds = (1[margin > 0] - count * onehot(y)) / N",
    namespace="chainrule.nn.functional",
)
class SVMLoss(Function):
    """loss = mean_i sum_{j != y_i} max(0, s_ij - s_iy + margin);
    ds_ij = dout/N * 1[margin_ij > 0],  ds_iy = -dout/N * (number of positive margins)"""

    __slots__ = ("positive", "y")
    differentiable_backward = True

    def forward(self, s: Any, y: Any, margin: float = 1.0) -> Any:
        n = s.shape[0]
        rows = np.arange(n)
        xp = backend.get_array_module(s)  # any backend: the host index arrays are allowed
        margins = xp.maximum(s - s[rows, y][:, None] + margin, 0)  # (N, C)
        margins[rows, y] = 0  # the correct class contributes nothing
        self.positive, self.y = margins > 0, y
        return xp.asarray(margins.sum(dtype=s.dtype) / n, dtype=s.dtype)

    def backward(self, dout: Any) -> tuple[Any, None]:
        # piecewise linear: the coefficients are constants (its second derivative is 0)
        pos = self.positive
        n = pos.shape[0]
        coef = pos.astype(dout.dtype)
        coef[np.arange(n), self.y] = -pos.sum(axis=1)
        return coef * (dout / n), None


def svm_loss(scores: Any, targets: Any, margin: float = 1.0, *, reduction: str = "mean") -> Any:
    """The CS231n multiclass SVM (hinge) loss: for each example the sum over wrong classes of
    max(0, s_j - s_y + margin), averaged over the batch (``reduction="sum"`` sums it,
    ``"none"`` gives the (N,) losses of the examples).

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> s = cr.tensor([[3.2, 5.1, -1.7]])     # the lecture's cat example
    >>> round(F.svm_loss(s, np.array([0])).item(), 2)
    2.9
    """
    s = _array(scores)
    y = _check_targets(targets, s, "svm_loss")
    if reduction != "mean":
        from chainrule.nn import losses2

        return losses2.svm_loss(scores, y, margin, reduction)
    return SVMLoss.apply(scores, y, margin=float(margin))


@registry.op(
    family="nn",
    function="mse_loss",
    method=None,
    label="mse",
    local="dp = 2 (p - t) / n",
    namespace="chainrule.nn.functional",
)
class MSE(Function):
    """loss = mean((p - t)^2);  dp = dout * 2 (p - t) / n,  dt = -dp"""

    __slots__ = ("p", "t")
    differentiable_backward = True

    def forward(self, p: Any, t: Any) -> Any:
        self.p, self.t = p, t
        diff = p - t
        xp = backend.get_array_module(diff)  # any backend: nothing here leaves it
        return xp.asarray((diff * diff).mean(), dtype=diff.dtype)

    def backward(self, dout: Any) -> tuple[Any, Any]:
        diff = self.p - self.t
        d = diff * (2.0 * dout / diff.size)
        np_, nt = self.needs_input_grad
        return (d if np_ else None), (-d if nt else None)


def _check_same_shape(a: np.ndarray, b: np.ndarray, op: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{op}: input shape {a.shape} and target shape {b.shape} differ")
    if b.dtype.kind not in "fiub":
        raise TypeError(f"{op}: targets must be numeric, got dtype {b.dtype}")


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Any:  # noqa: A002 - PyTorch's name
    """Mean squared error over all elements (``reduction="sum"`` or ``"none"``: their sum, or
    each squared difference).

    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> F.mse_loss(cr.tensor([1.0, 3.0]), cr.tensor([0.0, 0.0])).item()
    5.0
    >>> F.mse_loss(cr.tensor([1.0, 3.0]), [0.0, 0.0], reduction="sum").item()
    10.0
    """
    if reduction != "mean":
        from chainrule.nn import losses2

        return losses2.mse_loss(input, target, reduction)
    a, t = _array(input), _array(target)
    _check_same_shape(a, t, "mse_loss")
    if not isinstance(target, _tensor.Tensor):
        target = t.astype(a.dtype, copy=False)
    return MSE.apply(input, target)


@registry.op(
    family="nn",
    function="binary_cross_entropy_with_logits",
    method=None,
    label="bcewithlogits",
    local="dx = (sigmoid(x) - t) / n",
    namespace="chainrule.nn.functional",
)
class BCEWithLogits(Function):
    """loss = mean(max(x, 0) - x t + log(1 + e^-|x|));  dx = dout (sigmoid(x) - t) / n,
    dt = -dout x / n"""

    __slots__ = ("t", "x")
    differentiable_backward = True

    def forward(self, x: Any, t: Any) -> Any:
        self.x, self.t = x, t
        xp = backend.get_array_module(x)  # any backend: nothing here leaves it
        loss = xp.maximum(x, 0) - x * t + xp.log1p(xp.exp(-xp.abs(x)))
        return xp.asarray(loss.mean(), dtype=x.dtype)

    def backward(self, dout: Any) -> tuple[Any, Any]:
        x, t = self.x, self.t
        scale = dout / x.size
        nx, nt = self.needs_input_grad
        sig = 0.5 * (1.0 + backend.get_array_module(dout).tanh(0.5 * x))
        dx = (sig - t) * scale if nx else None
        dt = -x * scale if nt else None
        return dx, dt


def binary_cross_entropy_with_logits(
    input: Any,  # noqa: A002
    target: Any,
    weight: Any = None,
    pos_weight: Any = None,
    reduction: str = "mean",
) -> Any:
    """Sigmoid then binary cross-entropy, fused and stable; targets in [0, 1], mean over all.
    As PyTorch: ``weight`` scales each element's loss, ``pos_weight`` the positive term (per
    class, broadcast over the last axis), ``reduction="sum"`` or ``"none"``.

    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> round(F.binary_cross_entropy_with_logits(cr.tensor([0.0]), cr.tensor([1.0])).item(), 4)
    0.6931
    >>> F.binary_cross_entropy_with_logits(cr.zeros(2), [1.0, 0.0], pos_weight=2.0,
    ...                                    reduction="none")
    tensor([1.3863, 0.6931])
    """
    if weight is not None or pos_weight is not None or reduction != "mean":
        from chainrule.nn import losses2

        return losses2._bce_with_logits_options(input, target, weight, pos_weight, reduction)
    a, t = _array(input), _array(target)
    _check_same_shape(a, t, "binary_cross_entropy_with_logits")
    if t.size and (t.min() < 0 or t.max() > 1):
        raise ValueError("binary_cross_entropy_with_logits: targets must lie in [0, 1]")
    if not isinstance(target, _tensor.Tensor):
        target = t.astype(a.dtype, copy=False)
    return BCEWithLogits.apply(input, target)
