"""The functional forms of the layers and losses, each a fused gate where that pays.

Fused gates (one node each, local gradient written by hand):

- ``linear``: out = x @ W + b;  dx = dout @ W^T,  dW = x^T @ dout,  db = sum_rows(dout)
- ``cross_entropy``: softmax and negative log-likelihood in one node, stable (max subtracted);
  dlogits = (softmax(logits) - onehot(y)) / N
- ``svm_loss``: the CS231n multiclass hinge; dscores = (1[margin > 0] - count * onehot(y)) / N
- ``mse_loss``, ``binary_cross_entropy_with_logits``, ``dropout``, ``batch_norm``, ``l2_penalty``

The activations (``relu``, ``sigmoid``, ``tanh``, ``leaky_relu``, ``elu``, ``softmax``) are the
engine's gates; ``maxout`` is composed from ``linear`` and a max over pieces.

Losses take integer class indices as targets (shape (N,)) and return the mean over the batch by
default; each takes PyTorch's ``reduction="mean"|"sum"|"none"``. The plain case (a mean, no
class weights, nothing ignored) runs the fused gate; the others, and ``nll_loss``,
``binary_cross_entropy``, ``l1_loss``, ``smooth_l1_loss``, ``huber_loss`` and ``kl_div``, are
compositions of differentiable ops in ``nn.losses2``; the fused loss gates live in
``nn.functional_losses``. All are public here under the same names.

Every gate's backward is written with operators and the namespace it is handed, so each is
differentiable twice (``create_graph=True``). Where the fast path keeps a derived value from
forward (the softmax, the normalized x), the rule recomputes it from the inputs when it is
handed Tensors, since a cached array would be a constant of the gradient's graph.

>>> import numpy as np
>>> import chainrule as cr
>>> from chainrule.nn import functional as F
>>> logits = cr.tensor([[2.0, 1.0, 0.1]], requires_grad=True)
>>> loss = F.cross_entropy(logits, np.array([0]))
>>> round(loss.item(), 4)
0.417
>>> loss.backward()
>>> logits.grad.data.astype(float).round(3).tolist()
[[-0.341, 0.242, 0.099]]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from chainrule import _tensor, backend, ops
from chainrule.function import Function
from chainrule.nn import functional_conv, init
from chainrule.nn.functional_conv import (  # noqa: F401 - the image functions, public here
    adaptive_avg_pool2d,
    avg_pool2d,
    conv2d,
    max_pool2d,
    pad,
)
from chainrule.nn.functional_losses import (  # noqa: F401 - the fused losses, public here
    MSE,
    BCEWithLogits,
    CrossEntropy,
    SVMLoss,
    binary_cross_entropy_with_logits,
    cross_entropy,
    mse_loss,
    svm_loss,
)
from chainrule.nn.losses2 import (  # noqa: F401 - the losses that are compositions, public here
    binary_cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    nll_loss,
    smooth_l1_loss,
)
from chainrule.ops import elementwise, registry


def _array(x: Any) -> np.ndarray:
    return x.data if isinstance(x, _tensor.Tensor) else np.asarray(x)


# -- linear -------------------------------------------------------------------------------------


@registry.op(
    family="nn",
    function="linear",
    method=None,
    label="linear",
    local="dx = dout @ W^T, dW = x^T @ dout, db = sum of dout over rows",
    namespace="chainrule.nn.functional",
)
class Linear(Function):
    """out = x @ W + b;  dx = dout @ W^T,  dW = x^T @ dout,  db = sum over rows of dout"""

    __slots__ = ("w", "x")
    differentiable_backward = True

    def forward(self, x: Any, w: Any, b: Any = None) -> Any:
        if x.ndim == 0 or x.shape[-1] != w.shape[0]:
            raise ValueError(
                f"linear: input of shape {x.shape} has {x.shape[-1] if x.ndim else 'no'} "
                f"features but the weight of shape {w.shape} (in_features, out_features) "
                f"expects {w.shape[0]}"
            )
        self.x, self.w = x, w
        out = x @ w  # (N, in) @ (in, out) -> (N, out)
        if b is not None:
            out += b  # in place on the fresh product: one pass, no temporary
        return out

    def backward(self, dout: np.ndarray) -> tuple[Any, ...]:
        needs = self.needs_input_grad
        x, w = self.x, self.w
        dx = dout @ w.T if needs[0] else None
        d2 = dout.reshape(-1, dout.shape[-1])  # batch axes folded: (N, out)
        dw = x.reshape(-1, x.shape[-1]).T @ d2 if needs[1] else None  # (in, N) @ (N, out)
        if len(needs) == 2:
            return dx, dw
        db = d2.sum(axis=0) if needs[2] else None
        return dx, dw, db


def linear(x: Any, weight: Any, bias: Any = None) -> Any:
    """``x @ weight + bias`` as one node; ``weight`` has shape (in_features, out_features).

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> F.linear(cr.tensor([[1.0, 2.0]]), cr.tensor([[1.0], [1.0]]), cr.tensor([0.5])).tolist()
    [[3.5]]
    """
    if bias is None:
        return Linear.apply(x, weight)
    return Linear.apply(x, weight, bias)


# -- activations --------------------------------------------------------------------------------


def relu(x: Any) -> Any:
    """max(0, x), the lecture's default non-linearity.

    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> F.relu(cr.tensor([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """
    return elementwise.ReLU.apply(x)


def sigmoid(x: Any) -> Any:
    """1 / (1 + e^-x), computed without overflow.

    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> F.sigmoid(cr.tensor([0.0]))
    tensor([0.5])
    """
    return ops.sigmoid(x)


def tanh(x: Any) -> Any:
    """The hyperbolic tangent (a zero-centred sigmoid, scaled).

    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> F.tanh(cr.tensor([0.0]))
    tensor([0.])
    """
    return ops.tanh(x)


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    """x where x > 0, else ``negative_slope * x``.

    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> F.leaky_relu(cr.tensor([-2.0, 3.0]), 0.5)
    tensor([-1.,  3.])
    """
    return ops.leaky_relu(x, negative_slope)


def elu(x: Any, alpha: float = 1.0) -> Any:
    """x where x > 0, else ``alpha * (e^x - 1)``.

    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> F.elu(cr.tensor([0.0, 3.0]))
    tensor([0., 3.])
    """
    return ops.elu(x, alpha)


def softmax(x: Any, axis: int = -1) -> Any:
    """e^x / sum(e^x) along ``axis``, stable (the max is subtracted first).

    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> F.softmax(cr.tensor([1.0, 1.0]))
    tensor([0.5, 0.5])
    """
    return ops.softmax(x, axis)


def log_softmax(x: Any, axis: int = -1) -> Any:
    """x - logsumexp(x) along ``axis``.

    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> F.log_softmax(cr.tensor([0.0, 0.0])).exp()
    tensor([0.5, 0.5])
    """
    return ops.log_softmax(x, axis)


def maxout(x: Any, weight: Any, bias: Any, pieces: int) -> Any:
    """Maxout (Goodfellow et al. 2013): the max over ``pieces`` linear functions of x.

    ``weight`` has shape (in_features, out_features * pieces) and ``bias`` (out_features *
    pieces,); unit j takes the max over columns ``j*pieces .. j*pieces + pieces - 1``.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> w = cr.tensor([[1.0, -1.0]])          # one input, one unit with two pieces: |x|
    >>> F.maxout(cr.tensor([[-3.0], [2.0]]), w, cr.tensor([0.0, 0.0]), 2).tolist()
    [[3.0], [2.0]]
    """
    z = linear(x, weight, bias)
    n_out, rem = divmod(z.shape[-1], pieces)
    if rem:
        raise ValueError(f"maxout: {z.shape[-1]} outputs do not split into {pieces} pieces")
    return z.reshape((*z.shape[:-1], n_out, pieces)).max(axis=-1)


# -- dropout ------------------------------------------------------------------------------------


@registry.op(
    family="nn",
    function="dropout",
    method=None,
    label="dropout",
    local="dx = dout * mask (the kept units pass the upstream, scaled)",
    namespace="chainrule.nn.functional",
)
class Dropout(Function):
    """out = x * mask;  dx = dout * mask  (mask = keep / (1 - p): inverted dropout)"""

    __slots__ = ("mask",)
    differentiable_backward = True

    def forward(self, x: Any, mask: Any) -> Any:
        self.mask = mask
        return x * mask

    def backward(self, dout: Any) -> tuple[Any, None]:
        return dout * self.mask, None


def dropout_mask(
    shape: tuple[int, ...],
    p: float,
    dtype: Any = np.float32,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """The inverted-dropout mask: 0 with probability p, else 1 / (1 - p).

    >>> import numpy as np
    >>> from chainrule.nn import functional as F
    >>> F.dropout_mask((2, 3), 0.5, rng=np.random.default_rng(0)).tolist()
    [[2.0, 2.0, 2.0], [0.0, 0.0, 0.0]]
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p is the drop probability and must be in [0, 1], got {p}")
    dtype = np.dtype(dtype)
    if p == 1.0:
        return np.zeros(shape, dtype=dtype)
    draw_dtype = dtype if dtype in (np.float32, np.float64) else np.float64
    keep = init.get_rng(rng).random(shape, dtype=draw_dtype) >= p
    return np.multiply(keep, 1.0 / (1.0 - p), dtype=dtype)


def dropout(
    x: Any, p: float = 0.5, training: bool = True, rng: np.random.Generator | None = None
) -> Any:
    """Inverted dropout: zero each element with probability ``p`` and scale the rest by
    1 / (1 - p), so nothing changes at test time; the identity when ``training`` is False.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> x = cr.tensor(np.ones((2, 3), np.float32))
    >>> F.dropout(x, 0.5, rng=np.random.default_rng(0)).tolist()
    [[2.0, 2.0, 2.0], [0.0, 0.0, 0.0]]
    >>> F.dropout(x, 0.5, training=False) is x
    True
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p is the drop probability and must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    return Dropout.apply(x, dropout_mask(np.shape(_array(x)), p, _array(x).dtype, rng))


# -- batch normalization ------------------------------------------------------------------------


@registry.op(
    family="nn",
    function="batch_norm",
    method=None,
    label="batchnorm",
    local="dx = invstd / N (N dxhat - sum dxhat - xhat sum(dxhat xhat))",
    namespace="chainrule.nn.functional",
)
class BatchNorm(Function):
    """out = gamma * xhat + beta, xhat = (x - mean) / sqrt(var + eps) over the batch axis;
    dx = invstd / N * (N dxhat - sum(dxhat) - xhat sum(dxhat xhat)),  dxhat = dout * gamma,
    dgamma = sum(dout xhat),  dbeta = sum(dout)"""

    __slots__ = ("eps", "gamma", "invstd", "x", "xhat")
    differentiable_backward = True

    def forward(
        self, x: Any, gamma: Any, beta: Any, mean: Any, invstd: Any, eps: float = 1e-5
    ) -> Any:
        self.xhat = (x - mean) * invstd
        self.x, self.gamma, self.invstd, self.eps = x, gamma, invstd, eps
        return self.xhat * gamma + beta

    def _statistics(self, mean: Any) -> tuple[Any, Any]:
        """xhat and invstd for the rule: the cached arrays on arrays; on Tensors (create_graph)
        recomputed from x, since the batch statistics are functions of x."""
        x = self.x
        if not backend.is_tensor(x):
            return self.xhat, self.invstd
        xp = backend.get_array_module(x)
        if not self._batch:  # frozen statistics: constants
            return (x - mean) * self.invstd, self.invstd
        xc = x - x.mean(axis=0)
        invstd = 1.0 / xp.sqrt((xc * xc).mean(axis=0) + self.eps)
        return xc * invstd, invstd

    def backward(self, dout: Any) -> tuple[Any, ...]:
        nx, ng, nb, _, _ = self.needs_input_grad
        xhat, invstd = self._statistics(self._mean)
        dgamma = (dout * xhat).sum(axis=0) if ng else None
        dbeta = dout.sum(axis=0) if nb else None
        dx = None
        if nx:
            if not self._batch:
                dx = dout * (self.gamma * invstd)
            else:
                n = dout.shape[0]
                dxhat = dout * self.gamma
                dx = (invstd / n) * (
                    n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)
                )
        return dx, dgamma, dbeta, None, None

    _batch = True
    _mean: Any = None


@registry.op(
    family="nn",
    function="batch_norm",
    method=None,
    label="_frozennorm",
    local="dx = dout * gamma * invstd (fixed statistics)",
    namespace="chainrule.nn.functional",
)
class _FrozenNorm(BatchNorm):
    """BatchNorm with fixed (running) statistics: dx = dout * gamma * invstd"""

    __slots__ = ("_mean",)
    _batch = False

    def forward(
        self, x: Any, gamma: Any, beta: Any, mean: Any, invstd: Any, eps: float = 1e-5
    ) -> Any:
        self._mean = mean
        return super().forward(x, gamma, beta, mean, invstd, eps)


def batch_norm(
    x: Any,
    running_mean: np.ndarray | None,
    running_var: np.ndarray | None,
    weight: Any = None,
    bias: Any = None,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Any:
    """Batch normalization over axis 0 of an (N, C) input, or per channel of (N, C, H, W) images.

    In training the batch's mean and (biased) variance normalize x, and the running statistics
    are updated in place: ``running = (1 - momentum) * running + momentum * batch`` (the running
    variance takes the unbiased batch variance, as in PyTorch). In evaluation the running
    statistics normalize x.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> x = cr.tensor([[1.0], [3.0]])
    >>> F.batch_norm(x, None, None, eps=0.0).tolist()
    [[-1.0], [1.0]]
    """
    xa = _array(x)
    if xa.ndim == 4:  # images: CS231n's spatial batch norm, per channel over N, H, W
        return functional_conv.spatial_batch_norm(
            x, batch_norm, running_mean, running_var, weight, bias, training, momentum, eps
        )
    if xa.ndim != 2:
        raise ValueError(
            f"batch_norm: expected an (N, C) or (N, C, H, W) input, got shape {xa.shape}"
        )
    c = xa.shape[1]
    dtype = xa.dtype
    gamma = weight if weight is not None else np.ones(c, dtype)
    beta = bias if bias is not None else np.zeros(c, dtype)
    if training or running_mean is None or running_var is None:
        n = xa.shape[0]
        if n < 2:
            raise ValueError(
                f"batch_norm: training needs more than 1 sample per batch (got shape "
                f"{xa.shape}); use eval() mode for single samples"
            )
        mean = xa.mean(axis=0)
        var = xa.var(axis=0)
        if training and running_mean is not None and running_var is not None:
            running_mean *= 1.0 - momentum
            running_mean += momentum * mean
            running_var *= 1.0 - momentum
            running_var += momentum * var * (n / (n - 1))
        invstd = (1.0 / np.sqrt(var + eps)).astype(dtype, copy=False)
        return BatchNorm.apply(x, gamma, beta, mean, invstd, eps=eps)
    if running_mean.shape != (c,):
        raise ValueError(f"batch_norm: running stats of shape {running_mean.shape}, input {c}")
    invstd = (1.0 / np.sqrt(running_var + eps)).astype(dtype, copy=False)
    mean = running_mean.astype(dtype, copy=False)
    return _FrozenNorm.apply(x, gamma, beta, mean, invstd, eps=eps)


# -- regularization -----------------------------------------------------------------------------


@registry.op(
    family="nn",
    function="l2_penalty",
    method=None,
    label="l2penalty",
    local="dW = 2 reg W",
    namespace="chainrule.nn.functional",
)
class L2Penalty(Function):
    """loss = reg * sum_k sum(W_k^2);  dW_k = dout * 2 reg W_k"""

    __slots__ = ("reg", "ws")
    differentiable_backward = True

    def forward(self, *ws: Any, reg: float = 0.0) -> Any:
        self.ws, self.reg = ws, reg
        total = sum(float(np.vdot(w, w)) for w in ws)  # one pass each, no temporary
        return np.asarray(reg * total, dtype=ws[0].dtype if ws else np.float32)

    def backward(self, dout: Any) -> tuple[Any, ...]:
        k = dout * (2.0 * self.reg)
        return tuple(
            w * k if need else None for w, need in zip(self.ws, self.needs_input_grad, strict=True)
        )


def l2_penalty(module_or_params: Any, reg: float) -> Any:
    """``reg * sum(W * W)`` over the weights, biases and BatchNorm parameters left out.

    A weight is a parameter of 2 or more dimensions (Linear and Maxout weights); 1-D
    parameters (biases, BatchNorm's scale and shift) are not penalized. The convention is
    the CS231n assignments' ``reg * np.sum(W * W)``, gradient ``2 * reg * W``; for the notes'
    ``0.5 * lambda * sum(W^2)`` pass ``reg = lambda / 2``. One fused node for all the weights.

    >>> from chainrule import nn
    >>> lin = nn.Linear(2, 2)
    >>> _ = nn.init.normal_(lin.weight, std=0.0, mean=1.0); _ = nn.init.normal_(lin.bias, mean=5.0)
    >>> nn.functional.l2_penalty(lin, 0.25).item()   # 0.25 * four ones; the bias is left out
    1.0
    """
    from chainrule.nn import module

    params: Iterable[Any]
    if isinstance(module_or_params, module.Module):
        params = module_or_params.parameters()
    else:
        params = module_or_params
    weights = [p for p in params if p.ndim >= 2]
    if not weights:
        raise ValueError("l2_penalty: no weight of 2 or more dimensions to penalize")
    return L2Penalty.apply(*weights, reg=float(reg))
