"""The losses as modules: each calls its function in ``nn.functional``.

>>> import numpy as np
>>> import chainrule as cr
>>> from chainrule import nn
>>> loss_fn = nn.CrossEntropyLoss()
>>> round(loss_fn(cr.tensor([[0.0, 0.0]]), np.array([1])).item(), 4)
0.6931
"""

from __future__ import annotations

from typing import Any

from chainrule.nn import functional as F  # noqa: N812 - the field's usual alias
from chainrule.nn import module


class CrossEntropyLoss(module.Module):
    """Softmax cross-entropy on raw scores and integer targets, mean over the batch.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.CrossEntropyLoss(label_smoothing=0.1)
    CrossEntropyLoss(label_smoothing=0.1)  # 0 parameters
    """

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing = float(label_smoothing)

    def forward(self, logits: Any, targets: Any) -> Any:
        return F.cross_entropy(logits, targets, self.label_smoothing)

    def extra_repr(self) -> str:
        return f"label_smoothing={self.label_smoothing}" if self.label_smoothing else ""


class SVMLoss(module.Module):
    """The CS231n multiclass hinge loss, mean over the batch.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> round(nn.SVMLoss()(cr.tensor([[1.3, 4.9, 2.0]]), np.array([1])).item(), 2)
    0.0
    """

    def __init__(self, margin: float = 1.0) -> None:
        super().__init__()
        self.margin = float(margin)

    def forward(self, scores: Any, targets: Any) -> Any:
        return F.svm_loss(scores, targets, self.margin)

    def extra_repr(self) -> str:
        return f"margin={self.margin}"


class MSELoss(module.Module):
    """Mean squared error.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.MSELoss()(cr.tensor([2.0]), cr.tensor([0.0])).item()
    4.0
    """

    def forward(self, input: Any, target: Any) -> Any:  # noqa: A002
        return F.mse_loss(input, target)


class BCEWithLogitsLoss(module.Module):
    """Binary cross-entropy on raw scores (the sigmoid fused in), mean over all elements.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> round(nn.BCEWithLogitsLoss()(cr.tensor([0.0]), cr.tensor([0.0])).item(), 4)
    0.6931
    """

    def forward(self, input: Any, target: Any) -> Any:  # noqa: A002
        return F.binary_cross_entropy_with_logits(input, target)
