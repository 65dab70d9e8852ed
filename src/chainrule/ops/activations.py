"""Activations beyond the lecture's, each one fused gate: gelu (exact and tanh forms), silu,
softplus, selu, mish, hardtanh, relu6, hardsigmoid, hardswish, softsign, logsigmoid.

Names and defaults follow PyTorch (NumPy has none of them). The piecewise ones (hardtanh, relu6,
hardsigmoid, hardswish) route: the gradient passes where the input is inside the linear piece
and is an exact zero outside (``where``, so an inf upstream cannot leak), with the kinks assigned
to the flat side, as PyTorch does. Backward rules use only the cached input or output and ``xp``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.function import Function, TensorBase
from chainrule.ops import _args, mathfns

_xp = backend.get_array_module
_SQRT_2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_C = math.sqrt(2.0 / math.pi)
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _facts(name: str, local: str, label: str | None = None) -> Any:
    return _args.register(
        function=name,
        method=None,
        ufunc=None,
        family="nn",
        label=label or name,
        local=local,
        rebuildable=False,
    )


def _sigmoid(xp: Any, x: Any) -> Any:
    # the logistic function without overflow for large |x|
    return 0.5 + 0.5 * xp.tanh(0.5 * x)


def _erf(x: Any) -> Any:
    """erf on an array (NumPy has no erf ufunc) or, under create_graph, on a Tensor."""
    if isinstance(x, TensorBase):
        return mathfns.erf(x)
    x = np.asarray(x)
    return np.asarray(mathfns.erf_values(x), dtype=x.dtype)


@_facts("gelu", "Phi(x) + x phi(x)")
class Gelu(Function):
    """out = x Phi(x) (or its tanh form);  dx = dout * (Phi(x) + x phi(x))"""

    __slots__ = ("options", "x")
    differentiable_backward = True

    def forward(self, x: Any, approximate: str = "none") -> Any:
        self.x, self.options = x, approximate
        if approximate == "tanh":
            return 0.5 * x * (1.0 + _xp(x).tanh(_GELU_C * (x + 0.044715 * x * x * x)))
        return 0.5 * x * (1.0 + _erf(x / _SQRT_2))

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        x = self.x
        if self.options == "tanh":
            t = xp.tanh(_GELU_C * (x + 0.044715 * x * x * x))
            du = _GELU_C * (1.0 + 3.0 * 0.044715 * x * x)
            return dout * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)
        cdf = 0.5 * (1.0 + _erf(x / _SQRT_2))
        pdf = xp.exp(-0.5 * x * x) * _INV_SQRT_2PI
        return dout * (cdf + x * pdf)


@_facts("silu", "s (1 + x (1 - s))")
class Silu(Function):
    """out = x sigmoid(x);  dx = dout * s (1 + x (1 - s))"""

    __slots__ = ("options", "x")
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.x = x
        return x * _sigmoid(backend.get_array_module(x), x)

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        s = _sigmoid(xp, self.x)
        return dout * s * (1.0 + self.x * (1.0 - s))


@_facts("softplus", "sigmoid(beta x)")
class Softplus(Function):
    """out = ln(1 + e^(beta x)) / beta (x past threshold);  dx = dout * sigmoid(beta x)"""

    __slots__ = ("options", "x")
    differentiable_backward = True

    def forward(self, x: Any, beta: float = 1.0, threshold: float = 20.0) -> Any:
        self.x, self.options = x, (beta, threshold)
        bx = beta * x
        return _xp(x).where(bx > threshold, x, _xp(x).logaddexp(0.0, bx) / beta)

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        beta, threshold = self.options
        bx = beta * self.x
        return xp.where(bx > threshold, dout, dout * _sigmoid(xp, bx))


@_facts("selu", "scale, or scale alpha e^x")
class Selu(Function):
    """out = scale (x if x > 0 else alpha (e^x - 1));  dx = dout * scale (1 or alpha e^x)"""

    __slots__ = ("options", "x")
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.x = x
        return SELU_SCALE * _xp(x).where(
            x > 0, x, SELU_ALPHA * _xp(x).expm1(_xp(x).minimum(x, 0.0))
        )

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        neg = SELU_SCALE * SELU_ALPHA * dout * xp.exp(xp.minimum(self.x, 0.0))
        return xp.where(self.x > 0, SELU_SCALE * dout, neg)


@_facts("mish", "t + x (1 - t^2) sigmoid(x)")
class Mish(Function):
    """out = x tanh(softplus x);  dx = dout * (t + x (1 - t^2) sigmoid(x))"""

    __slots__ = ("options", "x")
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.x = x
        return x * _xp(x).tanh(_xp(x).logaddexp(0.0, x))

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        t = xp.tanh(_args.fn(xp, "logaddexp")(0.0, self.x))
        return dout * (t + self.x * (1.0 - t * t) * _sigmoid(xp, self.x))


@_facts("hardtanh", "passes inside, 0 outside")
class Hardtanh(Function):
    """out = clip(x, lo, hi);  dx = dout where lo < x < hi, else exactly 0  (routes)"""

    __slots__ = ("options", "x")
    differentiable_backward = True

    def forward(self, x: Any, min_val: float = -1.0, max_val: float = 1.0) -> Any:
        if min_val > max_val:
            raise ValueError(f"hardtanh: min_val {min_val} must not exceed max_val {max_val}")
        self.options = (x > min_val) & (x < max_val)  # a bool mask: a constant under create_graph
        return _xp(x).clip(x, min_val, max_val)

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        return xp.where(self.options, dout, 0.0 * dout)


@_facts("hardsigmoid", "1/6 inside, 0 outside")
class Hardsigmoid(Function):
    """out = clip(x / 6 + 1/2, 0, 1);  dx = dout / 6 where -3 < x < 3, else 0"""

    __slots__ = ("options", "x")
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.options = (x > -3.0) & (x < 3.0)
        return _xp(x).clip(x / 6.0 + 0.5, 0.0, 1.0)

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        return xp.where(self.options, dout / 6.0, 0.0 * dout)


@_facts("hardswish", "0, (2x+3)/6, 1")
class Hardswish(Function):
    """out = x relu6(x + 3) / 6;  dx = dout * (0, (2x + 3) / 6, or 1)"""

    __slots__ = ("options", "x")
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.x = x
        return x * _xp(x).clip(x + 3.0, 0.0, 6.0) / 6.0

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        x = self.x
        inside = xp.where(x < 3.0, dout * (2.0 * x + 3.0) / 6.0, dout)
        return xp.where(x > -3.0, inside, 0.0 * dout)


@_facts("softsign", "1/(1+|x|)^2")
class Softsign(Function):
    """out = x / (1 + |x|);  dx = dout / (1 + |x|)^2"""

    __slots__ = ("options", "x")
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.x = x
        return x / (1.0 + _xp(x).abs(x))

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        d = 1.0 + xp.abs(self.x)
        return dout / (d * d)


@_facts("logsigmoid", "sigmoid(-x)")
class LogSigmoid(Function):
    """out = -ln(1 + e^-x);  dx = dout * sigmoid(-x)"""

    __slots__ = ("options", "x")
    differentiable_backward = True

    def forward(self, x: Any) -> Any:
        self.x = x
        return -_xp(x).logaddexp(0.0, -x)

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        return dout * _sigmoid(xp, -self.x)


ALL = (Gelu, Silu, Softplus, Selu, Mish, Hardtanh, Hardsigmoid, Hardswish, Softsign, LogSigmoid)


def gelu(x: Any, approximate: str = "none") -> Any:
    """x Phi(x), Phi the standard normal CDF; ``approximate="tanh"`` gives the tanh form.

    >>> import chainrule as cr
    >>> cr.gelu(cr.tensor([-1.0, 1.0]))
    tensor([-0.1587,  0.8413])
    >>> cr.gelu(cr.tensor([1.0]), approximate="tanh")
    tensor([0.8412])
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(_args.tensor(x), approximate=approximate)


