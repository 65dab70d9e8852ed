"""Layers: shapes, initialization, gradchecks in float64, train/eval behaviour, MLP, spiral."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import spiral

F64 = np.float64


def rand(*shape: int, seed: int = 0) -> cr.Tensor:
    data = np.random.default_rng(seed).standard_normal(shape)
    return cr.tensor(data, dtype=F64, requires_grad=True)


def check_layer(layer: nn.Module, x: cr.Tensor) -> None:
    """gradcheck the layer's output with respect to the input and every parameter."""
    params = list(layer.parameters())

    def fn(x: cr.Tensor, *ps: cr.Tensor) -> cr.Tensor:
        return layer(x)

    assert cr.gradcheck(fn, x, *params)


def test_linear_forward_is_x_at_w_plus_b() -> None:
    lin = nn.Linear(3, 2, dtype=F64)
    x = rand(4, 3)
    np.testing.assert_allclose(lin(x).data, x.data @ lin.weight.data + lin.bias.data)
    assert lin.weight.shape == (3, 2)


def test_linear_gradcheck_with_and_without_bias() -> None:
    check_layer(nn.Linear(3, 4, dtype=F64), rand(5, 3))
    check_layer(nn.Linear(3, 4, bias=False, dtype=F64), rand(5, 3))
    check_layer(nn.Linear(3, 2, dtype=F64), rand(2, 4, 3))  # batch axes folded into rows


def test_linear_gradient_matches_the_formulas() -> None:
    lin = nn.Linear(3, 2, dtype=F64)
    x = rand(4, 3)
    dout = np.random.default_rng(1).standard_normal((4, 2))
    lin(x).backward(dout)
    np.testing.assert_allclose(x.grad.data, dout @ lin.weight.data.T)
    np.testing.assert_allclose(lin.weight.grad.data, x.data.T @ dout)
    np.testing.assert_allclose(lin.bias.grad.data, dout.sum(0))


def test_linear_bad_input_names_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(5, 4\).*\(3, 2\)"):
        nn.Linear(3, 2)(cr.tensor(np.zeros((5, 4), np.float32)))
    with pytest.raises(ValueError):
        nn.Linear(0, 2)


def test_linear_default_init_is_kaiming() -> None:
    lin = nn.Linear(2000, 300, rng=np.random.default_rng(0))
    assert lin.weight.dtype == np.float32
    assert abs(lin.weight.data.var() * 2000 / 2 - 1) < 0.02
    assert (lin.bias.data == 0).all()
    xav = nn.Linear(2000, 300, init="xavier", rng=np.random.default_rng(0))
    assert abs(xav.weight.data.var() * (2300 / 2) - 1) < 0.02
    small = nn.Linear(100, 100, init=0.01, rng=np.random.default_rng(0))
    assert abs(small.weight.data.std() / 0.01 - 1) < 0.05
    with pytest.raises(ValueError, match="init"):
        nn.Linear(2, 2, init="bogus")


def test_global_seed_makes_layers_reproducible() -> None:
    nn.init.manual_seed(3)
    a = nn.MLP([4, 8, 2]).state_dict()
    nn.init.seed(3)
    b = nn.MLP([4, 8, 2]).state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    c = nn.MLP([4, 8, 2]).state_dict()
    assert not np.array_equal(a["0.weight"], c["0.weight"])


def test_maxout_is_max_of_pieces_and_gradchecks() -> None:
    m = nn.Maxout(3, 2, pieces=3, dtype=F64)
    x = rand(4, 3)
    z = x.data @ m.weight.data + m.bias.data
    np.testing.assert_allclose(m(x).data, z.reshape(4, 2, 3).max(-1))
    check_layer(m, x)


