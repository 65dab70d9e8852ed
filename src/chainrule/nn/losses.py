"""The losses as modules: each calls its function in ``nn.functional`` with the options it was
built with; every one takes PyTorch's ``reduction="mean"|"sum"|"none"``.

>>> import numpy as np
>>> import chainrule as cr
>>> from chainrule import nn
>>> loss_fn = nn.CrossEntropyLoss()
>>> round(loss_fn(cr.tensor([[0.0, 0.0]]), np.array([1])).item(), 4)
0.6931
>>> nn.L1Loss(reduction="none")(cr.tensor([1.0, -2.0]), cr.zeros(2))
tensor([1., 2.])
"""

from __future__ import annotations

from typing import Any

from chainrule.nn import functional as F  # noqa: N812 - the field's usual alias
from chainrule.nn import module

_REDUCTIONS = ("mean", "sum", "none")


class _Loss(module.Module):
    """A loss module's reduction, checked when it is built; the options its repr shows."""

    def __init__(self, reduction: str = "mean", allowed: tuple[str, ...] = _REDUCTIONS) -> None:
        super().__init__()
        if reduction not in allowed:
            name = type(self).__name__
            raise ValueError(f"{name}: reduction must be one of {allowed}, got {reduction!r}")
        self.reduction = reduction

    def _options(self) -> dict[str, Any]:
        return {}

    def extra_repr(self) -> str:
        shown = {k: v for k, v in self._options().items() if v is not None}
        if self.reduction != "mean":
            shown["reduction"] = repr(self.reduction)
        return ", ".join(f"{k}={v}" for k, v in shown.items())


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy on raw scores (N, C) and integer targets (N,) or class
    probabilities (N, C); class ``weight``, ``ignore_index`` and ``label_smoothing`` as PyTorch.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.CrossEntropyLoss(label_smoothing=0.1)
    CrossEntropyLoss(label_smoothing=0.1)  # 0 parameters
    >>> nn.CrossEntropyLoss(ignore_index=0, reduction="sum")(cr.zeros(2, 2), np.array([0, 1]))
    tensor(0.6931)
    """

    def __init__(
        self,
        label_smoothing: float = 0.0,
        *,
        weight: Any = None,
        ignore_index: int = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction)
        self.label_smoothing = float(label_smoothing)
        self.weight, self.ignore_index = weight, ignore_index

    def forward(self, logits: Any, targets: Any) -> Any:
        return F.cross_entropy(
            logits,
            targets,
            self.label_smoothing,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
        )

    def _options(self) -> dict[str, Any]:
        return {
            "label_smoothing": self.label_smoothing or None,
            "weight": None if self.weight is None else "...",
            "ignore_index": None if self.ignore_index == -100 else self.ignore_index,
        }


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (N, C) at integer targets (N,).

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> round(nn.NLLLoss()(cr.log(cr.tensor([[0.5, 0.5]])), np.array([1])).item(), 4)
    0.6931
    """

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(reduction)
        self.weight, self.ignore_index = weight, ignore_index

    def forward(self, input: Any, target: Any) -> Any:  # noqa: A002
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)

    def _options(self) -> dict[str, Any]:
        return {
            "weight": None if self.weight is None else "...",
            "ignore_index": None if self.ignore_index == -100 else self.ignore_index,
        }


class SVMLoss(_Loss):
    """The CS231n multiclass hinge loss, mean over the batch.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> round(nn.SVMLoss()(cr.tensor([[1.3, 4.9, 2.0]]), np.array([1])).item(), 2)
    0.0
    """

    def __init__(self, margin: float = 1.0, *, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = float(margin)

    def forward(self, scores: Any, targets: Any) -> Any:
        return F.svm_loss(scores, targets, self.margin, reduction=self.reduction)

    def _options(self) -> dict[str, Any]:
        return {"margin": self.margin}


class MSELoss(_Loss):
    """Mean squared error.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.MSELoss()(cr.tensor([2.0]), cr.tensor([0.0])).item()
    4.0
    """

    def forward(self, input: Any, target: Any) -> Any:  # noqa: A002
        return F.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """Mean absolute error.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.L1Loss(reduction="sum")(cr.tensor([2.0, -1.0]), cr.tensor([0.0, 0.0])).item()
    3.0
    """

    def forward(self, input: Any, target: Any) -> Any:  # noqa: A002
        return F.l1_loss(input, target, self.reduction)


class SmoothL1Loss(_Loss):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.SmoothL1Loss(beta=2.0)(cr.tensor([1.0]), cr.tensor([0.0])).item()
    0.25
    """

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        self.beta = float(beta)

    def forward(self, input: Any, target: Any) -> Any:  # noqa: A002
        return F.smooth_l1_loss(input, target, self.reduction, self.beta)

    def _options(self) -> dict[str, Any]:
        return {"beta": self.beta}


class HuberLoss(_Loss):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta).

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.HuberLoss(delta=2.0)(cr.tensor([3.0]), cr.tensor([0.0])).item()
    4.0
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        self.delta = float(delta)

    def forward(self, input: Any, target: Any) -> Any:  # noqa: A002
        return F.huber_loss(input, target, self.reduction, self.delta)

    def _options(self) -> dict[str, Any]:
        return {"delta": self.delta}


class BCELoss(_Loss):
    """Binary cross-entropy on probabilities in [0, 1] (each log clamped at -100).

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> round(nn.BCELoss()(cr.tensor([0.5]), cr.tensor([1.0])).item(), 4)
    0.6931
    """

    def __init__(self, weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.weight = weight

    def forward(self, input: Any, target: Any) -> Any:  # noqa: A002
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)

    def _options(self) -> dict[str, Any]:
        return {"weight": None if self.weight is None else "..."}


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on raw scores (the sigmoid fused in), mean over all elements;
    ``weight`` and ``pos_weight`` as PyTorch.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> round(nn.BCEWithLogitsLoss()(cr.tensor([0.0]), cr.tensor([0.0])).item(), 4)
    0.6931
    """

    def __init__(self, weight: Any = None, reduction: str = "mean", pos_weight: Any = None):
        super().__init__(reduction)
        self.weight, self.pos_weight = weight, pos_weight

    def forward(self, input: Any, target: Any) -> Any:  # noqa: A002
        return F.binary_cross_entropy_with_logits(
            input, target, self.weight, self.pos_weight, self.reduction
        )

    def _options(self) -> dict[str, Any]:
        return {
            "weight": None if self.weight is None else "...",
            "pos_weight": None if self.pos_weight is None else "...",
        }


class KLDivLoss(_Loss):
    """KL(target || q) pointwise with input = log q; ``reduction="batchmean"`` is the true KL.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> logq = cr.log(cr.tensor([[0.5, 0.5]]))
    >>> round(nn.KLDivLoss(reduction="batchmean")(logq, cr.tensor([[0.9, 0.1]])).item(), 4)
    0.3681
    """

    def __init__(self, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__(reduction, (*_REDUCTIONS, "batchmean"))
        self.log_target = bool(log_target)

    def forward(self, input: Any, target: Any) -> Any:  # noqa: A002
        return F.kl_div(input, target, self.reduction, self.log_target)

    def _options(self) -> dict[str, Any]:
        return {"log_target": self.log_target or None}
