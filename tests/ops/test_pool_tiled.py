"""Max pooling's tiled fast path (chainrule.ops.pool_tiled) against a loop written here: values,
the first-maximum routing on ties (ReLU outputs are full of them), float32, and the shapes that
must keep the general path."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import functional as F  # noqa: N812 - the field's usual alias
from chainrule.ops import _threads, pool_tiled
from chainrule.ops import conv as gates

RNG = np.random.default_rng(3)


def loop_pool(x: np.ndarray, k: int, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Max of each k x k tile and dx, the gradient going to the first maximum (row-major)."""
    n, c, h, w = x.shape
    out = np.zeros((n, c, h // k, w // k), x.dtype)
    dx = np.zeros(x.shape, dout.dtype)
    for a in range(n):
        for b in range(c):
            for r in range(h // k):
                for s in range(w // k):
                    win = x[a, b, r * k : r * k + k, s * k : s * k + k]
                    i, j = divmod(int(np.argmax(win)), k)  # argmax: the first maximum
                    out[a, b, r, s] = win[i, j]
                    dx[a, b, r * k + i, s * k + j] = dout[a, b, r, s]
    return out, dx


@pytest.fixture(params=["whole", "parts in two threads"])
def parts(request: Any, monkeypatch: Any) -> str:
    """The 2x2 pool in one part here, or in parts of one row of windows each, shared between
    the two threads however small the work."""
    if request.param == "whole":
        monkeypatch.setitem(_threads._state, "enabled", False)
    else:
        monkeypatch.setitem(_threads._state, "enabled", True)
        monkeypatch.setattr(_threads, "MIN_FLOPS", 0)
        monkeypatch.setattr(pool_tiled, "PART_BYTES", 1)
    return str(request.param)


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tiles_match_the_loop_with_ties(k: int, dtype: str, parts: str) -> None:
    # small integers after a ReLU: most windows hold ties, many all zeros
    x = np.maximum(RNG.integers(-2, 3, (2, 3, 4 * k, 2 * k)), 0).astype(dtype)
    x[0, 0, :2, :2] = [[0, 1], [1, 0]]  # two maxima, in (0, 1) and (1, 0): (0, 1) comes first
    g = gates.Geometry(x.shape, (k, k), (k, k), (0, 0), (1, 1), 1)
    assert pool_tiled.tiled(x, g)
    xt = cr.tensor(x, requires_grad=True)
    out = F.max_pool2d(xt, k)
    dout = RNG.standard_normal(out.shape).astype(dtype)
    out.backward(dout)
    ref, dx = loop_pool(x, k, dout)
    np.testing.assert_array_equal(out.data, ref)
    np.testing.assert_array_equal(xt.grad.data, dx)
    assert out.data.dtype == x.dtype and xt.grad.data.dtype == x.dtype


def test_two_by_two_routing_codes_name_the_first_maximum() -> None:
    x = np.array([[[[0.0, 1.0], [1.0, 0.0]], [[2.0, 2.0], [2.0, 2.0]], [[0.0, 0.0], [0.0, 5.0]]]])
    x = x.reshape(1, 3, 2, 2)
    out, code = pool_tiled.max_pool_2x2(x)
    assert out.ravel().tolist() == [1.0, 2.0, 5.0]
    assert code.ravel().tolist() == [1, 0, 3]


def test_second_order_through_the_tiled_routing() -> None:
    x = cr.tensor(RNG.permutation(np.arange(32.0)).reshape(1, 2, 4, 4), requires_grad=True)
    assert cr.gradcheck(lambda t: F.max_pool2d(t, 2) ** 2, x)
    assert cr.gradgradcheck(lambda t: F.max_pool2d(t, 2) ** 2, x)


@pytest.mark.parametrize(
    "shape, k, s, p",
    [((1, 1, 5, 4), 2, 2, 0), ((1, 1, 4, 4), 2, 1, 0), ((1, 1, 4, 4), 2, 2, 1)],
    ids=["odd-side", "overlapping", "padded"],
)
def test_other_geometries_keep_the_general_path(shape: Any, k: int, s: int, p: int) -> None:
    x = RNG.standard_normal(shape)
    g = gates.Geometry(shape, (k, k), (s, s), (p, p), (1, 1), 1)
    assert not pool_tiled.tiled(x, g)
    assert F.max_pool2d(x, k, s, p).shape[-1] == (shape[-1] + 2 * p - k) // s + 1


@pytest.mark.parametrize("k", [(2, 2), (3, 1), (4, 6)], ids=str)
def test_average_tiles_match_the_loop(k: tuple[int, int]) -> None:
    x = RNG.standard_normal((2, 3, 12, 6)).astype(np.float32)
    g = gates.Geometry(x.shape, k, k, (0, 0), (1, 1), 1)
    assert pool_tiled.tiled(x, g)
    xt = cr.tensor(x, requires_grad=True)
    out = F.avg_pool2d(xt, k)
    dout = RNG.standard_normal(out.shape).astype(np.float32)
    out.backward(dout)
    ref, dx = np.zeros(out.shape), np.zeros(x.shape)
    for r in range(out.shape[2]):
        for s in range(out.shape[3]):
            rows, cols = slice(r * k[0], (r + 1) * k[0]), slice(s * k[1], (s + 1) * k[1])
            ref[:, :, r, s] = x[:, :, rows, cols].astype(np.float64).mean(axis=(2, 3))
            dx[:, :, rows, cols] = dout[:, :, r, s, None, None] / (k[0] * k[1])
    assert out.data.dtype == np.float32 and xt.grad.data.dtype == np.float32
    np.testing.assert_allclose(out.data, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(xt.grad.data, dx, rtol=1e-6, atol=1e-7)


def every_two_by_two_pattern() -> np.ndarray:
    """(1, 81, 2, 2): every window with entries in {0, 1, 2}, ties of every kind among them."""
    grid = np.stack(np.meshgrid(*[np.arange(3.0)] * 4, indexing="ij"), -1).reshape(81, 2, 2)
    return grid[None]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rows_first_routes_match_the_loop_on_every_tie_pattern(dtype: str, parts: str) -> None:
    x = np.concatenate([every_two_by_two_pattern()] * 2, axis=-1).astype(dtype)  # 2 windows a row
    g = gates.Geometry(x.shape, (2, 2), (2, 2), (0, 0), (1, 1), 1)
    dout = RNG.standard_normal((1, 81, 1, 2)).astype(dtype)
    ref, dx = loop_pool(x, 2, dout)
    out, routes = pool_tiled.max_pool_2x2_routes(x)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(pool_tiled.scatter_routes(dout, routes, g), dx)
    first = x.reshape(81, 2, 2, 2).transpose(0, 2, 1, 3).reshape(81, 2, 4).argmax(-1)
    assert routes.code().reshape(81, 2).tolist() == first.tolist()
    assert routes.code().dtype == np.int8 and out.dtype == x.dtype


def test_second_order_with_ties_reads_the_code_of_the_routes() -> None:
    # under create_graph the Routes become the general path's code: dx's own graph, differentiated
    # by the upstream gradient u, must gather v at the same first maxima the loop names
    x = every_two_by_two_pattern()
    xt = cr.tensor(x, requires_grad=True)
    u = cr.tensor(RNG.standard_normal((1, 81, 1, 1)), requires_grad=True)
    v = RNG.standard_normal(x.shape)
    (dx,) = cr.grad(F.max_pool2d(xt, 2), [xt], grad_outputs=[u], create_graph=True)
    _, ref = loop_pool(x, 2, u.data)
    np.testing.assert_array_equal(dx.data, ref)
    (du,) = cr.grad((dx * v).sum(), [u])
    first = x.reshape(81, 4).argmax(-1)
    np.testing.assert_array_equal(du.data.ravel(), v.reshape(81, 4)[np.arange(81), first])