@pytest.mark.parametrize(
    ("module", "ref"),
    [
        (nn.ReLU(), lambda x: np.maximum(x, 0)),
        (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
        (nn.Tanh(), np.tanh),
        (nn.LeakyReLU(0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
        (nn.ELU(0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
        (nn.Softmax(), lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True)),
    ],
)
def test_activation_modules(module: nn.Module, ref) -> None:  # type: ignore[no-untyped-def]
    x = rand(3, 4)
    np.testing.assert_allclose(module(x).data, ref(x.data), rtol=1e-12)
    check_layer(module, x)


def test_activation_module_repr() -> None:
    assert repr(nn.LeakyReLU()).startswith("LeakyReLU(negative_slope=0.01)")
    assert repr(nn.ELU()).startswith("ELU(alpha=1.0)")


def test_dropout_train_and_eval() -> None:
    drop = nn.Dropout(0.3, rng=np.random.default_rng(0))
    x = cr.tensor(np.ones((200, 100)), dtype=F64)
    out = drop(x).data
    kept = out != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(out[kept], 1 / 0.7)  # inverted: survivors scaled up
    assert abs(out.mean() - 1) < 0.02  # expectation unchanged
    drop.eval()
    assert drop(x) is x
    assert nn.Dropout(0.0)(x) is x
    assert (nn.Dropout(1.0)(x).data == 0).all()
    with pytest.raises(ValueError, match="drop probability"):
        nn.Dropout(1.5)


def test_dropout_gradcheck_with_fixed_mask() -> None:
    x = rand(4, 5)

    def fn(x: cr.Tensor) -> cr.Tensor:  # a new generator of the same seed: the same mask
        return nn.functional.dropout(x, 0.5, rng=np.random.default_rng(7))

    assert cr.gradcheck(fn, x)
    out = fn(x)
    out.backward(np.ones((4, 5)))
    np.testing.assert_array_equal(x.grad.data, out.data / x.data)  # dx = mask


def test_batchnorm_train_normalizes_and_updates_running_stats() -> None:
    bn = nn.BatchNorm1d(3, momentum=0.1, dtype=F64)
    x = rand(50, 3).data * 3 + 5
    out = bn(cr.tensor(x)).data
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(0), 1, rtol=1e-4)
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(0))
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * x.var(0, ddof=1))


def test_batchnorm_eval_uses_running_stats() -> None:
    bn = nn.BatchNorm1d(2, dtype=F64)
    bn.running_mean[...] = [1.0, -1.0]
    bn.running_var[...] = [4.0, 0.25]
    bn.weight.data[...] = [2.0, 1.0]
    bn.bias.data[...] = [0.0, 3.0]
    bn.eval()
    x = np.array([[3.0, 0.0]])
    out = bn(cr.tensor(x)).data  # a single sample works in eval
    np.testing.assert_allclose(out, [[2 * 2 / np.sqrt(4 + 1e-5), 1 / np.sqrt(0.25 + 1e-5) + 3]])
    before = bn.running_mean.copy()
    bn(cr.tensor(x))
    np.testing.assert_array_equal(bn.running_mean, before)


def test_batchnorm_gradchecks_train_and_eval() -> None:
    bn = nn.BatchNorm1d(3, dtype=F64)
    bn.weight.data[...] = [0.5, 2.0, -1.0]
    bn.bias.data[...] = [0.1, 0.2, 0.3]
    check_layer(bn, rand(6, 3))
    bn.eval()
    bn.running_var[...] = [0.5, 2.0, 3.0]
    check_layer(bn, rand(6, 3))


def test_batchnorm_errors() -> None:
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        bn(cr.tensor(np.zeros((4, 2), np.float32)))
    with pytest.raises(ValueError, match="more than 1 sample"):
        bn(cr.tensor(np.zeros((1, 3), np.float32)))


def test_flatten() -> None:
    x = rand(2, 3, 4)
    out = nn.Flatten()(x)
    assert out.shape == (2, 12)
    out.backward(np.ones((2, 12)))
    assert x.grad.shape == (2, 3, 4)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "leaky_relu", "elu", "maxout"])
def test_mlp_builds_two_and_three_layer_nets(activation: str) -> None:
    net2 = nn.MLP([5, 7, 3], activation=activation, dtype=F64)
    net3 = nn.MLP([5, 7, 6, 3], activation=activation, dtype=F64)
    x = rand(4, 5)
    assert net2(x).shape == net3(x).shape == (4, 3)
    linear = [m for m in net3.modules() if isinstance(m, nn.Linear | nn.Maxout)]
    assert len(linear) == 3
    check_layer(net2, rand(3, 5))


def test_mlp_dropout_and_batchnorm_layers() -> None:
    net = nn.MLP([4, 8, 8, 2], dropout=0.5, batchnorm=True)
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Dropout"] * 2 + ["Linear"]
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        nn.MLP([2, 2, 2], activation="swish")
    with pytest.raises(ValueError):
        nn.MLP([2])


def _train(net: nn.Module, X: np.ndarray, y: np.ndarray, steps: int) -> float:
    opt = optim.Adam(net.parameters(), lr=0.05)
    Xt = cr.tensor(X)
    for _ in range(steps):
        loss = nn.functional.cross_entropy(net(Xt), y) + nn.functional.l2_penalty(net, 1e-4)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with cr.no_grad():
        return float((net(Xt).data.argmax(1) == y).mean())


def test_spiral_needs_the_nonlinearity() -> None:
    """The lecture's point: a linear classifier cannot separate the spiral, one hidden ReLU
    layer of 100 units can."""
    X, y = spiral(100, 3)
    nn.init.seed(0)
    linear_acc = _train(nn.Linear(2, 3), X, y, 300)
    nn.init.seed(0)
    net_acc = _train(nn.MLP([2, 100, 3]), X, y, 300)
    assert 0.4 < linear_acc < 0.6
    assert net_acc > 0.98
