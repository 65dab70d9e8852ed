"""Optimizer param groups (as in PyTorch): per-group hyperparameters against updates computed
by hand in NumPy loops, live edits of the group dicts, schedules on every group, state round
trips and add_param_group."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim

STEPS = 4
SHAPES = [(3, 2), (2,), (4,)]


def _init() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.standard_normal(s) for s in SHAPES]


def _grads(t: int) -> list[np.ndarray]:
    rng = np.random.default_rng(200 + t)
    return [rng.standard_normal(s) for s in SHAPES]


def _run(make: Any, steps: int = STEPS, before_step: Any = None) -> list[np.ndarray]:
    ps = [nn.Parameter(a.copy()) for a in _init()]
    opt = make(ps)
    for t in range(steps):
        if before_step is not None:
            before_step(t, opt)
        for p, g in zip(ps, _grads(t), strict=True):
            p.grad = cr.tensor(g)
        opt.step()
    return [p.data for p in ps]


def _sgd_by_hand(hyper: list[dict[str, Any]], steps: int = STEPS) -> list[np.ndarray]:
    """hyper[i]: lr, momentum, nesterov, weight_decay of parameter i (PyTorch's SGD)."""
    ps, bufs = _init(), [None] * len(SHAPES)
    for t in range(steps):
        for i, g in enumerate(_grads(t)):
            h = hyper[i]
            g = g + h["weight_decay"] * ps[i]
            if h["momentum"]:
                bufs[i] = g if bufs[i] is None else h["momentum"] * bufs[i] + g
                g = g + h["momentum"] * bufs[i] if h["nesterov"] else bufs[i]
            ps[i] = ps[i] - h["lr"] * g
    return ps


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14)


def test_sgd_groups_use_their_own_hyperparameters() -> None:
    got = _run(
        lambda ps: optim.SGD(
            [{"params": [ps[0]], "lr": 0.1}, {"params": ps[1:], "weight_decay": 0.0}],
            lr=0.01, momentum=0.9, weight_decay=0.05,
        )
    )  # fmt: skip
    a = {"lr": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 0.05}
    b = {"lr": 0.01, "momentum": 0.9, "nesterov": False, "weight_decay": 0.0}
    _same(got, _sgd_by_hand([a, b, b]))


def test_a_group_without_momentum_and_one_with_nesterov() -> None:
    got = _run(
        lambda ps: optim.SGD(
            [{"params": ps[:2], "momentum": 0.0}, {"params": [ps[2]], "nesterov": True}],
            lr=0.05, momentum=0.8,
        )
    )  # fmt: skip
    plain = {"lr": 0.05, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0}
    nest = {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.0}
    _same(got, _sgd_by_hand([plain, plain, nest]))


@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_groups(decoupled: bool) -> None:
    cls = optim.AdamW if decoupled else optim.Adam
    hyper = [
        {"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.1},
        {"lr": 0.03, "betas": (0.5, 0.9), "eps": 1e-3, "weight_decay": 0.0},
    ]
    got = _run(
        lambda ps: cls(
            [{"params": [ps[0]]}, {"params": ps[1:], "lr": 0.03, "betas": (0.5, 0.9),
                                   "eps": 1e-3, "weight_decay": 0.0}],
            lr=0.01, weight_decay=0.1,
        )
    )  # fmt: skip
    ps, m, v = _init(), [0.0] * 3, [0.0] * 3
    for t in range(1, STEPS + 1):
        for i, g in enumerate(_grads(t - 1)):
            h = hyper[0 if i == 0 else 1]
            (b1, b2), lr, wd = h["betas"], h["lr"], h["weight_decay"]
            if decoupled:
                ps[i] = ps[i] - lr * wd * ps[i]
            else:
                g = g + wd * ps[i]
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            mhat, vhat = m[i] / (1 - b1**t), v[i] / (1 - b2**t)
            ps[i] = ps[i] - lr * mhat / (np.sqrt(vhat) + h["eps"])
    _same(got, ps)


def test_rmsprop_groups() -> None:
    got = _run(
        lambda ps: optim.RMSprop([{"params": ps[:1], "alpha": 0.5}, {"params": ps[1:]}], lr=0.01)
    )
    ps, sq = _init(), [0.0] * 3
    for t in range(STEPS):
        for i, g in enumerate(_grads(t)):
            a = 0.5 if i == 0 else 0.99
            sq[i] = a * sq[i] + (1 - a) * g * g
            ps[i] = ps[i] - 0.01 * g / (np.sqrt(sq[i]) + 1e-8)
    _same(got, ps)


def test_editing_a_group_dict_takes_effect_at_the_next_step() -> None:
    lrs, mus = [0.1, 0.1, 0.02, 0.3], [0.9, 0.5, 0.5, 0.9]

    def edit(t: int, opt: Any) -> None:
        opt.param_groups[1]["lr"] = lrs[t]
        opt.param_groups[1]["momentum"] = mus[t]

    got = _run(
        lambda ps: optim.SGD([{"params": ps[:1]}, {"params": ps[1:]}], lr=0.1, momentum=0.9),
        before_step=edit,
    )
    # by hand, with the textbook buffer carried across the changes
    ps, bufs = _init(), [0.0] * 3
    for t in range(STEPS):
        for i, g in enumerate(_grads(t)):
            lr, mu = (0.1, 0.9) if i == 0 else (lrs[t], mus[t])
            bufs[i] = mu * bufs[i] + g
            ps[i] = ps[i] - lr * bufs[i]
    _same(got, ps)


def test_changing_adam_betas_keeps_the_textbook_moments() -> None:
    def edit(t: int, opt: Any) -> None:
        if t == 2:
            opt.param_groups[0]["betas"] = (0.5, 0.9)

    got = _run(lambda ps: optim.Adam(ps, lr=0.01), before_step=edit)
    ps, m, v = _init(), [0.0] * 3, [0.0] * 3
    for t in range(1, STEPS + 1):
        b1, b2 = (0.9, 0.999) if t <= 2 else (0.5, 0.9)
        for i, g in enumerate(_grads(t - 1)):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            ps[i] = ps[i] - 0.01 * (m[i] / (1 - b1**t)) / (np.sqrt(v[i] / (1 - b2**t)) + 1e-8)
    _same(got, ps)


def test_lr_property_reads_the_shared_value_and_sets_every_group() -> None:
    ps = [nn.Parameter(a.copy()) for a in _init()]
    opt = optim.SGD([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.5}], lr=0.1)
    with pytest.raises(AttributeError, match=r"different values \[0.1, 0.5\].*param_groups"):
        _ = opt.lr
    opt.lr = 0.2
    assert [g["lr"] for g in opt.param_groups] == [0.2, 0.2] and opt.lr == 0.2