def silu(x: Any) -> Any:
    """x sigmoid(x) (also called swish).

    >>> import chainrule as cr
    >>> cr.silu(cr.tensor([0.0, 1.0]))
    tensor([0.    , 0.7311])
    """
    return Silu.apply(_args.tensor(x))


def softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> Any:
    """ln(1 + e^(beta x)) / beta, and x itself where beta x > threshold (as PyTorch).

    >>> import chainrule as cr
    >>> cr.softplus(cr.tensor([0.0, 30.0]))
    tensor([ 0.6931, 30.    ])
    """
    if not beta > 0:
        raise ValueError(f"softplus: beta must be positive, got {beta}")
    return Softplus.apply(_args.tensor(x), beta=beta, threshold=threshold)


def selu(x: Any) -> Any:
    """scale * elu(x, alpha) with the self-normalizing constants (alpha 1.6733, scale 1.0507).

    >>> import chainrule as cr
    >>> cr.selu(cr.tensor([-1.0, 1.0]))
    tensor([-1.1113,  1.0507])
    """
    return Selu.apply(_args.tensor(x))


def mish(x: Any) -> Any:
    """x tanh(softplus(x)).

    >>> import chainrule as cr
    >>> cr.mish(cr.tensor([0.0, 1.0]))
    tensor([0.    , 0.8651])
    """
    return Mish.apply(_args.tensor(x))


def hardtanh(x: Any, min_val: float = -1.0, max_val: float = 1.0) -> Any:
    """x clipped to [min_val, max_val]; the gradient is 0 at and outside the bounds.

    >>> import chainrule as cr
    >>> cr.hardtanh(cr.tensor([-2.0, 0.5, 2.0]))
    tensor([-1. ,  0.5,  1. ])
    """
    return Hardtanh.apply(_args.tensor(x), min_val=min_val, max_val=max_val)


def relu6(x: Any) -> Any:
    """min(max(0, x), 6): hardtanh on [0, 6].

    >>> import chainrule as cr
    >>> cr.relu6(cr.tensor([-1.0, 3.0, 9.0]))
    tensor([0., 3., 6.])
    """
    return Hardtanh.apply(_args.tensor(x), min_val=0.0, max_val=6.0)


def hardsigmoid(x: Any) -> Any:
    """relu6(x + 3) / 6, a piecewise-linear sigmoid.

    >>> import chainrule as cr
    >>> cr.hardsigmoid(cr.tensor([-4.0, 0.0, 1.5]))
    tensor([0.  , 0.5 , 0.75])
    """
    return Hardsigmoid.apply(_args.tensor(x))


def hardswish(x: Any) -> Any:
    """x relu6(x + 3) / 6.

    >>> import chainrule as cr
    >>> cr.hardswish(cr.tensor([-4.0, 1.0, 4.0]))
    tensor([-0.    ,  0.6667,  4.    ])
    """
    return Hardswish.apply(_args.tensor(x))


def softsign(x: Any) -> Any:
    """x / (1 + |x|).

    >>> import chainrule as cr
    >>> cr.softsign(cr.tensor([-1.0, 3.0]))
    tensor([-0.5 ,  0.75])
    """
    return Softsign.apply(_args.tensor(x))


def logsigmoid(x: Any) -> Any:
    """ln sigmoid(x) = -softplus(-x), stable for large |x|.

    >>> import chainrule as cr
    >>> cr.logsigmoid(cr.tensor([0.0, -100.0]))
    tensor([  -0.6931, -100.    ])
    """
    return LogSigmoid.apply(_args.tensor(x))
