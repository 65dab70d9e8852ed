"""Layers with parameters or state: Linear, Maxout, Dropout, BatchNorm1d, Flatten, and MLP.

``Linear`` stores its weight as (in_features, out_features), so its forward is the CS231n
``x @ W + b`` on rows of examples (PyTorch stores the transpose). Its default initialization
is Kaiming-He, N(0, 2 / in_features), the lecture's choice for ReLU nets; biases start at 0.

>>> import numpy as np
>>> import chainrule as cr
>>> from chainrule import nn
>>> nn.init.seed(0)
>>> net = nn.MLP([2, 100, 3])
>>> net(cr.tensor(np.zeros((4, 2), np.float32))).shape
(4, 3)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.nn import activations, init, module
from chainrule.nn import functional as F  # noqa: N812 - the field's usual alias


class Linear(module.Module):
    """A fully-connected layer: ``out = x @ weight + bias``.

    ``weight`` has shape (in_features, out_features), ``bias`` (out_features,). ``init`` picks
    the weight initialization: ``"kaiming"`` (default, N(0, 2/in), for ReLU), ``"xavier"``
    (Glorot uniform, for tanh/sigmoid) or a float, the std of a plain Gaussian.

    >>> from chainrule import nn
    >>> layer = nn.Linear(3, 2)
    >>> layer.weight.shape, layer.bias.shape
    ((3, 2), (2,))
    >>> layer
    Linear(in_features=3, out_features=2, bias=True)  # 8 parameters
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: str | float = "kaiming",
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Linear({in_features}, {out_features}): sizes must be positive")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = module.Parameter(np.empty((in_features, out_features), dtype=dtype))
        _init_weight(self.weight, init, rng)
        if bias:
            self.bias = module.Parameter(np.zeros(out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Any) -> Any:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


def _init_weight(w: module.Parameter, how: str | float, rng: np.random.Generator | None) -> None:
    if how == "kaiming":
        init.kaiming_normal_(w, rng=rng)
    elif how == "xavier":
        init.xavier_uniform_(w, rng=rng)
    elif isinstance(how, int | float) and not isinstance(how, bool):
        init.normal_(w, std=float(how), rng=rng)
    else:
        raise ValueError(f"init must be 'kaiming', 'xavier' or a float std, got {how!r}")


class Maxout(module.Module):
    """Maxout units: each of ``out_features`` outputs is the max of ``pieces`` linear functions.

    ``weight`` has shape (in_features, out_features * pieces); unit j owns columns
    ``j*pieces .. (j+1)*pieces - 1``. It generalizes ReLU (max(0, w^T x + b) is a 2-piece
    maxout with one piece fixed at 0) and leaky ReLU, at ``pieces`` times the parameters.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> m = nn.Maxout(4, 3, pieces=2)
    >>> m.weight.shape, m(cr.tensor(np.ones((5, 4), np.float32))).shape
    ((4, 6), (5, 3))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        pieces: int = 2,
        init: str | float = "xavier",
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if pieces < 1:
            raise ValueError(f"Maxout: pieces must be >= 1, got {pieces}")
        self.in_features, self.out_features, self.pieces = in_features, out_features, pieces
        width = out_features * pieces
        self.weight = module.Parameter(np.empty((in_features, width), dtype=dtype))
        _init_weight(self.weight, init, rng)
        self.bias = module.Parameter(np.zeros(width, dtype=dtype))

    def forward(self, x: Any) -> Any:
        return F.maxout(x, self.weight, self.bias, self.pieces)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, " + (
            f"pieces={self.pieces}"
        )


class Dropout(module.Module):
    """Inverted dropout: in training, zero each input with probability ``p`` and scale the
    survivors by 1 / (1 - p); in eval mode, the identity.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> drop = nn.Dropout(0.5, rng=np.random.default_rng(0))
    >>> drop(cr.tensor(np.ones((1, 4), np.float32))).tolist()
    [[2.0, 2.0, 2.0, 0.0]]
    >>> x = cr.tensor(np.ones(3, np.float32))
    >>> drop.eval()(x) is x
    True
    """

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p is the drop probability, in [0, 1]; got {p}")
        self.p = float(p)
        self.rng = rng

    def forward(self, x: Any) -> Any:
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class BatchNorm1d(module.Module):
    """Batch normalization of (N, C) inputs (Ioffe & Szegedy 2015).

    Training: normalize with the batch's mean and variance, then scale by ``weight`` (gamma,
    starts at 1) and shift by ``bias`` (beta, starts at 0); update the buffers
    ``running_mean``/``running_var`` with ``momentum``. Eval: normalize with the running
    statistics. The buffers are saved in ``state_dict`` with the parameters.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> bn = nn.BatchNorm1d(2)
    >>> out = bn(cr.tensor([[1.0, 10.0], [3.0, 30.0]]))
    >>> out.data.round(3).tolist()
    [[-1.0, -1.0], [1.0, 1.0]]
    >>> bn.running_mean.astype(float).round(4).tolist()   # 0.9 * 0 + 0.1 * batch mean
    [0.2, 2.0]
    """

    running_mean: np.ndarray
    running_var: np.ndarray

    def __init__(
        self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, dtype: Any = np.float32
    ) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = module.Parameter(np.ones(num_features, dtype=dtype))
        self.bias = module.Parameter(np.zeros(num_features, dtype=dtype))
        self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
        self.register_buffer("running_var", np.ones(num_features, dtype=dtype))

    def _check_shape(self, shape: tuple[int, ...]) -> None:
        if len(shape) != 2 or shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm1d({self.num_features}): expected input (N, {self.num_features}), "
                f"got {shape}"
            )

    def forward(self, x: Any) -> Any:
        self._check_shape(tuple(np.shape(x.data if hasattr(x, "data") else x)))
        return F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            training=self.training,
            momentum=self.momentum,
            eps=self.eps,
        )

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class Identity(module.Module):
    """Return the input unchanged (a placeholder layer, as in PyTorch); takes and ignores any
    arguments.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> x = cr.tensor([1.0, 2.0])
    >>> nn.Identity(54, unused="x")(x) is x
    True
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x


