"""Gradients of gradients: create_graph, grad, hvp, hessian, gradgradcheck.

Every expected value comes from outside the engine: a closed form, or central differences of
first derivatives computed in the test itself.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F  # noqa: N812 - the usual alias


def f64(a, requires_grad=True):
    return cr.tensor(np.array(a, dtype=np.float64), requires_grad=requires_grad)


def test_second_derivative_of_tanh_closed_form():
    xs = np.linspace(-2.0, 2.0, 9)
    x = f64(xs)
    (g,) = cr.grad(cr.tanh(x).sum(), x, create_graph=True)
    (h,) = cr.grad(g.sum(), x)
    t = np.tanh(xs)
    np.testing.assert_allclose(g.data, 1 - t**2, rtol=1e-12)
    np.testing.assert_allclose(h.data, -2 * t * (1 - t**2), rtol=1e-12, atol=1e-15)


def test_backward_create_graph_leaves_grad_with_a_graph():
    x = f64(1.5)
    (x**3).backward(create_graph=True)
    g = x.grad
    assert g.requires_grad and g.item() == pytest.approx(3 * 1.5**2)
    x.grad = None
    g.backward()
    assert x.grad.item() == pytest.approx(6 * 1.5)


def test_retain_graph_defaults_to_create_graph():
    x = f64(2.0)
    y = x * x
    y.backward(create_graph=True)
    y.backward(create_graph=True)  # the graph was kept: a second pass works
    assert x.grad.item() == pytest.approx(8.0)


def _sigmoid_neuron(w, x):
    """The lecture's neuron f = 1 / (1 + e^-(w0 x0 + w1 x1 + w2))."""
    return cr.sigmoid(w[0] * x[0] + w[1] * x[1] + w[2])


def test_hessian_of_the_lecture_sigmoid_neuron():
    x = np.array([-1.0, -2.0])
    w0 = np.array([2.0, -3.0, -3.0])
    hess = cr.hessian(lambda w: _sigmoid_neuron(w, x), f64(w0, requires_grad=False))
    # closed form: s'' * a a^T, with a = (x0, x1, 1), s'' = s (1 - s) (1 - 2 s)
    s = 1 / (1 + np.exp(-(w0[0] * x[0] + w0[1] * x[1] + w0[2])))
    a = np.array([x[0], x[1], 1.0])
    np.testing.assert_allclose(hess, s * (1 - s) * (1 - 2 * s) * np.outer(a, a), rtol=1e-10)
    assert s == pytest.approx(0.7310585786)  # the lecture's forward value 0.73


def test_hessian_of_squared_norm_of_wx_is_2_wt_w():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((4, 3))
    hess = cr.hessian(lambda x: ((cr.tensor(W) @ x) ** 2).sum(), f64(rng.standard_normal(3)))
    np.testing.assert_allclose(hess, 2 * W.T @ W, rtol=1e-12)


def test_hessian_of_softmax_cross_entropy():
    z0 = np.array([[2.0, 1.0, 0.1]])
    hess = cr.hessian(lambda z: F.cross_entropy(z, np.array([0])), f64(z0))
    p = np.exp(z0[0]) / np.exp(z0[0]).sum()
    np.testing.assert_allclose(hess[0, :, 0, :], np.diag(p) - np.outer(p, p), rtol=1e-10)


def test_hvp_equals_hessian_times_v():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((3, 3))

    def f(x):
        return (cr.tanh(cr.tensor(A) @ x) ** 2).sum()

    x0, v = rng.standard_normal(3), rng.standard_normal(3)
    hv = cr.hvp(f, f64(x0, requires_grad=False), f64(v, requires_grad=False))
    np.testing.assert_allclose(hv.data, cr.hessian(f, f64(x0)) @ v, rtol=1e-10)
    # and against central differences of the gradient (independent of double backward)
    eps = 1e-6

    def grad_at(p):
        t = f64(p)
        return cr.grad(f(t), t)[0].data

    fd = (grad_at(x0 + eps * v) - grad_at(x0 - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hv.data, fd, rtol=1e-6, atol=1e-8)


def test_hvp_errors_name_the_mismatch():
    with pytest.raises(ValueError, match=r"v\[0\] has shape \(2,\) but x\[0\] has shape \(3,\)"):
        cr.hvp(lambda t: t.sum(), f64(np.ones(3)), np.ones(2))
    with pytest.raises(ValueError, match="scalar"):
        cr.hvp(lambda t: t * 2, f64(np.ones(3)), np.ones(3))


def _mlp():
    nn.init.seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 3))
    return model.double()


def test_double_backward_through_mlp_batchnorm_and_cross_entropy():
    model = _mlp()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 4))
    y = np.array([0, 1, 2, 1, 0])
    params = list(model.parameters())
    v = [rng.standard_normal(p.shape) for p in params]
    hv = cr.hvp(lambda *ps: F.cross_entropy(model(cr.tensor(x)), y), params, v)

    def flat_grad(shift):
        with cr.no_grad():
            for p, d in zip(params, v, strict=True):
                p.data += shift * d
        model.zero_grad()
        F.cross_entropy(model(cr.tensor(x)), y).backward()
        g = [p.grad.data.copy() for p in params]
        with cr.no_grad():
            for p, d in zip(params, v, strict=True):
                p.data -= shift * d
        return g

    eps = 1e-5
    plus, minus = flat_grad(eps), flat_grad(-eps)
    for h, a, b in zip(hv, plus, minus, strict=True):
        np.testing.assert_allclose(h.data, (a - b) / (2 * eps), rtol=1e-4, atol=1e-7)


