"""Weight initialization and the one random generator that layers draw from.

Reproducibility: every layer that needs randomness (initial weights, dropout masks) takes an
optional ``rng`` (a ``numpy.random.Generator``); without one it draws from this module's global
generator, which ``seed(n)`` (alias ``manual_seed``) resets. So ``nn.init.seed(0)`` before
building a network and training it gives the same run every time.

The initializers fill a Parameter's array in place and return the Parameter:

- ``kaiming_normal_``: N(0, 2 / fan_in), He et al. 2015, the lecture's advice for ReLU nets
  (the default of ``nn.Linear``);
- ``xavier_uniform_`` / ``xavier_normal_``: variance 2 / (fan_in + fan_out), Glorot & Bengio
  2010, for tanh and sigmoid nets;
- ``normal_(std=0.01)``: the plain small Gaussian of early nets (and of the CS231n notes);
- ``zeros_``: biases.

For a Linear weight of shape (in_features, out_features), fan_in is ``shape[0]``.

>>> from chainrule import nn
>>> nn.init.seed(0)
>>> a = nn.Linear(3, 2).weight.data.copy()
>>> nn.init.seed(0)
>>> bool((nn.Linear(3, 2).weight.data == a).all())
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import _tensor

_state = {"rng": np.random.default_rng()}


def seed(n: int) -> None:
    """Reset the global generator that layers use when given no ``rng``.

    >>> from chainrule import nn
    >>> nn.init.seed(1); x = nn.init.get_rng().random()
    >>> nn.init.seed(1); x == nn.init.get_rng().random()
    True
    """
    _state["rng"] = np.random.default_rng(n)


manual_seed = seed  # PyTorch's name


def get_rng(rng: np.random.Generator | None = None) -> np.random.Generator:
    """``rng`` if given, else the global generator (see ``seed``)."""
    return _state["rng"] if rng is None else rng


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) < 2:
        raise ValueError(f"fan-in/fan-out need a weight of at least 2 dimensions, got {shape}")
    receptive = math.prod(shape[2:])
    return shape[0] * receptive, shape[1] * receptive


def _fill(t: Any, values: np.ndarray | float) -> Any:
    arr = t._writable() if isinstance(t, _tensor.Tensor) else t
    arr[...] = values  # in place, keeping dtype (and any optimizer's reference)
    return t


def kaiming_normal_(t: Any, rng: np.random.Generator | None = None) -> Any:
    """Fill with N(0, 2 / fan_in) (He init for ReLU; fan_in = shape[0]).

    >>> import numpy as np
    >>> from chainrule import nn
    >>> w = nn.init.kaiming_normal_(nn.Parameter(np.zeros((1000, 200))), np.random.default_rng(0))
    >>> round(float(w.data.std() ** 2 * 1000), 1)
    2.0
    """
    fan_in, _ = _fans(t.shape)
    return _fill(t, get_rng(rng).standard_normal(t.shape) * math.sqrt(2.0 / fan_in))


def xavier_uniform_(t: Any, gain: float = 1.0, rng: np.random.Generator | None = None) -> Any:
    """Fill with U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot).

    >>> import numpy as np
    >>> from chainrule import nn
    >>> w = nn.init.xavier_uniform_(nn.Parameter(np.zeros((4, 2))))
    >>> bool(np.abs(w.data).max() <= 1.0)
    True
    """
    fan_in, fan_out = _fans(t.shape)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _fill(t, get_rng(rng).uniform(-a, a, t.shape))


def xavier_normal_(t: Any, gain: float = 1.0, rng: np.random.Generator | None = None) -> Any:
    """Fill with N(0, gain^2 * 2 / (fan_in + fan_out)) (Glorot).

    >>> import numpy as np
    >>> from chainrule import nn
    >>> nn.init.xavier_normal_(nn.Parameter(np.zeros((3, 3)))).shape
    (3, 3)
    """
    fan_in, fan_out = _fans(t.shape)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return _fill(t, get_rng(rng).standard_normal(t.shape) * std)


def normal_(
    t: Any, mean: float = 0.0, std: float = 0.01, rng: np.random.Generator | None = None
) -> Any:
    """Fill with N(mean, std^2) (``std=0.01`` is the CS231n notes' small random numbers).

    >>> import numpy as np
    >>> from chainrule import nn
    >>> w = nn.init.normal_(nn.Parameter(np.zeros((2, 2))), std=0.0, mean=1.0)
    >>> w.data.tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    return _fill(t, mean + std * get_rng(rng).standard_normal(t.shape))


def zeros_(t: Any) -> Any:
    """Fill with zeros.

    >>> import numpy as np
    >>> from chainrule import nn
    >>> nn.init.zeros_(nn.Parameter(np.ones(3))).data.tolist()
    [0.0, 0.0, 0.0]
    """
    return _fill(t, 0.0)


def ones_(t: Any) -> Any:
    """Fill with ones (BatchNorm's scale)."""
    return _fill(t, 1.0)
