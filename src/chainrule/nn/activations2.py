"""Activation modules beyond the lecture's, in PyTorch's names; each calls one fused gate of
``chainrule.ops.activations`` (the functions are ``chainrule.gelu`` and friends).

>>> import chainrule as cr
>>> from chainrule import nn
>>> nn.Sequential(nn.Linear(2, 3), nn.GELU(), nn.Linear(3, 1))(cr.zeros(4, 2)).shape
(4, 1)
"""

from __future__ import annotations

from typing import Any

from chainrule.nn import module
from chainrule.ops import activations as A  # noqa: N812 - the family, as F is for functional


class GELU(module.Module):
    """``chainrule.gelu`` as a module.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.GELU()(cr.tensor([1.0])).tolist()
    [0.8413447141647339]
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, x: Any) -> Any:
        return A.gelu(x, approximate=self.approximate)


class SiLU(module.Module):
    """``chainrule.silu`` as a module.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.SiLU()(cr.tensor([0.0])).tolist()
    [0.0]
    """

    def forward(self, x: Any) -> Any:
        return A.silu(x)


class Softplus(module.Module):
    """``chainrule.softplus`` as a module.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.Softplus()(cr.tensor([0.0])).tolist()
    [0.6931471824645996]
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, x: Any) -> Any:
        return A.softplus(x, beta=self.beta, threshold=self.threshold)


class SELU(module.Module):
    """``chainrule.selu`` as a module.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.SELU()(cr.tensor([1.0])).tolist()
    [1.0507010221481323]
    """

    def forward(self, x: Any) -> Any:
        return A.selu(x)


class Mish(module.Module):
    """``chainrule.mish`` as a module.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.Mish()(cr.tensor([0.0])).tolist()
    [0.0]
    """

    def forward(self, x: Any) -> Any:
        return A.mish(x)


class Hardtanh(module.Module):
    """``chainrule.hardtanh`` as a module.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.Hardtanh()(cr.tensor([2.0])).tolist()
    [1.0]
    """

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0) -> None:
        super().__init__()
        self.min_val = min_val
        self.max_val = max_val

    def forward(self, x: Any) -> Any:
        return A.hardtanh(x, self.min_val, self.max_val)


class ReLU6(module.Module):
    """``chainrule.relu6`` as a module.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.ReLU6()(cr.tensor([7.0])).tolist()
    [6.0]
    """

    def forward(self, x: Any) -> Any:
        return A.relu6(x)


class Hardsigmoid(module.Module):
    """``chainrule.hardsigmoid`` as a module.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.Hardsigmoid()(cr.tensor([0.0])).tolist()
    [0.5]
    """

    def forward(self, x: Any) -> Any:
        return A.hardsigmoid(x)


class Hardswish(module.Module):
    """``chainrule.hardswish`` as a module.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.Hardswish()(cr.tensor([4.0])).tolist()
    [4.0]
    """

    def forward(self, x: Any) -> Any:
        return A.hardswish(x)


class Softsign(module.Module):
    """``chainrule.softsign`` as a module.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.Softsign()(cr.tensor([1.0])).tolist()
    [0.5]
    """

    def forward(self, x: Any) -> Any:
        return A.softsign(x)


class LogSigmoid(module.Module):
    """``chainrule.logsigmoid`` as a module.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.LogSigmoid()(cr.tensor([0.0])).tolist()
    [-0.6931471824645996]
    """

    def forward(self, x: Any) -> Any:
        return A.logsigmoid(x)
