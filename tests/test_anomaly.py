"""detect_anomaly: the first NaN/inf in a forward or backward pass raises, naming the op and
the user's line that created it."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import function


def _line_of(marker: str) -> int:
    """The line number in this file of the source line containing marker."""
    with open(__file__, encoding="utf-8") as f:
        lines = f.read().splitlines()
    return next(i + 1 for i, line in enumerate(lines) if line.endswith(f"# {marker}"))


def test_nan_in_forward_names_the_op_and_the_line() -> None:
    x = cr.tensor([-1.0, 4.0], requires_grad=True)
    with pytest.raises(cr.AnomalyError) as info, cr.detect_anomaly():
        y = x * 2
        cr.log(y)  # MARK-forward
    message = str(info.value)
    assert message.startswith("Log produced nan in its forward pass (1 of 2 elements)")
    assert f"{__file__}:{_line_of('MARK-forward')}" in message
    assert "cr.log(y)" in message
    assert info.value.node is not None and type(info.value.node).__name__ == "Log"


def test_inf_in_forward_without_a_graph_still_names_the_line() -> None:
    x = cr.tensor([0.0, 1.0])  # nothing requires grad: no node is recorded
    with pytest.raises(cr.AnomalyError) as info, cr.detect_anomaly():
        1.0 / x  # MARK-unrecorded
    message = str(info.value)
    assert "Div produced inf" in message
    assert f"{__file__}:{_line_of('MARK-unrecorded')}" in message


def test_nan_in_backward_names_the_op_and_the_line_that_created_it() -> None:
    x = cr.tensor([0.0, 4.0], requires_grad=True)
    with pytest.raises(cr.AnomalyError) as info, cr.detect_anomaly():
        y = cr.sqrt(x)  # MARK-backward
        (y * 0.0).sum().backward()  # d sqrt / dx at 0 is inf, times 0 is nan
    message = str(info.value)
    assert message.startswith("Sqrt.backward produced nan in the gradient of input 0")
    assert f"{__file__}:{_line_of('MARK-backward')}" in message


def test_inf_in_backward_is_reported_at_the_first_op_that_makes_it() -> None:
    x = cr.tensor([0.0, 1.0], requires_grad=True)
    with pytest.raises(cr.AnomalyError, match=r"^Sqrt\.backward produced inf"), cr.detect_anomaly():
        (cr.sqrt(x) * 3.0).exp().sum().backward()


def test_a_user_gate_is_named() -> None:
    class Bad(cr.Function):
        def forward(self, x: np.ndarray) -> np.ndarray:
            return x.copy()

        def backward(self, dout: np.ndarray) -> np.ndarray:
            return dout * np.inf

    x = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(cr.AnomalyError, match=r"^Bad\.backward produced inf"), cr.detect_anomaly():
        Bad.apply(x).sum().backward()


def test_no_error_without_anomalies_and_same_gradients() -> None:
    x = cr.tensor([0.5, 2.0], dtype="float64", requires_grad=True)
    with cr.detect_anomaly():
        (cr.log(x) * x).sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), np.log([0.5, 2.0]) + 1)


def test_without_detect_anomaly_nan_flows_through() -> None:
    x = cr.tensor([-1.0, 4.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        y = cr.sqrt(x)
    assert np.isnan(y.numpy()[0])


def test_mode_and_numpy_error_state_are_restored() -> None:
    before = np.geterr()
    with pytest.raises(cr.AnomalyError), cr.detect_anomaly():
        assert function.GradMode.anomaly
        cr.log(cr.tensor([-1.0]))
    assert not function.GradMode.anomaly
    assert np.geterr() == before


def test_detect_anomaly_nests() -> None:
    with cr.detect_anomaly():
        with cr.detect_anomaly():
            pass
        assert function.GradMode.anomaly
    assert not function.GradMode.anomaly
