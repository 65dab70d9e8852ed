"""Losses with PyTorch's options: ``reduction="mean"|"sum"|"none"`` on each, cross-entropy with
class weights, ``ignore_index``, soft (probability) targets and label smoothing, ``nll_loss``,
``binary_cross_entropy`` on probabilities, ``pos_weight`` on the logits form, ``l1_loss``,
``mse_loss``, ``smooth_l1_loss``, ``huber_loss``, ``kl_div`` and the multiclass hinge
``svm_loss``. ``nn.functional`` makes each public (the way to call them); its modules are in
``nn.losses``.

Each is a composition of differentiable ops (so twice differentiable); the plain means of
cross-entropy, the hinge, MSE and BCE on logits run the fused gates of ``nn.functional_losses``.
A weighted mean divides by the sum of the weights of the rows counted, as PyTorch does (ignored
rows count for nothing). Host constants (weights, soft targets) follow the input to its array
module, so the compositions run on other backends too.

>>> import chainrule as cr
>>> from chainrule.nn import losses2 as L
>>> L.l1_loss(cr.tensor([1.0, 4.0]), cr.tensor([2.0, 2.0]), reduction="sum")
tensor(3.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

import chainrule.ops as ops
from chainrule import backend
from chainrule.function import TensorBase
from chainrule.nn import functional_losses as F  # noqa: N812 - the fused gates
from chainrule.ops import _args, activations, gather

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(op: str, loss: Any, reduction: str, denominator: Any = None) -> Any:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if reduction == "none":
        return loss
    total = ops.sum(loss)
    if reduction == "sum":
        return total
    return total / (loss.size if denominator is None else float(denominator))


def _pair(op: str, input: Any, target: Any) -> tuple[Any, Any]:  # noqa: A002
    x = _args.tensor(input)
    try:
        t = target if isinstance(target, TensorBase) else _args.tensor(ops.lift_operand(target, x))
    except TypeError:
        raise TypeError(
            f"{op}: target must be numbers (an array or Tensor), got {type(target).__name__}"
        ) from None
    if x.shape != t.shape:
        raise ValueError(f"{op}: input of shape {x.shape} and target of shape {t.shape} differ")
    return x, t


def _on(like: Any, a: Any) -> Any:
    """A host float constant (weights, soft targets) on the array module of Tensor ``like``
    (masks and indices may stay on the host: every backend takes those)."""
    if a is None or isinstance(a, TensorBase | float | int):
        return a
    xp = backend.get_array_module(like.data)
    return a if xp is np else xp.asarray(a)


def _check_broadcast(op: str, name: str, value: Any, shape: tuple[int, ...]) -> None:
    """``value`` (None, a number or an array) broadcasts to the input's ``shape``."""
    if value is None:
        return
    got = tuple(value.shape) if hasattr(value, "shape") else np.shape(value)
    try:
        ok = np.broadcast_shapes(got, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{op}: {name} of shape {got} does not broadcast to the input's {shape}")


def _weights(op: str, weight: Any, c: int, like: Any) -> np.ndarray | None:
    if weight is None:
        return None
    w = np.asarray(weight.data if isinstance(weight, TensorBase) else weight, dtype=like.dtype)
    if w.shape != (c,):
        raise ValueError(f"{op}: weight must have one entry per class ({c},), got {w.shape}")
    return w


def nll_loss(
    input: Any,  # noqa: A002
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Any:
    """Negative log-likelihood of log-probabilities (N, C) at integer targets (N,).

    >>> import chainrule as cr
    >>> from chainrule.nn import losses2 as L
    >>> logp = cr.log(cr.tensor([[0.5, 0.5], [0.9, 0.1]]))
    >>> round(L.nll_loss(logp, [1, 0], ignore_index=1).item(), 4)  # only row 2 counts
    0.1054
    """
    return _nll("nll_loss", input, target, weight, ignore_index, reduction)


def _class_targets(op: str, name: str, target: Any, n: int, expected: str) -> np.ndarray:
    """Integer class targets, one per row of the n rows, or the error naming op and argument."""
    y = np.asarray(target.data if isinstance(target, TensorBase) else target)
    if y.shape != (n,) or (y.size and y.dtype.kind not in "iu"):
        raise ValueError(f"{op}: {name} must be {expected}, got shape {y.shape} of {y.dtype}")
    return y


def _nll(op: str, input: Any, target: Any, weight: Any, ignore_index: int, reduction: str) -> Any:  # noqa: A002
    """nll_loss, its errors naming ``op`` (the loss the user called)."""
    logp = _args.tensor(input)
    if logp.ndim != 2:
        raise ValueError(f"{op}: input must be (N, C) log-probabilities, got {logp.shape}")
    n, c = logp.shape
    y = _class_targets(
        op, "target", target, n, f"({n},) integer classes or ({n}, {c}) probabilities"
    )
    keep = y != ignore_index
    safe = np.where(keep, y, 0)
    if safe.size and (safe.min() < 0 or safe.max() >= c):  # a class index never wraps
        bad = safe[(safe < 0) | (safe >= c)][0]
        raise IndexError(
            f"{op}: target {bad} is out of range for {c} classes (0..{c - 1}; "
            f"ignore_index={ignore_index})"
        )
    w = _weights(op, weight, c, logp.data)
    row_w = (np.ones(n, logp.dtype) if w is None else w[safe]) * keep
    picked = gather.take_along_axis(logp, safe[:, None], axis=1).reshape(n)
    return _reduce(op, -picked * _on(logp, row_w), reduction, row_w.sum())


def cross_entropy(
    input: Any,  # noqa: A002
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Any:
    """Softmax cross-entropy of logits (N, C) with integer targets (N,) or probability
    targets (N, C) ("soft"), as PyTorch's cross_entropy.

    >>> import chainrule as cr
    >>> from chainrule.nn import losses2 as L
    >>> z = cr.zeros(2, 4)
    >>> round(L.cross_entropy(z, [0, 3], reduction="sum").item(), 4)  # 2 log 4
    2.7726
    >>> round(L.cross_entropy(z, cr.full((2, 4), 0.25)).item(), 4)  # soft targets
    1.3863
    """
    z = _args.tensor(input)
    if z.ndim != 2:
        raise ValueError(f"cross_entropy: input must be (N, C) logits, got shape {z.shape}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    n, c = z.shape
    t = np.asarray(target.data if isinstance(target, TensorBase) else target)
    logp = ops.log_softmax(z, axis=1)
    w = _weights("cross_entropy", weight, c, z.data)
    if t.ndim == 2:  # probabilities
        if t.shape != (n, c):
            raise ValueError(f"cross_entropy: soft targets must be ({n}, {c}), got {t.shape}")
        probs = t.astype(z.dtype) * (1 - label_smoothing) + label_smoothing / c
        wt = probs if w is None else probs * w
        return _reduce("cross_entropy", -ops.sum(logp * _on(z, wt), axis=1), reduction)
    plain = w is None and reduction == "mean" and t.dtype.kind in "iu" and (t != ignore_index).all()
    if plain and t.shape == (n,):
        gather._indices("cross_entropy", t, c, "target")
        return F.cross_entropy(z, t, label_smoothing=label_smoothing)
    nll = _nll("cross_entropy", logp, t, w, ignore_index, "none")
    if not label_smoothing:
        keep = t != ignore_index
        denom = (keep if w is None else w[np.where(keep, t, 0)] * keep).sum()
        return _reduce("cross_entropy", nll, reduction, denom)
    keep = t != ignore_index
    cw = np.ones(c, z.dtype) if w is None else w
    smooth = ops.where(keep, -ops.sum(logp * _on(z, cw), axis=1), 0.0)
    loss = nll * (1 - label_smoothing) + smooth * (label_smoothing / c)
    denom = (cw[np.where(keep, t, 0)] * keep).sum()
    return _reduce("cross_entropy", loss, reduction, denom)


def binary_cross_entropy(
    input: Any,  # noqa: A002
    target: Any,
    weight: Any = None,
    reduction: str = "mean",
) -> Any:
    """-(t log p + (1 - t) log(1 - p)) on probabilities p in [0, 1]; each log is clamped at
    -100, as PyTorch does, so p = 0 or 1 gives a finite loss.

    >>> import chainrule as cr
    >>> from chainrule.nn import losses2 as L
    >>> round(L.binary_cross_entropy(cr.tensor([0.5, 0.9]), [1.0, 1.0]).item(), 4)
    0.3993
    """
    p, t = _pair("binary_cross_entropy", input, target)
    if p.size and (p.data.min() < 0 or p.data.max() > 1):
        raise ValueError("binary_cross_entropy: input must be probabilities in [0, 1]")
    _check_broadcast("binary_cross_entropy", "weight", weight, p.shape)
    log_p = ops.maximum(ops.log(ops.where(p.data > 0, p, 1.0)), -100.0)
    log_p = ops.where(p.data > 0, log_p, -100.0)
    q = 1.0 - p
    log_q = ops.where(
        q.data > 0, ops.maximum(ops.log(ops.where(q.data > 0, q, 1.0)), -100.0), -100.0
    )
    loss = -(t * log_p + (1.0 - t) * log_q)
    if weight is not None:
        loss = loss * _on(p, np.asarray(weight, p.dtype) if isinstance(weight, list) else weight)
    return _reduce("binary_cross_entropy", loss, reduction)


# the same function as nn.functional's (the fused gate for the plain mean, the composition
# below for the options), under this module's name too
binary_cross_entropy_with_logits = F.binary_cross_entropy_with_logits


def _bce_with_logits_options(
    x: Any, target: Any, weight: Any, pos_weight: Any, reduction: str
) -> Any:
    """binary_cross_entropy_with_logits with ``weight``, ``pos_weight`` or a reduction other
    than the mean, composed of differentiable ops: ``(1 - t) x + (1 + (pw - 1) t) softplus(-x)``
    (``nn.functional``'s function calls it for those options)."""
    x, t = _pair("binary_cross_entropy_with_logits", x, target)
    for name, value in (("weight", weight), ("pos_weight", pos_weight)):
        _check_broadcast("binary_cross_entropy_with_logits", name, value, x.shape)
    sp = activations.softplus(-x)  # -log sigmoid(x), stable
    weight, pos_weight = _on(x, weight), _on(x, pos_weight)
    if pos_weight is None:
        loss = (1.0 - t) * x + sp
    else:
        loss = (1.0 - t) * x + (1.0 + (pos_weight - 1.0) * t) * sp
    if weight is not None:
        loss = loss * weight
    return _reduce("binary_cross_entropy_with_logits", loss, reduction)


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Any:  # noqa: A002
    """Mean (or sum, or none) of the squared differences.

    >>> import chainrule as cr
    >>> from chainrule.nn import losses2 as L
    >>> L.mse_loss(cr.tensor([1.0, 3.0]), [0.0, 0.0], reduction="none")
    tensor([1., 9.])
    """
    x, t = _pair("mse_loss", input, target)
    if reduction == "mean":
        return F.mse_loss(x, t)
    d = x - t
    return _reduce("mse_loss", d * d, reduction)


def l1_loss(input: Any, target: Any, reduction: str = "mean") -> Any:  # noqa: A002
    """Mean (or sum, or none) of |input - target| (gradient 0 where they are equal).

    >>> import chainrule as cr
    >>> from chainrule.nn import losses2 as L
    >>> L.l1_loss(cr.tensor([1.0, 3.0]), [0.0, 0.0])
    tensor(2.)
    """
    x, t = _pair("l1_loss", input, target)
    return _reduce("l1_loss", ops.abs(x - t), reduction)


def smooth_l1_loss(input: Any, target: Any, reduction: str = "mean", beta: float = 1.0) -> Any:  # noqa: A002
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target).

    >>> import chainrule as cr
    >>> from chainrule.nn import losses2 as L
    >>> L.smooth_l1_loss(cr.tensor([0.5, 3.0]), [0.0, 0.0], reduction="none")
    tensor([0.125, 2.5  ])
    """
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    x, t = _pair("smooth_l1_loss", input, target)
    d = ops.abs(x - t)
    if beta == 0:
        return _reduce("smooth_l1_loss", d, reduction)
    loss = ops.where(d.data < beta, 0.5 * d * d / beta, d - 0.5 * beta)
    return _reduce("smooth_l1_loss", loss, reduction)


def huber_loss(input: Any, target: Any, reduction: str = "mean", delta: float = 1.0) -> Any:  # noqa: A002
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta): smooth_l1_loss times delta.

    >>> import chainrule as cr
    >>> from chainrule.nn import losses2 as L
    >>> L.huber_loss(cr.tensor([0.5, 3.0]), [0.0, 0.0], reduction="none", delta=2.0)
    tensor([0.125, 4.   ])
    """
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    x, t = _pair("huber_loss", input, target)
    d = ops.abs(x - t)
    loss = ops.where(d.data < delta, 0.5 * d * d, delta * (d - 0.5 * delta))
    return _reduce("huber_loss", loss, reduction)


def kl_div(
    input: Any,  # noqa: A002
    target: Any,
    reduction: str = "mean",
    log_target: bool = False,
) -> Any:
    """KL(target || q) pointwise, with input = log q: target (log target - input), 0 where
    target = 0; ``reduction="batchmean"`` divides the sum by the batch size (the true KL).

    >>> import chainrule as cr
    >>> from chainrule.nn import losses2 as L
    >>> logq = cr.log(cr.tensor([[0.5, 0.5]]))
    >>> round(L.kl_div(logq, [[0.9, 0.1]], reduction="batchmean").item(), 4)
    0.3681
    """
    x, t = _pair("kl_div", input, target)
    if log_target:
        loss = ops.exp(t) * (t - x)
    else:
        pos = t.data > 0
        loss = ops.where(pos, t * ops.log(ops.where(pos, t, 1.0)) - t * x, 0.0 * x)
    if reduction == "batchmean":
        return ops.sum(loss) / (x.shape[0] if x.ndim else 1)
    return _reduce("kl_div", loss, reduction)


def svm_loss(scores: Any, targets: Any, margin: float = 1.0, reduction: str = "mean") -> Any:
    """The CS231n multiclass hinge: sum over j != y of max(0, s_j - s_y + margin) per example,
    then the mean (or sum, or none) over the batch; the mean runs ``nn.functional``'s gate.

    >>> import chainrule as cr
    >>> from chainrule.nn import losses2 as L
    >>> s = cr.tensor([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0]])  # the lecture's cat and car
    >>> L.svm_loss(s, [0, 1], reduction="none")
    tensor([2.9, 0. ])
    """
    if reduction == "mean":
        return F.svm_loss(scores, targets, margin)
    s = _args.tensor(scores)
    if s.ndim != 2:
        raise ValueError(f"svm_loss: scores must have shape (N, C), got {s.shape}")
    n, c = s.shape
    y = _class_targets("svm_loss", "targets", targets, n, f"({n},) integer classes")
    if y.size and (y.min() < 0 or y.max() >= c):
        raise IndexError(f"svm_loss: a target is out of range for {c} classes (0..{c - 1})")
    correct = gather.take_along_axis(s, y[:, None], axis=1)  # (N, 1): s_y
    margins = ops.maximum(s - correct + float(margin), 0.0)  # (N, C)
    wrong = np.arange(c) != y[:, None]  # the correct class contributes nothing
    return _reduce("svm_loss", ops.sum(ops.where(wrong, margins, 0.0), axis=1), reduction)
