"""Optimizers against the textbook update computed by hand, over several steps; schedules.

Every test runs twice: with the one-pass BLAS updates (where NumPy has an OpenBLAS) and with
NumPy ufuncs only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import _blas, nn, optim

STEPS = 5


@pytest.fixture(autouse=True, params=["blas", "numpy"])
def update_path(request: pytest.FixtureRequest) -> Iterator[str]:
    previous = _blas.set_enabled(request.param == "blas")
    yield request.param
    _blas.set_enabled(previous)


def grads(step: int) -> list[np.ndarray]:
    rng = np.random.default_rng(100 + step)
    return [rng.standard_normal((3, 2)), rng.standard_normal(2)]


def run(opt_factory, init: list[np.ndarray]) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    params = [nn.Parameter(a.copy()) for a in init]
    opt = opt_factory(params)
    for t in range(STEPS):
        for p, g in zip(params, grads(t), strict=True):
            p.grad = cr.tensor(g)
        opt.step()
    return [p.data for p in params]


INIT = [
    np.random.default_rng(0).standard_normal((3, 2)),
    np.random.default_rng(1).standard_normal(2),
]


def by_hand(update) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    """Apply ``update(i, t, p, g, state) -> p`` for each parameter and step."""
    ps = [a.copy() for a in INIT]
    states: list[dict[str, np.ndarray]] = [{} for _ in ps]
    for t in range(STEPS):
        for i, g in enumerate(grads(t)):
            ps[i] = update(t + 1, ps[i], g, states[i])
    return ps


def assert_same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14)


def test_sgd_plain() -> None:
    assert_same(
        run(lambda ps: optim.SGD(ps, lr=0.1), INIT), by_hand(lambda t, p, g, s: p - 0.1 * g)
    )


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_sgd_momentum_nesterov_weight_decay(nesterov: bool, wd: float) -> None:
    lr, mu = 0.05, 0.9

    def update(t, p, g, s):  # type: ignore[no-untyped-def]
        g = g + wd * p
        s["v"] = mu * s.get("v", 0) + g
        d = g + mu * s["v"] if nesterov else s["v"]
        return p - lr * d

    got = run(lambda ps: optim.SGD(ps, lr, momentum=mu, nesterov=nesterov, weight_decay=wd), INIT)
    assert_same(got, by_hand(update))


def test_sgd_momentum_equals_cs231n_form() -> None:
    lr, mu = 0.05, 0.9

    def update(t, p, g, s):  # type: ignore[no-untyped-def]  # v = mu v - lr dx; x += v
        s["v"] = mu * s.get("v", 0) - lr * g
        return p + s["v"]

    assert_same(run(lambda ps: optim.SGD(ps, lr, momentum=mu), INIT), by_hand(update))


def test_rmsprop() -> None:
    lr, a, eps = 0.01, 0.9, 1e-8

    def update(t, p, g, s):  # type: ignore[no-untyped-def]
        s["v"] = a * s.get("v", 0) + (1 - a) * g * g
        return p - lr * g / (np.sqrt(s["v"]) + eps)

    assert_same(run(lambda ps: optim.RMSprop(ps, lr, alpha=a, eps=eps), INIT), by_hand(update))


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_adam_with_bias_correction(wd: float) -> None:
    lr, b1, b2, eps = 0.01, 0.8, 0.95, 1e-3  # eps large enough to matter

    def update(t, p, g, s):  # type: ignore[no-untyped-def]
        g = g + wd * p
        s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
        mhat, vhat = s["m"] / (1 - b1**t), s["v"] / (1 - b2**t)
        return p - lr * mhat / (np.sqrt(vhat) + eps)

    got = run(lambda ps: optim.Adam(ps, lr, (b1, b2), eps, weight_decay=wd), INIT)
    assert_same(got, by_hand(update))


def test_adamw_decoupled_decay() -> None:
    lr, b1, b2, eps, wd = 0.01, 0.9, 0.999, 1e-8, 0.1

    def update(t, p, g, s):  # type: ignore[no-untyped-def]
        p = p - lr * wd * p
        s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
        mhat, vhat = s["m"] / (1 - b1**t), s["v"] / (1 - b2**t)
        return p - lr * mhat / (np.sqrt(vhat) + eps)

    assert_same(run(lambda ps: optim.AdamW(ps, lr, weight_decay=wd), INIT), by_hand(update))
    assert optim.AdamW([nn.Parameter(np.zeros(1))]).weight_decay == 0.01


def test_step_updates_in_place_and_skips_missing_grads() -> None:
    w, b = nn.Parameter(np.ones(3)), nn.Parameter(np.ones(2))
    opt = optim.Adam([w, b], lr=0.1)
    data = w.data
    w.grad = cr.tensor(np.ones(3))
    opt.step()
    assert w.data is data and (w.data < 1).all()
    assert (b.data == 1).all()
    opt.zero_grad()
    assert w.grad is None


def test_step_invalidates_older_graphs() -> None:
    w = nn.Parameter(np.ones(2))
    y = (w * w).sum()
    w.grad = cr.tensor(np.ones(2))
    optim.SGD([w], lr=0.1).step()
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_optimizer_errors() -> None:
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    w = nn.Parameter(np.ones(2))
    with pytest.raises(ValueError, match="twice"):
        optim.SGD([w, w], lr=0.1)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([w], betas=(1.0, 0.9))
    with pytest.raises(TypeError, match="not a Tensor"):
        optim.SGD([np.zeros(2)], lr=0.1)
    w.grad = cr.tensor(np.ones(3))
    with pytest.raises(ValueError, match="gradient has shape"):
        optim.SGD([w], lr=0.1).step()


@pytest.mark.parametrize(
    "factory",
    [
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
        lambda ps: optim.RMSprop(ps, lr=0.01),
        lambda ps: optim.Adam(ps, lr=0.01),
        lambda ps: optim.AdamW(ps, lr=0.01),
    ],
)
def test_state_dict_resume_is_exact(factory) -> None:  # type: ignore[no-untyped-def]
    """Stopping after 2 steps, saving, restoring into a fresh optimizer and running 3 more
    equals 5 uninterrupted steps; the state is plain data (JSON scalars + ndarrays)."""
    import json

    straight = run(factory, INIT)
    params = [nn.Parameter(a.copy()) for a in INIT]
    opt = factory(params)
    for t in range(2):
        for p, g in zip(params, grads(t), strict=True):
            p.grad = cr.tensor(g)
        opt.step()
    state = opt.state_dict()
    scalars = json.loads(json.dumps(state["scalars"]))
    groups = json.loads(json.dumps(state["param_groups"]))
    assert all(isinstance(v, np.ndarray) for v in state["buffers"].values())
    params2 = [nn.Parameter(p.data.copy()) for p in params]
    opt2 = factory(params2)
    opt2.load_state_dict(
        {"type": state["type"], "scalars": scalars, "param_groups": groups,
         "buffers": state["buffers"]}
    )  # fmt: skip
    for t in range(2, STEPS):
        for p, g in zip(params2, grads(t), strict=True):
            p.grad = cr.tensor(g)
        opt2.step()
    assert_same([p.data for p in params2], straight)


def test_adam_state_dict_shows_textbook_moments() -> None:
    w = nn.Parameter(np.zeros(2))
    opt = optim.Adam([w], betas=(0.9, 0.99))
    w.grad = cr.tensor(np.array([1.0, -2.0]))
    opt.step()
    sd = opt.state_dict()
    np.testing.assert_allclose(sd["buffers"]["0.m"], [0.1, -0.2])
    np.testing.assert_allclose(sd["buffers"]["0.v"], [0.01, 0.04])
    assert sd["scalars"]["param_steps"] == [1]


def test_load_state_dict_errors() -> None:
    w = nn.Parameter(np.zeros(2))
    sd = optim.Adam([w]).state_dict()
    with pytest.raises(ValueError, match="'Adam'"):
        optim.SGD([w], lr=0.1).load_state_dict(sd)
    other = optim.Adam([nn.Parameter(np.zeros(3))])
    with pytest.raises(ValueError, match=r"buffer 0.m: shape \(2,\)"):
        other.load_state_dict(sd)
    two = optim.Adam([nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(2))])
    with pytest.raises(ValueError, match="param_steps"):
        two.load_state_dict(sd)


def test_step_lr() -> None:
    opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.5)
    sched = optim.StepLR(opt, step_size=3, gamma=0.5)
    lrs = []
    for _ in range(7):
        sched.step()
        lrs.append(opt.lr)
    assert lrs == pytest.approx([0.5, 0.5, 0.25, 0.25, 0.25, 0.125, 0.125])
    assert sched.get_last_lr() == [opt.lr]


def test_cosine_lr_and_state_round_trip() -> None:
    opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    sched = optim.CosineLR(opt, T_max=4, eta_min=0.1)
    got = []
    for _ in range(6):
        sched.step()
        got.append(opt.lr)
    want = [0.1 + 0.9 * (1 + np.cos(np.pi * min(t, 4) / 4)) / 2 for t in range(1, 7)]
    assert got == pytest.approx(want)
    opt2 = optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    sched2 = optim.CosineLR(opt2, T_max=1)
    sched2.load_state_dict(sched.state_dict())
    assert (sched2.last_epoch, sched2.T_max, sched2.eta_min) == (6, 4, 0.1)
    with pytest.raises(ValueError, match="StepLR"):
        optim.StepLR(opt2, 1).load_state_dict(sched.state_dict())
    with pytest.raises(ValueError, match="unknown keys \\['optimizer'\\]"):
        sched2.load_state_dict({**sched.state_dict(), "optimizer": "x"})
    assert sched2.optimizer is opt2


BIG = [(300, 500), (500,), (7, 3)]  # 150k elements: the step is split across threads


@pytest.mark.parametrize(
    "factory",
    [
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
        lambda ps: optim.RMSprop(ps, lr=0.01, weight_decay=0.1),
        lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.1),
        lambda ps: optim.AdamW(ps, lr=0.01),
    ],
)
def test_threaded_step_equals_single_thread(factory) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    init = [rng.standard_normal(s).astype(np.float32) for s in BIG]
    gs = [[rng.standard_normal(s).astype(np.float32) for s in BIG] for _ in range(3)]
    results = []
    for threads in (1, 2, 3):
        optim.set_num_threads(threads)
        try:
            ps = [nn.Parameter(a.copy()) for a in init]
            opt = factory(ps)
            opt._parallel_min = 0  # SGD keeps small models on one thread by default
            for step_grads in gs:
                for p, g in zip(ps, step_grads, strict=True):
                    p.grad = cr.tensor(g)
                opt.step()
            results.append([p.data.copy() for p in ps])
        finally:
            optim.set_num_threads(None)
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(a, b)  # the same passes, just on slices


def test_threaded_step_follows_replaced_data_and_non_contiguous_params() -> None:
    optim.set_num_threads(2)
    try:
        w = nn.Parameter(np.zeros((400, 400), np.float32))
        v = nn.Parameter(np.zeros((400, 300), np.float32).T)  # not C-contiguous: one job
        opt = optim.SGD([w, v], lr=1.0)
        opt._parallel_min = 0
        for p in (w, v):
            p.grad = cr.tensor(np.ones(p.shape, np.float32))
        opt.step()
        assert (w.data == -1).all() and (v.data == -1).all()
        w.data = np.full((400, 400), 5.0, np.float32)  # the user swapped the array
        w.grad = cr.tensor(np.ones((400, 400), np.float32))
        opt.step()
        assert (w.data == 4).all()
        w.data = np.zeros((2, 2), np.float32)
        w.grad = cr.tensor(np.ones((2, 2), np.float32))
        with pytest.raises(ValueError, match="changed shape"):
            opt.step()
    finally:
        optim.set_num_threads(None)


def test_set_num_threads_validates() -> None:
    with pytest.raises(ValueError, match="positive"):
        optim.set_num_threads(0)
    assert optim.get_num_threads() >= 1


def test_adam_state_dict_round_trip_is_bitwise() -> None:
    """Adam stores its moments scaled; state_dict keeps them as stored too, so an optimizer
    restored from it continues bitwise like the original (exact resume)."""
    rng = np.random.default_rng(0)
    p1 = nn.Parameter(rng.standard_normal(4096).astype(np.float32))
    p2 = nn.Parameter(p1.data.copy())
    a = optim.Adam([p1], lr=1e-2)
    for _ in range(3):
        p1.grad = cr.tensor(rng.standard_normal(4096).astype(np.float32))
        a.step()
    p2.data[...] = p1.data
    b = optim.Adam([p2], lr=1e-2)
    b.load_state_dict(a.state_dict())
    for _ in range(3):
        g = rng.standard_normal(4096).astype(np.float32)
        p1.grad, p2.grad = cr.tensor(g), cr.tensor(g.copy())
        a.step()
        b.step()
    assert np.array_equal(p1.data, p2.data)


@pytest.mark.parametrize(
    "factory", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), lambda ps: optim.Adam(ps, lr=0.1)]
)
def test_scalar_leaves_from_python_numbers_are_updated(factory) -> None:  # type: ignore[no-untyped-def]
    # cr.tensor(2.0) holds a NumPy scalar (immutable); an optimizer must still move it, also
    # after the user rebinds .data to another scalar (a 0-d op result)
    w = cr.tensor(2.0, requires_grad=True)
    ref = nn.Parameter(np.array(2.0, dtype=np.float32))
    opt, opt_ref = factory([w]), factory([ref])
    for step in range(3):
        for p, o in ((w, opt), (ref, opt_ref)):
            o.zero_grad()
            (p * p).backward()
            o.step()
        assert w.item() == ref.item() != 2.0
        if step == 0:
            with cr.no_grad():
                w.data = (w * 1.0).data
                ref.data = ref.data * np.float32(1.0)
            assert not isinstance(w.data, np.ndarray)


def test_sgd_momentum_changes_and_textbook_buffer() -> None:
    # SGD stores its buffer scaled by the momentum; a momentum changed between steps, turned
    # on later, and the exported buffer must all match the textbook update
    lr, mus = 0.05, [0.9, 0.9, 0.5, 0.0, 0.8]

    def textbook(nesterov: bool, start: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
        ps = [a.copy() for a in INIT]
        bufs = [np.zeros_like(a) for a in INIT]
        for t, mu in enumerate([start, *mus[1:]]):
            for i, g in enumerate(grads(t)):
                if mu == 0:
                    ps[i] = ps[i] - lr * g
                    continue
                bufs[i] = mu * bufs[i] + g
                ps[i] = ps[i] - lr * ((g + mu * bufs[i]) if nesterov else bufs[i])
        return ps, bufs

    for nesterov, start in ((True, 0.9), (False, 0.9), (False, 0.0)):
        params = [nn.Parameter(a.copy()) for a in INIT]
        opt = optim.SGD(params, lr=lr, momentum=start, nesterov=nesterov)
        for t, mu in enumerate([start, *mus[1:]]):
            opt.momentum = mu
            for p, g in zip(params, grads(t), strict=True):
                p.grad = cr.tensor(g)
            opt.step()
        want_p, want_buf = textbook(nesterov, start)
        assert_same([p.data for p in params], want_p)
        sd = opt.state_dict()
        assert_same([sd["buffers"][f"{i}.momentum_buffer"] for i in range(2)], want_buf)


@pytest.mark.parametrize(
    ("factory", "calls"),
    [
        (lambda ps: optim.SGD(ps, lr=0.1), 1),
        (lambda ps: optim.SGD(ps, lr=0.1, weight_decay=0.1), 1),
        (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), 2),
        (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True), 3),
        (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1), 4),
        (lambda ps: optim.RMSprop(ps), 2),
        (lambda ps: optim.Adam(ps), 3),
        (lambda ps: optim.AdamW(ps), 3),
    ],
)
def test_blas_path_is_taken_where_the_arrays_fit(
    factory: Any, calls: int, update_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    enabled = _blas.set_enabled(True)
    real = _blas.routines(np.float32)
    _blas.set_enabled(enabled)
    if real is None:
        pytest.skip("NumPy has no OpenBLAS here")
    made: list[str] = []
    original = _blas.routines

    def counting(dtype: Any) -> _blas.Routines | None:
        r = original(dtype)  # None where set_enabled(False)
        if r is None:
            return None
        return _blas.Routines(
            lambda *a: (made.append("axpy"), r.axpy(*a))[1],
            lambda *a: (made.append("axpby"), r.axpby(*a))[1],
        )

    monkeypatch.setattr(_blas, "routines", counting)
    w = nn.Parameter(np.ones((4, 3), np.float32))
    opt = factory([w])
    w.grad = cr.tensor(np.full((4, 3), 0.5, np.float32))
    opt.step()
    assert len(made) == (calls if update_path == "blas" else 0)
    # a gradient that is not C-contiguous, or of another dtype, takes the NumPy passes
    made.clear()
    before = w.data.copy()
    w.grad = cr.tensor(np.full((3, 4), 0.5, np.float32)).T
    opt.step()
    w.grad = cr.tensor(np.full((4, 3), 0.5, np.float64))
    opt.step()
    assert made == [] and not np.array_equal(w.data, before)
