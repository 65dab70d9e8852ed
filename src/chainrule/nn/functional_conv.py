"""The image functions of ``chainrule.nn.functional``: conv2d, pooling, spatial batch norm, pad.

Each checks its shapes first, so a wrong input is one error naming the op, the expected and
the actual shape, then applies one gate of ``chainrule.ops.conv``. Sizes are ints or pairs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import _tensor
from chainrule.ops import conv as gates


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def _images(x: Any, op: str) -> tuple[int, int, int, int]:
    s = _shape(x)
    if len(s) != 4:
        raise ValueError(f"{op}: expected images of shape (N, C, H, W), got shape {s}")
    return s  # type: ignore[return-value]


def _t(x: Any) -> Any:
    return x if isinstance(x, _tensor.Tensor) else _tensor.tensor(x)


def _fits(op: str, shape: tuple[int, ...], g: gates.Geometry) -> None:
    h, w = shape[-2:]
    ph, pw = h + 2 * g.p[0], w + 2 * g.p[1]
    eh, ew = g.d[0] * (g.k[0] - 1) + 1, g.d[1] * (g.k[1] - 1) + 1
    if eh > ph or ew > pw:
        raise ValueError(
            f"{op}: kernel {g.k} (dilation {g.d}, spanning {eh}x{ew}) is larger than the padded "
            f"input {ph}x{pw} (input shape {tuple(shape)}, padding {g.p})"
        )
    if min(g.s) < 1 or min(g.d) < 1 or min(g.p) < 0:
        raise ValueError(f"{op}: stride and dilation must be >= 1 and padding >= 0")


def conv2d(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Any:
    """2-D convolution (cross-correlation, as CS231n and PyTorch) of (N, C, H, W) images with
    weights (F, C/groups, HH, WW) and an optional bias (F,), giving (N, F, Ho, Wo).

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> x = cr.tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    >>> w = cr.tensor(np.ones((1, 1, 2, 2)))
    >>> F.conv2d(x, w, stride=2).data.tolist()       # each 2x2 block summed
    [[[[10.0, 18.0], [42.0, 50.0]]]]
    """
    n, c, h, w_ = _images(x, "conv2d")
    ws = _shape(weight)
    if len(ws) != 4:
        raise ValueError(f"conv2d: expected weight of shape (F, C/groups, HH, WW), got {ws}")
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    f = ws[0]
    if c % groups or f % groups:
        raise ValueError(
            f"conv2d: groups={groups} must divide both the input channels ({c}) and the "
            f"output channels ({f})"
        )
    if ws[1] * groups != c:
        raise ValueError(
            f"conv2d: input has {c} channels (shape {(n, c, h, w_)}) but weight of shape {ws} "
            f"with groups={groups} expects {ws[1] * groups}"
        )
    if bias is not None and _shape(bias) != (f,):
        raise ValueError(f"conv2d: bias must have shape ({f},), got {_shape(bias)}")
    g = gates.Geometry(
        (n, c, h, w_),
        (ws[2], ws[3]),
        gates.pair(stride, "stride", "conv2d"),
        gates.pair(padding, "padding", "conv2d"),
        gates.pair(dilation, "dilation", "conv2d"),
        groups,
    )
    _fits("conv2d", (n, c, h, w_), g)
    return gates.Conv2d.apply(_t(x), _t(weight), bias, g=g)


def _pool_geometry(op: str, x: Any, kernel_size: Any, stride: Any, padding: Any) -> Any:
    s = _images(x, op)
    k = gates.pair(kernel_size, "kernel_size", op)
    st = k if stride is None else gates.pair(stride, "stride", op)
    p = gates.pair(padding, "padding", op)
    if p[0] * 2 > k[0] or p[1] * 2 > k[1]:
        raise ValueError(f"{op}: padding {p} must be at most half the kernel {k}")
    g = gates.Geometry(s, k, st, p, (1, 1), 1)
    _fits(op, s, g)
    return g


def max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Any:
    """Max over each kernel_size window of (N, C, H, W) images (stride defaults to the kernel;
    padding is -inf, so it never wins).

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> F.max_pool2d(cr.tensor(np.arange(16.0).reshape(1, 1, 4, 4)), 2).data.tolist()
    [[[[5.0, 7.0], [13.0, 15.0]]]]
    """
    g = _pool_geometry("max_pool2d", x, kernel_size, stride, padding)
    return gates.MaxPool2d.apply(_t(x), g=g)


def avg_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Any:
    """Mean over each kernel_size window (zero padding counts in the mean, as PyTorch's
    default ``count_include_pad=True``).

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> F.avg_pool2d(cr.tensor(np.arange(16.0).reshape(1, 1, 4, 4)), 2).data.tolist()
    [[[[2.5, 4.5], [10.5, 12.5]]]]
    """
    g = _pool_geometry("avg_pool2d", x, kernel_size, stride, padding)
    return gates.AvgPool2d.apply(_t(x), g=g)


def adaptive_avg_pool2d(x: Any, output_size: Any) -> Any:
    """Average pooling to a given (Ho, Wo); each side must divide the input's (1 is global
    average pooling).

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> F.adaptive_avg_pool2d(cr.tensor(np.arange(16.0).reshape(1, 1, 4, 4)), 1).data.tolist()
    [[[[7.5]]]]
    """
    s = _images(x, "adaptive_avg_pool2d")
    oh, ow = gates.pair(output_size, "output_size", "adaptive_avg_pool2d")
    h, w = s[2:]
    if oh < 1 or ow < 1 or h % oh or w % ow:
        raise ValueError(
            f"adaptive_avg_pool2d: output size {(oh, ow)} must divide the input's {h}x{w} "
            f"(input shape {s})"
        )
    return avg_pool2d(x, (h // oh, w // ow))


def pad(x: Any, padding: Any, value: float = 0.0) -> Any:
    """Pad the last two axes (H, W) of images with a constant: ``padding`` is an int (all
    sides), a pair (rows, cols) or PyTorch's (left, right, top, bottom).

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> F.pad(cr.tensor(np.ones((1, 1, 1, 2))), (1, 0, 0, 1)).data.tolist()
    [[[[0.0, 1.0, 1.0], [0.0, 0.0, 0.0]]]]
    """
    s = _shape(x)
    if len(s) < 2:
        raise ValueError(f"pad: expected an input with at least 2 axes (H, W), got shape {s}")
    widths: tuple[int, ...]
    if isinstance(padding, int) and not isinstance(padding, bool):
        widths = (padding,) * 4
    elif isinstance(padding, tuple | list) and len(padding) == 2:
        ph, pw = gates.pair(tuple(padding), "padding", "pad")
        widths = (pw, pw, ph, ph)
    elif isinstance(padding, tuple | list) and len(padding) == 4:
        widths = tuple(int(v) for v in padding)
    else:
        raise TypeError(f"pad: padding must be an int, a pair or 4 ints, got {padding!r}")
    if min(widths) < 0:
        raise ValueError(f"pad: padding must be non-negative, got {widths}")
    return gates.Pad.apply(_t(x), widths=widths, value=value)


def spatial_batch_norm(x: Any, batch_norm: Any, *args: Any, **kwargs: Any) -> Any:
    """CS231n's spatial batch norm: (N, C, H, W) normalized per channel over N, H and W, by
    running the (N*H*W, C) batch norm on the channels-last view and turning it back."""
    n, c, h, w = _images(x, "batch_norm")
    rows = _t(x).transpose((0, 2, 3, 1)).reshape((n * h * w, c))  # (N, C, H, W) -> (NHW, C)
    out = batch_norm(rows, *args, **kwargs)
    return out.reshape((n, h, w, c)).transpose((0, 3, 1, 2))  # -> (N, C, H, W)
