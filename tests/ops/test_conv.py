"""The conv and pool gates (chainrule.ops.conv) against CS231n's naive loop layers, written here.

Each case: the forward against a direct loop, first derivatives by central differences in
float64 (gradcheck), second derivatives through the recorded backward (gradgradcheck). A
meta-test fails when a gate of ``CONV_OPS`` is reached by no case (first or second order).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F  # noqa: N812 - the field's usual alias
from chainrule.ops import conv as gates
from graphs import gates_in_graph

RNG = np.random.default_rng(12)

# -- CS231n's naive layers ------------------------------------------------------------------------


def naive_conv(x, w, b, stride, pad, dil, groups):  # type: ignore[no-untyped-def]
    n, _c, h, wd = x.shape
    f, cg, hh, ww = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, pad, dil
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho = (h + 2 * ph - dh * (hh - 1) - 1) // sh + 1
    wo = (wd + 2 * pw - dw * (ww - 1) - 1) // sw + 1
    out = np.zeros((n, f, ho, wo))
    fg = f // groups
    for i in range(n):
        for k in range(f):
            g = k // fg
            for r in range(ho):
                for s in range(wo):
                    patch = xp[
                        i,
                        g * cg : (g + 1) * cg,
                        r * sh : r * sh + dh * (hh - 1) + 1 : dh,
                        s * sw : s * sw + dw * (ww - 1) + 1 : dw,
                    ]
                    out[i, k, r, s] = (patch * w[k]).sum() + (0.0 if b is None else b[k])
    return out


def naive_pool(x, k, stride, pad, reduce):  # type: ignore[no-untyped-def]
    n, c, h, w = x.shape
    fill = -np.inf if reduce is np.max else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])), constant_values=fill)
    ho = (h + 2 * pad[0] - k[0]) // stride[0] + 1
    wo = (w + 2 * pad[1] - k[1]) // stride[1] + 1
    out = np.zeros((n, c, ho, wo))
    for r in range(ho):
        for s in range(wo):
            win = xp[
                :, :, r * stride[0] : r * stride[0] + k[0], s * stride[1] : s * stride[1] + k[1]
            ]
            out[:, :, r, s] = reduce(win, axis=(2, 3))
    return out


# -- cases: (name, input shapes, chainrule call, reference) ----------------------------------------

P = gates.pair
CONV_CASES = [
    # x shape, w shape, bias, stride, padding, dilation, groups
    ((2, 3, 5, 7), (4, 3, 3, 3), True, 1, 0, 1, 1),  # odd sizes
    ((2, 3, 7, 6), (4, 3, 3, 2), True, 2, 1, 1, 1),  # stride 2, padding, non-square kernel
    ((1, 2, 7, 7), (3, 2, 3, 3), False, 1, 2, 2, 1),  # dilation 2
    ((2, 4, 5, 5), (6, 2, 3, 3), True, (1, 2), (1, 0), 1, 2),  # groups, pair sizes
    ((2, 4, 4, 4), (4, 1, 3, 3), True, 1, 1, 1, 4),  # depthwise
    ((2, 3, 5, 4), (5, 3, 1, 1), True, 1, 0, 1, 1),  # 1x1
    ((2, 2, 5, 4), (3, 2, 5, 4), True, 1, 0, 1, 1),  # kernel = input size
]


def _conv_id(c: Any) -> str:
    return f"x{c[0]}-w{c[1]}-s{c[3]}-p{c[4]}-d{c[5]}-g{c[6]}"


def _tensors(*arrays: np.ndarray) -> list[cr.Tensor]:
    return [cr.tensor(a, dtype="float64", requires_grad=True) for a in arrays]


@pytest.mark.parametrize("case", CONV_CASES, ids=_conv_id)
def test_conv2d_matches_the_naive_loops_and_gradchecks(case: Any) -> None:
    xs, ws, has_b, s, p, d, g = case
    x, w = RNG.standard_normal(xs), RNG.standard_normal(ws)
    b = RNG.standard_normal(ws[0]) if has_b else None
    out = F.conv2d(x, w, b, stride=s, padding=p, dilation=d, groups=g)
    ref = naive_conv(x, w, b, P(s, "", ""), P(p, "", ""), P(d, "", ""), g)
    np.testing.assert_allclose(out.data, ref, rtol=1e-12, atol=1e-12)
    inputs = _tensors(x, w) + (_tensors(b) if b is not None else [])

    def fn(*ts: cr.Tensor) -> Any:
        return F.conv2d(ts[0], ts[1], ts[2] if len(ts) > 2 else None, s, p, d, g)

    assert cr.gradcheck(fn, *inputs)
    assert cr.gradgradcheck(fn, *inputs)


POOL_CASES = [
    # x shape, kernel, stride, padding
    ((2, 3, 4, 4), 2, None, 0),
    ((2, 2, 5, 7), 3, 2, 1),  # overlapping windows, odd sizes, padding
    ((1, 2, 6, 5), (2, 3), (1, 2), (1, 1)),
    ((2, 1, 3, 3), 3, None, 0),  # kernel = input size
    ((2, 2, 4, 4), 1, None, 0),  # 1x1
]


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_matches_the_naive_loops_and_gradchecks(kind: str, case: Any) -> None:
    xs, k, s, p = case
    x = RNG.permutation(np.arange(float(np.prod(xs)))).reshape(xs) / 10  # no ties for max
    fn_ = F.max_pool2d if kind == "max" else F.avg_pool2d
    ref = naive_pool(
        x,
        P(k, "", ""),
        P(k if s is None else s, "", ""),
        P(p, "", ""),
        np.max if kind == "max" else np.mean,
    )
    np.testing.assert_allclose(fn_(x, k, s, p).data, ref, rtol=1e-12)
    (xt,) = _tensors(x)
    assert cr.gradcheck(lambda t: fn_(t, k, s, p), xt)
    assert cr.gradgradcheck(lambda t: fn_(t, k, s, p), xt)


def test_max_pool_routes_to_the_first_maximum_on_ties() -> None:
    x = cr.tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    assert x.grad.tolist() == [[[[1.0, 0.0], [0.0, 0.0]]]]


def test_adaptive_avg_pool_and_pad_match_numpy() -> None:
    x = RNG.standard_normal((2, 3, 6, 4))
    out = F.adaptive_avg_pool2d(x, (3, 2)).data
    ref = x.reshape(2, 3, 3, 2, 2, 2).mean(axis=(3, 5))
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    np.testing.assert_allclose(
        F.pad(x, (1, 2, 3, 0), value=-1.0).data,
        np.pad(x, ((0, 0), (0, 0), (3, 0), (1, 2)), constant_values=-1.0),
    )
    (xt,) = _tensors(x)
    for fn in (lambda t: F.adaptive_avg_pool2d(t, 1), lambda t: F.pad(t, (1, 0))):
        assert cr.gradcheck(fn, xt)
        assert cr.gradgradcheck(fn, xt)


def test_spatial_batch_norm_is_per_channel_over_n_h_w() -> None:
    x = RNG.standard_normal((4, 3, 5, 2)) * 3 + 1
    gamma, beta = RNG.standard_normal(3), RNG.standard_normal(3)
    out = F.batch_norm(x, None, None, gamma, beta).data
    mu, var = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)
    ref = (x - mu) / np.sqrt(var + 1e-5) * gamma.reshape(1, 3, 1, 1) + beta.reshape(1, 3, 1, 1)
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)
    xt, gt, bt = _tensors(x, gamma, beta)
    assert cr.gradcheck(lambda a, b, c: F.batch_norm(a, None, None, b, c), xt, gt, bt)


# -- every gate is reached ------------------------------------------------------------------------


_gates_of = gates_in_graph


def test_every_conv_gate_is_reached_first_and_second_order() -> None:
    x, w = _tensors(RNG.standard_normal((1, 2, 4, 4)), RNG.standard_normal((2, 2, 3, 3)))
    calls: list[Callable[[cr.Tensor], cr.Tensor]] = [
        lambda t: F.conv2d(t, w, padding=1),
        lambda t: F.max_pool2d(t, 2),
        lambda t: F.avg_pool2d(t, 2),
        lambda t: F.pad(t, 1),
    ]
    reached: set[type] = set()
    for call in calls:
        out = call(x)
        reached |= _gates_of(out)
        for _ in range(2):  # first, then second derivatives, with respect to x and w
            grads = cr.grad((out * out).sum(), [x, w], create_graph=True, allow_unused=True)
            for g in grads:
                reached |= set() if g is None else _gates_of(g)
            out = sum((g * g).sum() for g in grads if g is not None)
    missing = [op.__name__ for op in gates.CONV_OPS if op not in reached]
    assert not missing, f"conv gates no test reaches: {missing}"
    for op in gates.CONV_OPS:
        assert op.differentiable_backward and op.facts.family == "conv" and op.facts.local


@pytest.mark.parametrize(
    "fn",
    [
        lambda t, on: F.conv2d(t, on(np.linspace(-1, 1, 72).reshape(4, 2, 3, 3)), padding=1),
        lambda t, on: F.max_pool2d(t, 2),  # exact tiles
        lambda t, on: F.max_pool2d(t, 3, 2, 1),  # overlapping, padded
        lambda t, on: F.avg_pool2d(t, 2),
    ],
    ids=["conv2d", "max_pool2d-tiles", "max_pool2d-general", "avg_pool2d"],
)
def test_the_strict_backend_runs_the_conv_gates_and_agrees_with_numpy(fn: Any) -> None:
    from strict_backend import StrictArray

    x = RNG.standard_normal((2, 2, 6, 6))
    dout = RNG.standard_normal(fn(cr.tensor(x), np.asarray).shape)
    strict, host = cr.tensor(StrictArray(x), requires_grad=True), _tensors(x)[0]
    out, ref = fn(strict, StrictArray), fn(host, np.asarray)  # constants on the input's backend
    out.backward(StrictArray(dout))
    ref.backward(dout)
    assert isinstance(out.data, StrictArray) and isinstance(strict.grad.data, StrictArray)
    np.testing.assert_allclose(out.data.to_numpy(), ref.data, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(strict.grad.data.to_numpy(), host.grad.data, rtol=1e-12, atol=1e-12)


# -- shape errors name the layer, the expected and the actual shape -------------------------------


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (
            lambda: nn.Conv2d(3, 4, 3)(np.zeros((1, 2, 5, 5))),
            r"Conv2d\(3, 4.*2 channels.*expects 3",
        ),
        (
            lambda: nn.Conv2d(3, 4, 7)(np.zeros((1, 3, 5, 5))),
            r"Conv2d.*larger than the padded input 5x5",
        ),
        (lambda: nn.Conv2d(3, 4, 3, groups=2), r"groups must divide"),
        (lambda: F.conv2d(np.zeros((1, 3, 5, 5)), np.zeros((4, 1, 3, 3)), groups=2), r"groups=2"),
        (
            lambda: F.conv2d(np.zeros((3, 5, 5)), np.zeros((4, 3, 3, 3))),
            r"\(N, C, H, W\).*\(3, 5, 5\)",
        ),
        (lambda: nn.MaxPool2d(3)(np.zeros((1, 1, 2, 2))), r"MaxPool2d.*larger than the padded"),
        (lambda: nn.BatchNorm2d(3)(np.zeros((2, 4, 2, 2))), r"BatchNorm2d\(3\).*\(N, 3, H, W\).*4"),
        (lambda: F.adaptive_avg_pool2d(np.zeros((1, 1, 5, 5)), 2), r"must divide the input's 5x5"),
        (lambda: nn.ConvNet((1, 8, 8), [8, 8, 8, 8], [], 10), r"4 conv blocks.*8x8"),
    ],
)
def test_shape_errors_are_one_clear_message(call: Callable[[], Any], pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        call()


# -- modules --------------------------------------------------------------------------------------


def test_conv2d_module_kaiming_init_and_state_dict_round_trip(tmp_path: Any) -> None:
    conv = nn.Conv2d(16, 64, 3, rng=np.random.default_rng(0))
    assert abs(conv.weight.data.var() * 16 * 9 / 2 - 1) < 0.05  # N(0, 2 / fan_in)
    assert not conv.bias.data.any()
    net = nn.ConvNet((1, 8, 8), [4, 8], [16], 10)
    x = cr.tensor(RNG.standard_normal((3, 1, 8, 8)).astype(np.float32))
    net(x)  # moves the batch-norm running statistics
    net.eval()
    path = tmp_path / "net.safetensors"
    cr.save(net.state_dict(), path)
    other = nn.ConvNet((1, 8, 8), [4, 8], [16], 10)
    other.load_state_dict(cr.load(path))
    other.eval()
    np.testing.assert_array_equal(net(x).data, other(x).data)


def test_the_module_graph_shows_conv_and_pool_boxes_with_shapes_and_gradient_norms() -> None:
    nn.init.seed(0)
    net = nn.ConvNet((1, 8, 8), [4], [8], 3)
    x = cr.tensor(RNG.standard_normal((2, 1, 8, 8)).astype(np.float32))
    e = cr.explain(F.cross_entropy(net(x), np.zeros(2, np.int64)))
    conv, pool = e.node("convnet.0"), e.node("convnet.3")
    assert conv.label == "Conv2d(1 -> 4, 3x3)" and pool.label == "MaxPool2d(2x2)"
    assert conv.caption[0] == "out 2x4x8x8" and pool.caption[0] == "out 2x4x4x4"
    assert conv.caption[1].startswith("|grad| ")


def test_the_jacobian_lens_names_a_convs_structure() -> None:
    from chainrule.viz import jacobian

    x = cr.tensor(RNG.standard_normal((1, 2, 5, 5)), requires_grad=True)
    w = cr.tensor(RNG.standard_normal((3, 2, 3, 3)), requires_grad=True)
    e = cr.explain(F.max_pool2d(F.conv2d(x, w, padding=1), 2).sum())
    conv = next(n for n in e.nodes if n.label == "conv2d")
    dx = jacobian.lens(e, conv).parts[0]
    assert dx.structure.startswith("sparse, banded:") and "at most 18 per row" in dx.structure
    assert "weight sharing: only 54 distinct" in dx.structure  # the 3*2*3*3 weights
    pool = next(n for n in e.nodes if n.label == "maxpool2d")
    assert "max routes" in jacobian.lens(e, pool).parts[0].structure