def test_gradient_penalty_by_finite_differences():
    """loss + ||d loss / d x||^2 (a WGAN-GP style penalty): its gradient w.r.t. the weights."""
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal((3, 4))
    W0 = rng.standard_normal((4, 2)) * 0.5

    def total(W):
        x = f64(x0)
        loss = (cr.tanh(x @ W) ** 2).sum()
        (gx,) = cr.grad(loss, x, create_graph=True)
        return loss + (gx * gx).sum()

    W = f64(W0)
    (gW,) = cr.grad(total(W), W)
    num = np.zeros_like(W0)
    eps = 1e-6
    for idx in np.ndindex(W0.shape):
        d = np.zeros_like(W0)
        d[idx] = eps
        num[idx] = (total(f64(W0 + d)).item() - total(f64(W0 - d)).item()) / (2 * eps)
    np.testing.assert_allclose(gW.data, num, rtol=1e-5, atol=1e-8)


def test_one_inner_maml_step_through_an_mlp():
    """Outer loss after one inner SGD step; its gradient w.r.t. the initial weights."""
    rng = np.random.default_rng(4)
    xs, ys = rng.standard_normal((6, 3)), rng.standard_normal((6, 1))
    xq, yq = rng.standard_normal((4, 3)), rng.standard_normal((4, 1))
    nn.init.seed(1)
    net = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1)).double()
    params = list(net.parameters())
    init = [p.data.copy() for p in params]
    lr = 0.1

    def forward(ps, x):
        h = cr.tanh(cr.tensor(x) @ ps[0] + ps[1])
        return h @ ps[2] + ps[3]

    def outer(ps):
        inner = F.mse_loss(forward(ps, xs), cr.tensor(ys))
        grads = cr.grad(inner, ps, create_graph=True)
        adapted = [p - lr * g for p, g in zip(ps, grads, strict=True)]
        return F.mse_loss(forward(adapted, xq), cr.tensor(yq))

    analytic = cr.grad(outer(params), params)
    eps = 1e-6
    for k, (p, a) in enumerate(zip(init, analytic, strict=True)):
        num = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            vals = []
            for s in (eps, -eps):
                q = [f64(v) for v in init]
                q[k].data[idx] += s
                vals.append(outer(q).item())
            num[idx] = (vals[0] - vals[1]) / (2 * eps)
        np.testing.assert_allclose(a.data, num, rtol=1e-5, atol=1e-8)


class _NotTwice(cr.Function):
    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, dout):
        return 2 * dout * self.x


def test_user_function_without_the_flag_is_refused_under_create_graph():
    x = f64(1.0)
    with pytest.raises(RuntimeError, match=r"_NotTwice\.backward is not differentiable"):
        cr.grad(_NotTwice.apply(x), x, create_graph=True)
    (g,) = cr.grad(_NotTwice.apply(x), x)  # first derivatives are unaffected
    assert g.item() == 2.0


class _Square(cr.Function):
    differentiable_backward = True

    def forward(self, x):
        self.x = x  # cached as given: under create_graph the engine hands the Tensor
        return x * x

    def backward(self, dout):
        return 2 * dout * self.x


def test_user_function_with_the_flag_is_twice_differentiable():
    x = f64([0.5, -2.0])
    assert cr.gradgradcheck(lambda t: _Square.apply(t), x)
    (g,) = cr.grad(_Square.apply(x).sum(), x, create_graph=True)
    (h,) = cr.grad(g.sum(), x)
    np.testing.assert_array_equal(h.data, [2.0, 2.0])


class _StaleCache(cr.Function):
    """Right first derivative, but it caches a derived array (x^2) that create_graph would
    take as a constant: the second derivative comes out 0 instead of 6x."""

    differentiable_backward = True

    def forward(self, x):
        self.sq = x * x
        return self.sq * x

    def backward(self, dout):
        return 3 * dout * self.sq


def test_gradgradcheck_fails_on_a_rule_whose_graph_is_wrong():
    x = f64([0.7, -1.2])
    assert cr.gradcheck(lambda t: _StaleCache.apply(t), x)  # first derivatives are right
    with pytest.raises(cr.GradcheckError, match="second derivatives"):
        cr.gradgradcheck(lambda t: _StaleCache.apply(t), x)


def test_hooks_see_the_tensor_gradient_under_create_graph():
    x = f64(2.0)
    seen = []
    x.register_hook(lambda g: seen.append(g.requires_grad))
    (x**3).backward(create_graph=True)
    assert seen == [True]


def test_observers_see_every_step():
    x = f64(3.0)
    y = f64(4.0)
    steps = []

    class Record(cr.engine.Observer):
        def step(self, node, dout, dins):
            steps.append((type(node).__name__, float(dout), [d and float(d) for d in dins]))

    with cr.engine.observe(Record()):
        (2 * (x * y)).backward()
    # 2 * h: the constant 2 needs no gradient; h = x * y: mul swaps and scales
    assert steps == [("Mul", 1.0, [None, 2.0]), ("Mul", 2.0, [8.0, 6.0])]
