"""The convnet of ``chainrule train --conv C1 C2 ...``: checked against the data, then built.

A run's ``config.json`` records ``conv`` (the block channel counts) and ``image_shape``
(C, H, W), so ``evaluate`` and ``--resume`` rebuild the same net.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import nn
from chainrule.data import images


def is_convnet(config: dict[str, Any]) -> bool:
    """True for a run of ``--conv`` blocks (configs from before convnets have no ``conv``)."""
    return bool(config.get("conv"))


def check(config: dict[str, Any]) -> str | None:
    """Why ``--conv`` cannot run with the other settings of ``config`` (None if it can).

    >>> check({"conv": [8, 8, 8, 8], "data": "digits", "activation": "relu", "dropout": 0.0})
    '--conv 8 8 8 8: 4 conv blocks halve 8x8 images 4 times (to 0x0); use at most 3 blocks'
    """
    conv = config["conv"]
    flag = "--conv " + " ".join(map(str, conv))
    if config.get("activation", "relu") != "relu" or config.get("dropout", 0.0):
        return (
            f"{flag}: conv blocks are conv3x3-(batchnorm)-relu-maxpool2; drop "
            "--activation/--dropout"
        )
    try:
        _, h, w = images.image_shape(config["data"])
    except ValueError as e:
        return f"{flag}: {e}"
    side = min(h, w)
    if side >> len(conv) < 1:
        most = side.bit_length() - 1
        return (
            f"{flag}: {len(conv)} conv blocks halve {h}x{w} images {len(conv)} times (to "
            f"{h >> len(conv)}x{w >> len(conv)}); use at most {most} blocks"
        )
    return None


def build(config: dict[str, Any]) -> nn.ConvNet:
    """The ConvNet a run's config describes, initialized from its seed."""
    return nn.ConvNet(
        config["image_shape"],
        config["conv"],
        config["hidden"],
        config["num_classes"],
        batchnorm=config["batchnorm"],
        rng=np.random.default_rng(config["seed"]),
    )


def describe(config: dict[str, Any]) -> str:
    """One line for the run's start: ``1x8x8 conv16-pool conv32-pool fc64 fc10``."""
    c, h, w = config["image_shape"]
    bn = "-bn" if config["batchnorm"] else ""
    blocks = " ".join(f"conv{ch}{bn}-relu-pool" for ch in config["conv"])
    head = " ".join(f"fc{n}" for n in [*config["hidden"], config["num_classes"]])
    return f"{c}x{h}x{w} {blocks} {head} convnet"
