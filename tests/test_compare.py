"""compare_grads: a hand-written backward of the CS231n 2-layer net against backprop."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


def _net_grads():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 4))
    y = np.array([0, 2, 1, 2, 0])
    w1 = cr.tensor(rng.standard_normal((4, 6)), requires_grad=True)
    w2 = cr.tensor(rng.standard_normal((6, 3)), requires_grad=True)
    h = (cr.tensor(x) @ w1).relu()
    nn.functional.cross_entropy(h @ w2, y).backward()
    # the backward by hand, CS231n style
    hd = np.maximum(0, x @ w1.data)
    s = hd @ w2.data
    p = np.exp(s - s.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    ds = p.copy()
    ds[np.arange(5), y] -= 1
    ds /= 5
    dw2 = hd.T @ ds
    dh = ds @ w2.data.T
    dw1 = x.T @ (dh * (hd > 0))
    return {"w1": w1, "w2": w2}, {"w1": dw1, "w2": dw2}


def test_a_correct_backward_is_close(capsys):
    ref, manual = _net_grads()
    out = cr.compare_grads(manual, ref)
    assert all(r.ok for r in out.values())
    text = capsys.readouterr().out
    assert "w1" in text and "w2" in text
    for name in ("w1", "w2"):
        expected = float(np.abs(manual[name] - ref[name].grad).max())
        assert out[name].max_abs_diff == pytest.approx(expected, abs=0)


def test_a_bug_is_different_with_its_max_abs_difference(capsys):
    ref, manual = _net_grads()
    manual["w1"] = manual["w1"] * 0.5  # a factor lost by hand
    out = cr.compare_grads(manual, ref)
    assert out["w1"].status == "DIFFERENT" and out["w2"].ok
    expected = float(np.abs(manual["w1"] - ref["w1"].grad).max())
    assert out["w1"].max_abs_diff == pytest.approx(expected)
    assert f"DIFFERENT  max abs diff {expected:.3g}" in capsys.readouterr().out


def test_shapes_and_missing_names_are_reported():
    ref, manual = _net_grads()
    manual["w2"] = manual["w2"].T
    del manual["w1"]
    manual["b"] = np.zeros(3)
    out = cr.compare_grads(manual, ref, verbose=False)
    assert out["w2"].status == "SHAPE"
    assert (out["w2"].manual_shape, out["w2"].reference_shape) == ((3, 6), (6, 3))
    assert out["w1"].status == "MISSING" and out["b"].status == "MISSING"


def test_exact_match_and_a_tensor_without_grad():
    a = np.arange(3.0)
    assert cr.compare_grads({"a": a}, {"a": a.copy()}, verbose=False)["a"].status == "exact"
    t = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"reference\['t'\] has no \.grad"):
        cr.compare_grads({"t": np.zeros(2)}, {"t": t})