@pytest.mark.parametrize(
    ("make_sched", "lr_at"),
    [
        (lambda o: optim.StepLR(o, step_size=2, gamma=0.5), lambda b, e: b * 0.5 ** (e // 2)),
        (
            lambda o: optim.CosineLR(o, T_max=4, eta_min=0.001),
            lambda b, e: 0.001 + (b - 0.001) * (1 + np.cos(np.pi * min(e, 4) / 4)) / 2,
        ),
    ],
)
def test_schedules_act_on_every_group_from_its_initial_lr(make_sched: Any, lr_at: Any) -> None:
    ps = [nn.Parameter(a.copy()) for a in _init()]
    opt = optim.SGD([{"params": ps[:1], "lr": 0.4}, {"params": ps[1:]}], lr=0.1)
    sched = make_sched(opt)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.4, 0.1]
    for epoch in range(1, 7):
        sched.step()
        want = [lr_at(0.4, epoch), lr_at(0.1, epoch)]
        assert [g["lr"] for g in opt.param_groups] == pytest.approx(want, rel=1e-12)
        assert sched.get_last_lr() == pytest.approx(want, rel=1e-12)
    # a group added later is scheduled from its own lr
    opt.add_param_group({"params": [nn.Parameter(np.zeros(2))], "lr": 1.0})
    sched.step()
    assert opt.param_groups[2]["lr"] == pytest.approx(lr_at(1.0, 7), rel=1e-12)


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: optim.SGD(
            [{"params": ps[:1], "lr": 0.2, "nesterov": True}, {"params": ps[1:],
             "momentum": 0.0}], lr=0.05, momentum=0.9, weight_decay=0.01),
        lambda ps: optim.Adam([{"params": ps[:2], "betas": (0.8, 0.99)}, {"params": ps[2:]}],
                              lr=0.01),
        lambda ps: optim.RMSprop([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.1}], lr=0.01),
    ],
)  # fmt: skip
def test_state_dict_round_trips_groups_bitwise(make: Any) -> None:
    straight = _run(make, steps=5)
    ps = [nn.Parameter(a.copy()) for a in _init()]
    opt = make(ps)
    sched = optim.StepLR(opt, step_size=1, gamma=0.7)
    for t in range(2):
        for p, g in zip(ps, _grads(t), strict=True):
            p.grad = cr.tensor(g)
        opt.step()
    state = opt.state_dict()
    n0 = len(opt.param_groups[0]["params"])  # groups list their parameters' indices
    assert [g["params"] for g in state["param_groups"]] == [list(range(n0)), list(range(n0, 3))]
    plain = json.loads(
        json.dumps({k: v for k, v in state.items() if k not in ("buffers", "stored")})
    )
    ps2 = [nn.Parameter(p.data.copy()) for p in ps]
    opt2 = make(ps2)
    opt2.param_groups[0]["lr"] = 123.0  # replaced by the state's
    opt2.load_state_dict({**plain, "buffers": state["buffers"], **(
        {"stored": state["stored"]} if "stored" in state else {})})  # fmt: skip
    assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in opt.param_groups]
    assert [g["initial_lr"] for g in opt2.param_groups] == [
        g["initial_lr"] for g in opt.param_groups
    ]
    assert sched.last_epoch == 0
    for t in range(2, 5):
        for p, g in zip(ps2, _grads(t), strict=True):
            p.grad = cr.tensor(g)
        opt2.step()
    for a, b in zip((p.data for p in ps2), straight, strict=True):
        assert np.array_equal(a, b)


