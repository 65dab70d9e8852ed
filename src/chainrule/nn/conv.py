"""Image layers: Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, BatchNorm2d, and ConvNet.

A shape error inside a layer names the layer (its repr), the expected and the actual shape.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.nn import functional as F  # noqa: N812 - the field's usual alias
from chainrule.nn import init, layers, module
from chainrule.nn.activations import ReLU
from chainrule.ops import conv as gates


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(np.shape(x.data if hasattr(x, "data") else x))


class _Named(module.Module):
    """Runs ``_forward`` and puts the layer's repr in front of any shape error."""

    def forward(self, x: Any) -> Any:
        try:
            return self._forward(x)
        except ValueError as e:
            raise ValueError(f"{type(self).__name__}({self.extra_repr()}): {e}") from None

    def _forward(self, x: Any) -> Any:
        raise NotImplementedError


class Conv2d(_Named):
    """2-D convolution of (N, C, H, W) images: weight (F, C/groups, HH, WW), bias (F,).

    The weight starts Kaiming-He normal, N(0, 2 / fan_in) with fan_in = C/groups * HH * WW (for
    ReLU nets); the bias starts at 0.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> conv = nn.Conv2d(3, 16, 3, padding=1)
    >>> conv
    Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))  # 448 parameters
    >>> conv(cr.tensor(np.zeros((2, 3, 8, 8), np.float32))).shape
    (2, 16, 8, 8)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if in_channels < 1 or out_channels < 1 or groups < 1:
            raise ValueError(
                f"Conv2d({in_channels}, {out_channels}): channels and groups must be positive"
            )
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"Conv2d({in_channels}, {out_channels}, groups={groups}): groups must divide "
                "both channel counts"
            )
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = gates.pair(kernel_size, "kernel_size", "Conv2d")
        self.stride = gates.pair(stride, "stride", "Conv2d")
        self.padding = gates.pair(padding, "padding", "Conv2d")
        self.dilation = gates.pair(dilation, "dilation", "Conv2d")
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        fan_in = math.prod(shape[1:])
        w = init.get_rng(rng).standard_normal(shape) * math.sqrt(2.0 / fan_in)
        self.weight = module.Parameter(w.astype(dtype))
        if bias:
            self.bias = module.Parameter(np.zeros(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)

    def _forward(self, x: Any) -> Any:
        return F.conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}"
        )
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class MaxPool2d(_Named):
    """Max pooling over kernel_size windows (stride defaults to the kernel).

    >>> from chainrule import nn
    >>> nn.MaxPool2d(2)
    MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))  # 0 parameters
    """

    _fn = staticmethod(F.max_pool2d)

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        name = type(self).__name__
        self.kernel_size = gates.pair(kernel_size, "kernel_size", name)
        self.stride = self.kernel_size if stride is None else gates.pair(stride, "stride", name)
        self.padding = gates.pair(padding, "padding", name)

    def _forward(self, x: Any) -> Any:
        return type(self)._fn(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(MaxPool2d):
    """Average pooling over kernel_size windows (zero padding counts in the mean).

    >>> from chainrule import nn
    >>> nn.AvgPool2d(2, stride=1)
    AvgPool2d(kernel_size=(2, 2), stride=(1, 1), padding=(0, 0))  # 0 parameters
    """

    _fn = staticmethod(F.avg_pool2d)


class AdaptiveAvgPool2d(_Named):
    """Average pooling to a fixed output size (which must divide the input's sides).

    >>> from chainrule import nn
    >>> nn.AdaptiveAvgPool2d(1)
    AdaptiveAvgPool2d(output_size=(1, 1))  # 0 parameters
    """

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = gates.pair(output_size, "output_size", "AdaptiveAvgPool2d")

    def _forward(self, x: Any) -> Any:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class BatchNorm2d(layers.BatchNorm1d):
    """CS231n's spatial batch norm: (N, C, H, W) normalized per channel over N, H and W.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> bn = nn.BatchNorm2d(2)
    >>> x = np.arange(16.0, dtype=np.float32).reshape(2, 2, 2, 2)
    >>> out = bn(cr.tensor(x)).data
    >>> out.mean(axis=(0, 2, 3)).round(6).tolist(), out.std(axis=(0, 2, 3)).round(3).tolist()
    ([0.0, 0.0], [1.0, 1.0])
    """

    def _check_shape(self, shape: tuple[int, ...]) -> None:
        if len(shape) != 4 or shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm2d({self.num_features}): expected input (N, {self.num_features}, H, W)"
                f", got {shape}"
            )


def conv_out_side(side: int, blocks: int) -> int:
    """The image side after ``blocks`` conv3x3(pad 1)-maxpool2 blocks (each halves, rounding
    down)."""
    for _ in range(blocks):
        side //= 2
    return side


class ConvNet(module.Sequential):
    """CS231n-style convnet: for each channel count a conv3x3 (padding 1) - BatchNorm2d (if
    ``batchnorm``) - ReLU - maxpool2 block, then Flatten and an MLP head of ``hidden`` sizes.
    ``ConvNet((1, 8, 8), [32], [100], 10)`` is the ThreeLayerConvNet on 8x8 digits.

    >>> from chainrule import nn
    >>> net = nn.ConvNet((1, 8, 8), [4], [10], 3, batchnorm=False)
    >>> net
    ConvNet(
      (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))  # 40 parameters
      (1): ReLU()
      (2): MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))
      (3): Flatten()
      (4): Linear(in_features=64, out_features=10, bias=True)  # 650 parameters
      (5): ReLU()
      (6): Linear(in_features=10, out_features=3, bias=True)  # 33 parameters
    )  # 723 parameters
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        channels: Sequence[int],
        hidden: Sequence[int],
        num_classes: int,
        batchnorm: bool = True,
        rng: np.random.Generator | None = None,
    ) -> None:
        c, h, w = (int(v) for v in image_shape)
        blocks = len(channels)
        oh, ow = conv_out_side(h, blocks), conv_out_side(w, blocks)
        if oh < 1 or ow < 1 or any(int(ch) < 1 for ch in channels):
            raise ValueError(
                f"ConvNet: {blocks} conv blocks (each a 2x2 max pool) do not fit {h}x{w} images: "
                f"the side halves each block and would reach 0; use at most "
                f"{int(math.log2(min(h, w)))} blocks, each with a positive channel count"
            )
        mods: list[module.Module] = []
        for ch in channels:
            mods.append(Conv2d(c, int(ch), 3, padding=1, rng=rng))
            if batchnorm:
                mods.append(BatchNorm2d(int(ch)))
            mods += [ReLU(), MaxPool2d(2)]
            c = int(ch)
        mods.append(layers.Flatten())
        sizes = [c * oh * ow, *(int(v) for v in hidden), int(num_classes)]
        for i in range(len(sizes) - 1):
            mods.append(layers.Linear(sizes[i], sizes[i + 1], rng=rng))
            if i < len(sizes) - 2:
                mods.append(ReLU())
        super().__init__(*mods)
