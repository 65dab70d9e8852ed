"""Neural networks: modules, layers, the lecture's activations, losses and initialization.

>>> import numpy as np
>>> import chainrule as cr
>>> from chainrule import nn
>>> nn.init.seed(0)
>>> net = nn.MLP([2, 16, 3])
>>> from chainrule.data import spiral
>>> X, y = spiral(10, 3)
>>> loss = nn.CrossEntropyLoss()(net(cr.tensor(X)), y) + nn.functional.l2_penalty(net, 1e-3)
>>> loss.backward()
>>> net[0].weight.grad.shape
(2, 16)
"""

from chainrule.nn import functional, init, losses2, utils
from chainrule.nn.activations import ELU, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from chainrule.nn.activations2 import (
    GELU,
    SELU,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LogSigmoid,
    Mish,
    ReLU6,
    SiLU,
    Softplus,
    Softsign,
)
from chainrule.nn.conv import AdaptiveAvgPool2d, AvgPool2d, BatchNorm2d, Conv2d, ConvNet, MaxPool2d
from chainrule.nn.layers import MLP, BatchNorm1d, Dropout, Flatten, Identity, Linear, Maxout
from chainrule.nn.losses import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
    SVMLoss,
)
from chainrule.nn.module import IncompatibleKeys, Module, ModuleList, Parameter, Sequential
from chainrule.nn.perf import tune_blas, tune_malloc, tuned_blas

__all__ = [
    "ELU",
    "GELU",
    "MLP",
    "SELU",
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "ConvNet",
    "CrossEntropyLoss",
    "Dropout",
    "Flatten",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "HuberLoss",
    "Identity",
    "IncompatibleKeys",
    "KLDivLoss",
    "L1Loss",
    "LeakyReLU",
    "Linear",
    "LogSigmoid",
    "MSELoss",
    "MaxPool2d",
    "Maxout",
    "Mish",
    "Module",
    "ModuleList",
    "NLLLoss",
    "Parameter",
    "ReLU",
    "ReLU6",
    "SVMLoss",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "SmoothL1Loss",
    "Softmax",
    "Softplus",
    "Softsign",
    "Tanh",
    "functional",
    "init",
    "losses2",
    "tune_blas",
    "tune_malloc",
    "tuned_blas",
    "utils",
]
