"""The lecture's activation functions as modules (the functions live in ``nn.functional``).

Sigmoid and tanh saturate (their gradient vanishes for large |x|; sigmoid is not zero-centred);
ReLU does not saturate for x > 0 and is cheap, but a unit can die (x < 0 for all data); leaky
ReLU and ELU keep a gradient for x < 0; Maxout (in ``layers``) generalizes ReLU and leaky ReLU.

>>> import chainrule as cr
>>> from chainrule import nn
>>> nn.ReLU()(cr.tensor([-1.0, 2.0])).tolist()
[0.0, 2.0]
"""

from __future__ import annotations

from typing import Any

from chainrule.nn import functional as F  # noqa: N812 - the field's usual alias
from chainrule.nn import module


class ReLU(module.Module):
    """max(0, x).

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.ReLU()(cr.tensor([-3.0, 0.5])).tolist()
    [0.0, 0.5]
    """

    def forward(self, x: Any) -> Any:
        return F.relu(x)


class Sigmoid(module.Module):
    """1 / (1 + e^-x).

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.Sigmoid()(cr.tensor([0.0])).tolist()
    [0.5]
    """

    def forward(self, x: Any) -> Any:
        return F.sigmoid(x)


class Tanh(module.Module):
    """tanh(x).

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.Tanh()(cr.tensor([0.0])).tolist()
    [0.0]
    """

    def forward(self, x: Any) -> Any:
        return F.tanh(x)


class LeakyReLU(module.Module):
    """x where x > 0, else ``negative_slope * x``.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.LeakyReLU(0.25)(cr.tensor([-2.0, 3.0])).tolist()
    [-0.5, 3.0]
    """

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: Any) -> Any:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(module.Module):
    """x where x > 0, else ``alpha * (e^x - 1)``.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.ELU()(cr.tensor([1.0, 0.0])).tolist()
    [1.0, 0.0]
    """

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x: Any) -> Any:
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Softmax(module.Module):
    """e^x / sum(e^x) along ``axis`` (for probabilities; train with ``CrossEntropyLoss`` on
    the raw scores instead, which fuses it).

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.Softmax()(cr.tensor([[0.0, 0.0]])).tolist()
    [[0.5, 0.5]]
    """

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: Any) -> Any:
        return F.softmax(x, self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"