def test_add_param_group_takes_the_defaults_and_its_own_values() -> None:
    w, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3))
    opt = optim.SGD([w], lr=0.1, momentum=0.9, weight_decay=0.01)
    opt.add_param_group({"params": b, "lr": 0.5})  # a lone Tensor is a group of one
    g = opt.param_groups[1]
    assert (g["lr"], g["momentum"], g["weight_decay"], g["nesterov"]) == (0.5, 0.9, 0.01, False)
    assert g["params"][0] is b
    b.grad = cr.tensor(np.ones(3))
    opt.step()
    np.testing.assert_allclose(b.data, 1 - 0.5 * (1 + 0.01))
    np.testing.assert_array_equal(w.data, 1.0)  # no gradient: skipped


def test_group_errors_are_clear() -> None:
    w, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3))
    with pytest.raises(
        ValueError,
        match=r"param_groups\[1\]: parameter 0 .* already in "
        r"param_groups\[0\]: a parameter may be in one group only",
    ):
        optim.SGD([{"params": [w]}, {"params": [w, b]}], lr=0.1)
    opt = optim.SGD([w], lr=0.1)
    with pytest.raises(ValueError, match="already in param_groups"):
        opt.add_param_group({"params": [w]})
    with pytest.raises(TypeError, match="not a mix"):
        optim.SGD([{"params": [w]}, b], lr=0.1)
    with pytest.raises(ValueError, match=r"unknown hyperparameters \['betas'\]"):
        optim.SGD([{"params": [w], "betas": (0.9, 0.9)}], lr=0.1)
    with pytest.raises(ValueError, match='has no "params"'):
        optim.Adam([{"lr": 0.1}])
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([{"params": []}])
    with pytest.raises(ValueError, match=r"param_groups\[0\] lr must be a number, got 'fast'"):
        optim.SGD([{"params": [w], "lr": "fast"}], lr=0.1)
    with pytest.raises(ValueError, match=r"betas must be a pair"):
        optim.Adam([{"params": [w], "betas": 0.9}])
    # a bad value written into a live dict is refused at the next step, before any update
    opt = optim.SGD([{"params": [w]}, {"params": [b]}], lr=0.1)
    w.grad, b.grad = cr.tensor(np.ones(2)), cr.tensor(np.ones(3))
    opt.param_groups[1]["lr"] = -1.0
    with pytest.raises(ValueError, match=r"SGD.step: param_groups\[1\] lr must be >= 0"):
        opt.step()
    assert (w.data == 1).all()
    opt.param_groups[1]["lr"] = 0.1
    opt.param_groups[0]["params"].append(nn.Parameter(np.ones(1)))
    with pytest.raises(ValueError, match="add_param_group"):
        opt.step()


def test_load_state_dict_refuses_other_groups() -> None:
    w, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3))
    two = optim.SGD([{"params": [w]}, {"params": [b]}], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="2 param groups, this optimizer 1"):
        optim.SGD([w, b], lr=0.1).load_state_dict(two)
    with pytest.raises(ValueError, match="param group 0 of the state has 1 parameters, this "
                       "optimizer's 2"):  # fmt: skip
        optim.SGD([{"params": [w, b]}, {"params": [nn.Parameter(np.ones(1))]}],
                  lr=0.1).load_state_dict(two)  # fmt: skip
    bad = {**two, "param_groups": [{**two["param_groups"][0], "lr": "x"}, two["param_groups"][1]]}
    with pytest.raises(ValueError, match="param group 0 lr must be a number"):
        optim.SGD([{"params": [w]}, {"params": [b]}], lr=0.1).load_state_dict(bad)


def test_a_state_from_before_param_groups_still_loads() -> None:
    # the one-group format: lr and the hyperparameters in "scalars"; schedules with base_lr
    w = nn.Parameter(np.ones(2))
    old = {
        "type": "SGD",
        "scalars": {"lr": 0.3, "steps": 4, "momentum": 0.9, "nesterov": False,
                    "weight_decay": 0.0, "buffer_scale": 0.9},
        "buffers": {"0.momentum_buffer": np.array([1.0, 2.0])},
    }  # fmt: skip
    opt = optim.SGD([w], lr=0.1, momentum=0.9)
    opt.load_state_dict(old)
    assert opt.lr == 0.3 and opt.steps == 4
    np.testing.assert_allclose(opt.state_dict()["buffers"]["0.momentum_buffer"], [1.0, 2.0])
    sched = optim.StepLR(opt, 1)
    sched.load_state_dict({"type": "StepLR", "base_lr": 0.3, "last_epoch": 2, "step_size": 1,
                           "gamma": 0.1})  # fmt: skip
    assert sched.base_lrs == [0.3]
