"""The backward pass: fan-out sums, reuse, depth without recursion, accumulation, freed graphs,
retain_grad, hooks, no_grad, clear errors, in-place detection, gradients that never alias."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr


def leaf(values: Any, dtype: str = "float64") -> cr.Tensor:
    return cr.tensor(values, dtype=dtype, requires_grad=True)


def grad_of(t: cr.Tensor) -> np.ndarray:
    assert t.grad is not None, "no gradient reached this tensor"
    return t.grad.numpy()


# -- graph shapes ----------------------------------------------------------------------------------


def test_reused_node() -> None:
    a = leaf(3.0)
    b = a + a
    c = b + b
    c.backward()
    assert grad_of(a) == 4.0


def test_diamond() -> None:
    x = leaf(2.0)
    left, right = x * 3.0, x.exp()
    out = left * right  # 3x e^x: d/dx = 3 e^x (1 + x)
    out.backward()
    np.testing.assert_allclose(grad_of(x), 3 * np.exp(2.0) * 3.0)


def test_fan_out_across_broadcasting() -> None:
    b = leaf([1.0, 2.0, 3.0])
    M = leaf(np.ones((2, 3)))
    out = (M * b + b).sum()  # b is broadcast over 2 rows twice: 2 * M + 2 * 1
    out.backward()
    np.testing.assert_array_equal(grad_of(b), [4.0, 4.0, 4.0])
    np.testing.assert_array_equal(grad_of(M), [[1.0, 2.0, 3.0]] * 2)


def test_a_branch_recorded_early_and_used_late() -> None:
    x = leaf(1.5)
    early = x * x  # recorded first, consumed last
    mid = (x * 2).tanh()
    late = mid * 3 + early * mid
    late.backward()
    xv = 1.5
    t = np.tanh(2 * xv)
    expected = (3 + xv**2) * 2 * (1 - t**2) + 2 * xv * t
    np.testing.assert_allclose(grad_of(x), expected, rtol=1e-12)


def test_backward_from_a_leaf() -> None:
    x = leaf(5.0)
    x.backward()
    assert grad_of(x) == 1.0


def test_a_leaf_used_only_through_a_constant_branch_gets_no_gradient() -> None:
    x, y = leaf(1.0), leaf(2.0)
    (x * 3).backward()
    assert y.grad is None


@st.composite
def random_programs(draw: st.DrawFn) -> list[tuple[str, int, int]]:
    n = draw(st.integers(1, 12))
    steps = []
    for k in range(n):
        op = draw(st.sampled_from(["add", "mul", "sub", "tanh", "sin", "sum_bcast", "div"]))
        size = 3 + k  # the number of values that exist before step k (3 leaves)
        steps.append((op, draw(st.integers(0, size - 1)), draw(st.integers(0, size - 1))))
    return steps


def _run(program: list[tuple[str, int, int]], a: Any, b: Any, c: Any) -> Any:
    values = [a, b, c]
    for op, i, j in program:
        u, v = values[i], values[j]
        if op == "add":
            values.append(u + v)
        elif op == "mul":
            values.append(u * v)
        elif op == "sub":
            values.append(u - v)
        elif op == "tanh":
            values.append(u.tanh())
        elif op == "sin":
            values.append(cr.sin(u))
        elif op == "div":
            values.append(u / (v * v + 1.0))
        else:
            values.append(u + v.sum(axis=0) if v.ndim else u + v.sum())
    out = values[-1]
    for extra in values[3:-1:2]:  # more fan-out into the output
        out = out + extra * 0.5
    return out


@given(random_programs())
def test_random_graphs_gradcheck(program: list[tuple[str, int, int]]) -> None:
    rng = np.random.default_rng(len(program))
    a, b, c = leaf(rng.uniform(-1, 1, (2, 3))), leaf(rng.uniform(-1, 1, 3)), leaf(0.7)
    assert cr.gradcheck(lambda *ts: _run(program, *ts), a, b, c)


def test_million_op_chain_needs_no_recursion() -> None:
    x = leaf(1.0)
    y = x
    for _ in range(500_000):  # 1,000,000 nodes: a mul and an add per step
        y = y * 1.0000001 + 1e-9
    limit = sys.getrecursionlimit()
    y.backward()
    assert sys.getrecursionlimit() == limit
    np.testing.assert_allclose(grad_of(x), 1.0000001**500_000, rtol=1e-9)


# -- accumulation, freeing, retain_graph -----------------------------------------------------------


def test_gradients_accumulate_across_backward_calls() -> None:
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(grad_of(x), [2.0 + 3.0, 4.0 + 3.0])
    x.grad = None  # resets
    (x * 3).sum().backward()
    np.testing.assert_array_equal(grad_of(x), [3.0, 3.0])


def test_second_backward_through_a_freed_graph_raises() -> None:
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"second time.*retain_graph=True"):
        y.backward()


def test_a_shared_subgraph_is_freed_by_the_first_backward() -> None:
    x = leaf(2.0)
    h = x * x
    (h * 3).backward()
    with pytest.raises(RuntimeError, match="second time"):
        (h * 4).backward()


def test_retain_graph_allows_a_second_backward() -> None:
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(grad_of(x), [4.0, 8.0])
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_backward_frees_what_nodes_saved() -> None:
    x = leaf([1.0, 2.0])
    y = x * x
    node = y.grad_fn
    assert node is not None and node.x is not None
    y.sum().backward()
    assert node.x is None and node.y is None


# -- retain_grad and hooks -------------------------------------------------------------------------


def test_retain_grad_on_an_intermediate() -> None:
    x = leaf([1.0, 2.0])
    h = x * 2
    h.retain_grad()
    other = x * 3
    (h * h + other).sum().backward()
    np.testing.assert_array_equal(grad_of(h), [4.0, 8.0])  # 2h
    assert other.grad is None  # not retained
    x.retain_grad()  # a leaf keeps its gradient anyway: a no-op
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.tensor([1.0]).retain_grad()


def test_retain_grad_accumulates_over_retained_backwards() -> None:
    x = leaf(1.0)
    h = x * 2
    h.retain_grad()
    out = h * h
    out.backward(retain_graph=True)
    out.backward()
    assert grad_of(h) == 2 * (2 * 2.0)


def test_hook_on_a_leaf_sees_the_summed_gradient_once() -> None:
    seen: list[np.ndarray] = []
    x = leaf([1.0, 2.0])
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    (x * 2 + x * 3).sum().backward()
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], [5.0, 5.0])
    np.testing.assert_array_equal(grad_of(x), [5.0, 5.0])


def test_hook_on_a_leaf_can_replace_the_gradient() -> None:
    x = leaf([1.0, -2.0])
    x.register_hook(lambda g: g * 10)
    (x * x).sum().backward()
    np.testing.assert_array_equal(grad_of(x), [20.0, -40.0])


def test_hook_on_a_non_leaf_replaces_the_gradient_flowing_on() -> None:
    x = leaf([1.0, 2.0])
    h = x * 3
    seen: list[np.ndarray] = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    h.register_hook(lambda g: cr.tensor(np.zeros_like(g.numpy()) + 1.0))  # replace with ones
    (h * h).sum().backward()
    np.testing.assert_array_equal(seen[0], [6.0, 12.0])  # 2h, before the replacement
    np.testing.assert_array_equal(grad_of(x), [3.0, 3.0])  # ones times d h / d x


def test_hook_removal() -> None:
    calls: list[int] = []
    x = leaf([1.0])
    h = x * 2
    remove_leaf = x.register_hook(lambda g: calls.append(1))
    remove_h = h.register_hook(lambda g: calls.append(2))
    remove_leaf()
    remove_h()
    remove_h()  # removing twice is harmless
    h.sum().backward()
    assert calls == []
    np.testing.assert_array_equal(grad_of(x), [2.0])


def test_register_hook_needs_grad() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.tensor([1.0]).register_hook(lambda g: g)


# -- no_grad ---------------------------------------------------------------------------------------


def test_no_grad_context_manager() -> None:
    x = leaf([1.0])
    with cr.no_grad():
        assert not cr.is_grad_enabled()
        y = x * 2
        with cr.enable_grad():
            z = x * 2
    assert cr.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad


def test_no_grad_decorator_and_exceptions_restore_the_mode() -> None:
    @cr.no_grad()
    def step(t: cr.Tensor) -> cr.Tensor:
        """docstring kept"""
        return t * 2

    x = leaf([1.0])
    assert not step(x).requires_grad
    assert step.__doc__ == "docstring kept"
    assert cr.is_grad_enabled()
    with pytest.raises(ZeroDivisionError), cr.no_grad():
        1 / 0  # noqa: B018
    assert cr.is_grad_enabled()


# -- clear errors ----------------------------------------------------------------------------------


def test_backward_on_a_non_scalar_needs_a_gradient() -> None:
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match=r"shape \(2,\).*gradient"):
        y.backward()
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        y.backward(np.ones(3))
    y.backward(np.ones(2))


def test_backward_without_a_graph_raises() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        (cr.tensor([1.0]) * 2).sum().backward()


@pytest.mark.parametrize("change", ["+=", "add_", "mul_", "setitem", "copy_"])
def test_inplace_change_of_a_saved_input_is_detected(change: str) -> None:
    w = leaf([1.0, 2.0])
    a = cr.tensor([3.0, 4.0], dtype="float64")  # no grad, saved by the mul for dw
    y = (w * a).sum()
    if change == "+=":
        a += 1
    elif change == "add_":
        a.add_(1)
    elif change == "mul_":
        a.mul_(2)
    elif change == "setitem":
        a[0] = 10.0
    else:
        a.copy_(np.zeros(2))
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_inplace_change_before_recording_is_fine() -> None:
    w = leaf([1.0, 2.0])
    a = cr.tensor([3.0, 4.0], dtype="float64")
    a.add_(1)
    (w * a).sum().backward()
    np.testing.assert_array_equal(grad_of(w), [4.0, 5.0])


def test_optimizer_style_update_of_a_parameter_between_steps() -> None:
    w = leaf([1.0, 2.0])
    (w * w).sum().backward()
    with cr.no_grad():
        w.sub_(0.5 * w.grad)  # type: ignore[operator]
    w.grad = None
    (w * w).sum().backward()  # a new graph: the update happened before it
    np.testing.assert_array_equal(grad_of(w), [0.0, 0.0])


def test_inplace_change_of_a_leaf_parameter_after_forward_is_detected() -> None:
    w = leaf([1.0, 2.0])
    y = (w * w).sum()
    with cr.no_grad():
        w.mul_(2)
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


# -- gradients never alias -------------------------------------------------------------------------


def test_leaf_gradients_do_not_alias_each_other() -> None:
    x, y = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (x + y).sum().backward()  # the add gate hands one array to both
    gx, gy = grad_of(x), grad_of(y)
    assert not np.shares_memory(gx, gy)
    gx[0] = 100.0
    np.testing.assert_array_equal(gy, [1.0, 1.0])


def test_leaf_gradient_does_not_alias_the_given_gradient() -> None:
    x = leaf([1.0, 2.0])
    g = np.array([5.0, 6.0])
    (x + 0).backward(g)
    g[0] = -1.0
    np.testing.assert_array_equal(grad_of(x), [5.0, 6.0])


def test_leaf_gradients_through_views_are_writeable_and_separate() -> None:
    x, y = leaf(np.ones((2, 2))), leaf(np.ones(4))
    (x.reshape(4) + y).sum().backward()
    for t in (x, y):
        g = grad_of(t)
        assert g.flags.writeable
    grad_of(x)[0, 0] = 7.0
    np.testing.assert_array_equal(grad_of(y), np.ones(4))


def test_leaf_gradients_that_are_views_of_one_fresh_array_are_separated() -> None:
    a, b, w = leaf([1.0, 2.0]), leaf([3.0]), leaf([2.0, 3.0, 4.0])
    (cr.concatenate([a, b]) * w).sum().backward()  # a and b get slices of one fresh dout * w
    ga, gb = grad_of(a), grad_of(b)
    assert not np.shares_memory(ga, gb)
    ga[:] = 0.0
    np.testing.assert_array_equal(gb, [4.0])
    np.testing.assert_array_equal(grad_of(w), [1.0, 2.0, 3.0])


def test_a_private_view_reaches_its_leaf_without_a_copy_and_stays_private() -> None:
    x = leaf(np.ones((2, 3)))
    (x.reshape(6) * cr.tensor(np.arange(6.0))).sum().backward()  # a fresh array, reshaped
    g = grad_of(x)
    assert g.flags.writeable
    np.testing.assert_array_equal(g, np.arange(6.0).reshape(2, 3))
    assert not np.shares_memory(g, x.numpy())
    y = leaf(np.ones((2, 3)))
    cr.take_along_axis(y, np.array([[0, 0, 1], [2, 2, 2]]), axis=1).backward(np.ones((2, 3)))
    gy = grad_of(y)  # the flat scatter-add's result, reshaped: the last gradient of the walk
    assert gy.base is not None and gy.base.shape == (6,)  # kept as it came: no copy
    np.testing.assert_array_equal(gy, [[2.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    assert gy.flags.writeable and not np.shares_memory(gy, y.numpy())


def test_leaf_gradient_of_a_broadcast_is_writeable() -> None:
    x = leaf(np.ones(3))
    x.sum().backward()
    g = grad_of(x)
    assert g.flags.writeable
    g += 1  # must not raise on a read-only broadcast view
    np.testing.assert_array_equal(grad_of(x), [2.0, 2.0, 2.0])


def test_leaf_gradient_does_not_alias_the_data() -> None:
    x = leaf([1.0, 2.0])
    x.backward(np.array([1.0, 1.0]))
    assert not np.shares_memory(grad_of(x), x.numpy())


def test_inplace_change_through_a_detached_view_is_detected() -> None:
    x = leaf([1.0, 2.0])
    y = (x * x).sum()  # the mul saved x's data
    x.detach().add_(1)  # shares x's data
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()
    a = cr.tensor([3.0], dtype="float64")
    w = leaf([1.0])
    z = (w * a).sum()
    d = a.detach().detach()
    d += 1  # a plain tensor: changed in place, through two detaches
    with pytest.raises(RuntimeError, match="modified in place"):
        z.backward()


def test_inplace_change_through_a_detached_detached_tensor_reaches_every_sharer() -> None:
    a = cr.tensor([3.0], dtype="float64")
    d1 = a.detach()
    w = leaf([1.0])
    z = (w * d1).sum()
    d1.detach().mul_(2)
    with pytest.raises(RuntimeError, match="modified in place"):
        z.backward()
    np.testing.assert_array_equal(a.numpy(), [6.0])


def test_hooks_and_retain_grad_inside_a_plain_chain() -> None:
    x = leaf([1.0, 2.0])
    h = x * 3
    k = h.exp()
    h.register_hook(lambda g: g * 0 + 1.0)  # replace dL/dh by ones
    k.retain_grad()
    k.sum().backward()
    np.testing.assert_array_equal(grad_of(k), [1.0, 1.0])
    np.testing.assert_array_equal(grad_of(x), [3.0, 3.0])


def test_backward_with_a_tensor_gradient_of_another_dtype() -> None:
    x = leaf([1.0, 2.0], dtype="float32")
    (x * 2).backward(cr.tensor([1.0, 0.5], dtype="float64"))
    assert x.grad is not None and x.grad.dtype == np.float32
    np.testing.assert_array_equal(grad_of(x), [2.0, 1.0])


def test_inplace_change_of_the_source_of_a_detached_tensor_is_detected() -> None:
    w, v = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    target = w.detach()  # e.g. a fixed target built from the parameters
    loss = (v * target).sum()  # saves target's data (shared with w) for dv
    with cr.no_grad():
        w.sub_(0.1)  # a step on w before backward: target's data changed too
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_many_detaches_do_not_grow_without_bound() -> None:
    w = leaf([1.0])
    for _ in range(1000):
        w.detach()
    assert w._meta is not None and len(w._meta["sharers"]) <= 18


def test_inplace_change_of_an_op_output_through_detach_is_caught() -> None:
    x = cr.tensor([0.5, -1.0], dtype="float64", requires_grad=True)
    y = x.exp()  # Exp saves its output for backward
    y.detach().add_(1.0)
    with pytest.raises(RuntimeError, match=r"Exp\.backward: its output was modified in place"):
        y.sum().backward()


def test_leaf_hooks_run_under_grad() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g * 10)
    (dx,) = cr.grad((x * x).sum(), x)
    np.testing.assert_allclose(dx.data, [20.0, 40.0])
    assert x.grad is None


def test_no_grad_as_a_bare_decorator() -> None:
    w = cr.tensor([1.0], requires_grad=True)

    @cr.no_grad
    def double(t: cr.Tensor) -> cr.Tensor:
        return t * 2

    assert not double(w).requires_grad
    assert double.__name__ == "double"


def test_ragged_data_names_chainrule_tensor() -> None:
    with pytest.raises(ValueError, match=r"chainrule\.tensor"):
        cr.tensor([[1.0, 2.0], [3.0]])