class Flatten(module.Module):
    """Reshape (N, d1, d2, ...) to (N, d1 * d2 * ...), e.g. images to rows for Linear.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.Flatten()(cr.tensor(np.zeros((2, 3, 4), np.float32))).shape
    (2, 12)
    """

    def forward(self, x: Any) -> Any:
        shape = x.shape
        return x.reshape((shape[0], math.prod(shape[1:])))


_ACTIVATIONS = {
    "relu": activations.ReLU,
    "sigmoid": activations.Sigmoid,
    "tanh": activations.Tanh,
    "leaky_relu": activations.LeakyReLU,
    "elu": activations.ELU,
}


_SCORES_SCALE = 0.1  # the output layer's initial weights, relative to its init


class MLP(module.Sequential):
    """A fully-connected net from its layer sizes: ``[D, H, C]`` is the lecture's 2-layer net,
    ``[D, H1, H2, C]`` its 3-layer net.

    Each hidden layer is Linear, then BatchNorm1d (if ``batchnorm``), then the activation
    (``relu``, ``sigmoid``, ``tanh``, ``leaky_relu``, ``elu`` or ``maxout``), then Dropout (if
    ``dropout`` > 0); the last layer is a plain Linear producing scores. With ``maxout`` each
    hidden layer is a 2-piece Maxout instead of Linear + activation. ReLU-family nets get
    Kaiming init, sigmoid/tanh nets Xavier; the output layer's weights are then scaled by 0.1 so
    that the initial loss is close to ln(C) (the check ``chainrule check`` makes).

    >>> from chainrule import nn
    >>> nn.MLP([3072, 100, 10])
    MLP(
      (0): Linear(in_features=3072, out_features=100, bias=True)  # 307,300 parameters
      (1): ReLU()
      (2): Linear(in_features=100, out_features=10, bias=True)  # 1,010 parameters
    )  # 308,310 parameters
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "relu",
        dropout: float = 0.0,
        batchnorm: bool = False,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least [in, out] sizes, got {sizes}")
        if activation not in _ACTIVATIONS and activation != "maxout":
            names = ", ".join([*_ACTIVATIONS, "maxout"])
            raise ValueError(f"MLP: unknown activation {activation!r}; choose one of {names}")
        how = "xavier" if activation in ("sigmoid", "tanh", "maxout") else "kaiming"
        layers: list[module.Module] = []
        for d_in, d_out in itertools.pairwise(sizes[:-1]):  # the hidden layers
            if activation == "maxout":
                layers.append(Maxout(d_in, d_out, 2, init=how, dtype=dtype, rng=rng))
                if batchnorm:
                    layers.append(BatchNorm1d(d_out, dtype=dtype))
            else:
                layers.append(Linear(d_in, d_out, init=how, dtype=dtype, rng=rng))
                if batchnorm:
                    layers.append(BatchNorm1d(d_out, dtype=dtype))
                layers.append(_ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(Dropout(dropout, rng=rng))
        scores = Linear(sizes[-2], sizes[-1], init=how, dtype=dtype, rng=rng)
        # Kaiming's gain sqrt(2) is for a layer a ReLU follows; the scores have none, so with
        # it they start with std ~1.4 and the loss at ~3.1 instead of ln(10) = 2.3 on 10 classes.
        # Small scores give every class the same probability at first (CS231n's initial-loss
        # check; makemore scales the last layer down too).
        init._fill(scores.weight, scores.weight.data * _SCORES_SCALE)
        layers.append(scores)
        super().__init__(*layers)
        self.sizes = sizes
