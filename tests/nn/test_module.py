"""Module registration, traversal, modes, state_dict round trips and their errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.BatchNorm1d(5))
        self.head = nn.Linear(5, 2, bias=False)
        self.scale = nn.Parameter(np.ones(1, np.float32))

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        return self.head(self.body(x)) * self.scale


def test_named_parameters_are_dotted_and_ordered() -> None:
    names = [n for n, _ in Net().named_parameters()]
    assert names == [
        "scale",
        "body.0.weight",
        "body.0.bias",
        "body.2.weight",
        "body.2.bias",
        "head.weight",
    ]


def test_children_modules_and_counts() -> None:
    net = Net()
    assert [type(m).__name__ for m in net.children()] == ["Sequential", "Linear"]
    kinds = [type(m).__name__ for m in net.modules()]
    assert kinds == ["Net", "Sequential", "Linear", "ReLU", "BatchNorm1d", "Linear"]
    assert net.num_parameters() == 1 + 4 * 5 + 5 + 5 + 5 + 5 * 2


def test_shared_parameter_listed_once() -> None:
    a = nn.Linear(3, 3)
    seq = nn.Sequential(a, a)
    assert len(list(seq.parameters())) == 2


def test_reassigning_attribute_unregisters() -> None:
    net = Net()
    net.head = None  # type: ignore[assignment]
    assert not any(n.startswith("head") for n, _ in net.named_parameters())
    net.scale = 3.0  # type: ignore[assignment]
    assert "scale" not in dict(net.named_parameters())


def test_setattr_before_init_is_a_clear_error() -> None:
    class Bad(nn.Module):
        def __init__(self) -> None:
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match=r"super\(\)\.__init__"):
        Bad()


def test_train_eval_propagate() -> None:
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad_clears_every_gradient() -> None:
    net = Net()
    x = cr.tensor(np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32))
    net(x).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_state_dict_copies_and_includes_buffers() -> None:
    net = Net()
    sd = net.state_dict()
    assert set(sd) == {n for n, _ in net.named_parameters()} | {
        "body.2.running_mean",
        "body.2.running_var",
    }
    sd["head.weight"][...] = 7.0
    assert not (net.head.weight.data == 7.0).any()


def test_load_state_dict_round_trip_in_place() -> None:
    a, b = Net(), Net()
    a.body[2].running_mean[...] = 3.0
    w = b.head.weight.data
    b.load_state_dict(a.state_dict())
    assert b.head.weight.data is w  # copied into the same array: optimizers keep working
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[k], v)
    x = cr.tensor(np.ones((3, 4), np.float32))
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x).data, b(x).data)


def test_load_state_dict_names_every_problem_and_changes_nothing() -> None:
    net = Net()
    before = net.state_dict()
    sd = net.state_dict()
    del sd["scale"]
    sd["extra"] = np.zeros(1)
    sd["head.weight"] = np.zeros((2, 5), np.float32)
    sd["body.0.bias"] = np.zeros(5, np.float64)
    sd["body.0.weight"] = np.full((4, 5), 9.0, np.float32)
    with pytest.raises(ValueError) as e:
        net.load_state_dict(sd)
    msg = str(e.value)
    assert "missing: scale" in msg
    assert "unexpected: extra" in msg
    assert "head.weight: shape (2, 5)" in msg
    assert "body.0.bias: dtype float64" in msg
    for k, v in before.items():  # nothing half-loaded
        np.testing.assert_array_equal(net.state_dict()[k], v)


def test_load_state_dict_non_strict_reports_keys() -> None:
    net = Net()
    sd = net.state_dict()
    del sd["scale"]
    sd["extra"] = np.zeros(1)
    res = net.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["scale"]
    assert res.unexpected_keys == ["extra"]


def test_repr_lists_layers_and_parameter_counts() -> None:
    r = repr(nn.MLP([3, 4, 2]))
    assert "(0): Linear(in_features=3, out_features=4, bias=True)  # 16 parameters" in r
    assert "(1): ReLU()" in r
    assert r.endswith("# 26 parameters")


def test_sequential_indexing_and_errors() -> None:
    seq = nn.Sequential(nn.Linear(2, 2), nn.Tanh())
    assert len(seq) == 2 and isinstance(seq[-1], nn.Tanh)
    assert len(seq[:1]) == 1
    seq.append(nn.Linear(2, 1))
    assert [n for n, _ in seq.named_parameters()][-1] == "2.bias"
    with pytest.raises(TypeError, match="item 0"):
        nn.Sequential(lambda x: x)  # type: ignore[arg-type]
    assert nn.Sequential([nn.ReLU()])[0].__class__ is nn.ReLU


def test_parameter_is_a_trainable_tensor() -> None:
    p = nn.Parameter(np.zeros(2))
    assert isinstance(p, cr.Tensor) and p.requires_grad and p.dtype == np.float64
    assert repr(p).startswith("Parameter(")
    with pytest.raises(TypeError):
        nn.Parameter(np.zeros(2, np.int64))


def test_forward_not_implemented() -> None:
    with pytest.raises(NotImplementedError, match=r"Module\.forward"):
        nn.Module()(1)


def test_module_list_registers_its_modules() -> None:
    class Tower(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(3, 3) for _ in range(2)])
            self.blocks.append(nn.Linear(3, 1))

        def forward(self, x):  # type: ignore[no-untyped-def]
            for b in self.blocks:
                x = b(x)
            return x

    net = Tower()
    names = [n for n, _ in net.named_parameters()]
    assert names[:2] == ["blocks.0.weight", "blocks.0.bias"] and len(names) == 6
    assert isinstance(net.blocks[1:], nn.ModuleList) and len(net.blocks[1:]) == 2
    net(cr.tensor(np.ones((2, 3), np.float32))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    with pytest.raises(TypeError, match="ModuleList: item 3 is a int, not a Module"):
        net.blocks.append(3)  # type: ignore[arg-type]
    with pytest.raises(NotImplementedError):
        net.blocks(cr.tensor(np.ones((2, 3), np.float32)))
    assert isinstance(nn.Sequential(nn.ReLU())[0:1], nn.Sequential)


def test_to_converts_parameters_and_float_buffers() -> None:
    net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    w = net[0].weight
    x = cr.tensor(np.random.default_rng(0).standard_normal((4, 2)), dtype="float64")
    net(cr.tensor(np.ones((4, 2), np.float32))).sum().backward()
    assert w.grad is not None
    assert net.double() is net
    assert w.dtype == np.float64 and w.grad is None and net[1].running_var.dtype == np.float64
    assert {k: v.dtype for k, v in net.state_dict().items()} == dict.fromkeys(
        net.state_dict(), np.dtype(np.float64)
    )
    assert cr.gradcheck(lambda t: (net(t) ** 2).sum(), x.requires_grad_())
    assert net.float()[0].bias.dtype == np.float32
    with pytest.raises(TypeError, match="not a floating-point dtype"):
        net.to(np.int32)
