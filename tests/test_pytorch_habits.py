"""Issue 15: the PyTorch habits a user reaches for, each against a NumPy reference."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim


def _params_with_grads(rng: np.random.Generator) -> tuple[list[nn.Parameter], list[np.ndarray]]:
    shapes = [(3, 4), (4,), (2, 2)]
    params = [nn.Parameter(rng.standard_normal(s)) for s in shapes]
    grads = [rng.standard_normal(s) * 5 for s in shapes]
    for p, g in zip(params, grads, strict=True):
        p.grad = cr.tensor(g.astype(np.float32))
    return params, [g.astype(np.float32) for g in grads]


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, math.inf])
def test_clip_grad_norm_against_numpy(norm_type: float) -> None:
    params, grads = _params_with_grads(np.random.default_rng(0))
    flat = np.concatenate([g.ravel() for g in grads]).astype(np.float64)
    total = np.max(np.abs(flat)) if math.isinf(norm_type) else np.linalg.norm(flat, norm_type)
    got = nn.utils.clip_grad_norm_(params, max_norm=1.0, norm_type=norm_type)
    np.testing.assert_allclose(got, total, rtol=1e-6)
    for p, g in zip(params, grads, strict=True):  # same direction, total norm 1
        np.testing.assert_allclose(p.grad.data, g / total, rtol=1e-5)
    clipped = np.concatenate([p.grad.data.ravel() for p in params]).astype(np.float64)
    after = np.max(np.abs(clipped)) if math.isinf(norm_type) else np.linalg.norm(clipped, norm_type)
    assert after == pytest.approx(1.0, rel=1e-5)


def test_clip_grad_norm_leaves_small_gradients_and_refuses_nonfinite() -> None:
    params, grads = _params_with_grads(np.random.default_rng(1))
    nn.utils.clip_grad_norm_(params, max_norm=1e9)
    for p, g in zip(params, grads, strict=True):
        np.testing.assert_array_equal(p.grad.data, g)
    params[0].grad = cr.tensor(np.full((3, 4), np.nan, np.float32))
    with pytest.raises(RuntimeError, match="norm of the gradients is nan"):
        nn.utils.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="max_norm must be >= 0"):
        nn.utils.clip_grad_norm_(params, -1.0)


def test_clip_grad_value_against_numpy() -> None:
    params, grads = _params_with_grads(np.random.default_rng(2))
    nn.utils.clip_grad_value_(params, 0.7)
    for p, g in zip(params, grads, strict=True):
        np.testing.assert_array_equal(p.grad.data, np.clip(g, -0.7, 0.7))


def test_zero_grad_set_to_none() -> None:
    net = nn.Sequential(nn.Linear(3, 2))
    opt = optim.SGD(net.parameters(), lr=0.1)
    for owner in (net, opt):
        net(cr.tensor(np.ones((4, 3), np.float32))).sum().backward()
        owner.zero_grad(set_to_none=False)
        for p in net.parameters():
            assert p.grad is not None and p.grad.shape == p.shape
            np.testing.assert_array_equal(p.grad.data, np.zeros(p.shape))
        owner.zero_grad()
        assert all(p.grad is None for p in net.parameters())


def test_module_apply_visits_children_first_then_self() -> None:
    inner = nn.Sequential(nn.ReLU(), nn.Linear(2, 2))
    net = nn.Sequential(nn.Linear(2, 2), inner)
    seen: list[nn.Module] = []
    assert net.apply(seen.append) is net
    expected = [net[0], inner[0], inner[1], inner, net]  # PyTorch's order, written out
    assert [id(m) for m in seen] == [id(m) for m in expected]


def test_identity_and_requires_grad_() -> None:
    x = cr.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert nn.Identity()(x) is x
    x.requires_grad_()
    (nn.Sequential(nn.Identity())(x) * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.full((2, 3), 2.0))


def test_clone_copies_and_passes_the_gradient() -> None:
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.clone()
    assert y.data is not x.data and not np.shares_memory(y.data, x.data)
    (y * cr.tensor([4.0, 5.0, 6.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [4.0, 5.0, 6.0])
    ints = cr.tensor([1, 2])
    c = ints.clone()
    assert c.dtype == ints.dtype and not np.shares_memory(c.data, ints.data)


def test_from_numpy_and_as_tensor_share_memory() -> None:
    a = np.arange(4, dtype=np.float64)
    t = cr.from_numpy(a)
    a[1] = 10.0
    t.numpy()[2] = 20.0
    assert t.tolist() == [0.0, 10.0, 20.0, 3.0] and a[2] == 20.0
    assert cr.as_tensor(a).numpy() is a
    assert cr.as_tensor(t) is t
    assert cr.as_tensor(a, dtype=np.float32).dtype == np.float32  # converted: a copy
    assert cr.as_tensor([1.0, 2.0]).tolist() == [1.0, 2.0]
    with pytest.raises(TypeError, match=r"from_numpy: expected a numpy\.ndarray, got list"):
        cr.from_numpy([1.0])  # type: ignore[arg-type]


def test_save_of_a_module_says_to_pass_its_state_dict(tmp_path: Path) -> None:
    net = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"got a Linear.*pass its state_dict\(\)"):
        cr.save(net, tmp_path / "m.safetensors")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"got a Adam.*state_dict"):
        cr.save(optim.Adam(net.parameters()), tmp_path / "o.safetensors")  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def test_where_of_sqrt_nan_gradient_and_the_safe_pattern() -> None:
    # sqrt's own backward at 0 is inf; times where's exact zero it is nan (as in PyTorch, JAX)
    a = cr.tensor(0.0, requires_grad=True, dtype="float64")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        cr.where(a > 0, cr.sqrt(a), 0.0).backward()
    assert math.isnan(float(a.grad.data))
    # detect_anomaly names the op whose backward made it
    a = cr.tensor(0.0, requires_grad=True, dtype="float64")
    with pytest.raises(cr.AnomalyError, match=r"^Sqrt\.backward produced nan"), cr.detect_anomaly():
        cr.where(a > 0, cr.sqrt(a), 0.0).backward()
    # the safe pattern: mask sqrt's input too; the gradient is the exact zero
    for value, expected in ((0.0, 0.0), (-1.0, 0.0), (4.0, 0.25)):
        a = cr.tensor(value, requires_grad=True, dtype="float64")
        cr.where(a > 0, cr.sqrt(cr.where(a > 0, a, 1.0)), 0.0).backward()
        assert float(a.grad.data) == expected
