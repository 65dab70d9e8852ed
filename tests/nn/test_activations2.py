"""The activation modules of issue 11: each equals its function, and keeps its options."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

X = np.linspace(-5.0, 5.0, 23)


@pytest.mark.parametrize(
    ("module", "fn"),
    [
        (nn.GELU(), cr.gelu),
        (nn.GELU("tanh"), lambda x: cr.gelu(x, approximate="tanh")),
        (nn.SiLU(), cr.silu),
        (nn.Softplus(beta=2.0), lambda x: cr.softplus(x, beta=2.0)),
        (nn.SELU(), cr.selu),
        (nn.Mish(), cr.mish),
        (nn.Hardtanh(-2.0, 3.0), lambda x: cr.hardtanh(x, -2.0, 3.0)),
        (nn.ReLU6(), cr.relu6),
        (nn.Hardsigmoid(), cr.hardsigmoid),
        (nn.Hardswish(), cr.hardswish),
        (nn.Softsign(), cr.softsign),
        (nn.LogSigmoid(), cr.logsigmoid),
    ],
)
def test_module_equals_its_function(module: nn.Module, fn) -> None:
    x = cr.tensor(X, requires_grad=True)
    np.testing.assert_array_equal(module(x).data, fn(cr.tensor(X)).data)
    module(x).sum().backward()
    assert x.grad is not None and x.grad.shape == X.shape


def test_known_values_from_outside() -> None:
    # PyTorch 2.x: gelu(1) = 0.8413447, gelu_tanh(1) = 0.8411920, selu(-1) = -1.1113307,
    # mish(1) = 0.8650984, hardswish(1) = 0.6666667, relu6(7) = 6
    x = cr.tensor([1.0], dtype="float64")
    np.testing.assert_allclose(cr.gelu(x).data, [0.8413447], atol=1e-7)
    np.testing.assert_allclose(cr.gelu(x, approximate="tanh").data, [0.8411920], atol=1e-7)
    np.testing.assert_allclose(cr.selu(-x).data, [-1.1113307], atol=1e-7)
    np.testing.assert_allclose(cr.mish(x).data, [0.8650984], atol=1e-7)
    np.testing.assert_allclose(cr.hardswish(x).data, [2.0 / 3.0], atol=1e-7)
    assert cr.relu6(cr.tensor([7.0])).item() == 6.0
