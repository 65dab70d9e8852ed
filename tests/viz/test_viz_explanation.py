"""explain(y): the lecture's four worked examples give the slides' numbers, in the data and in
the text; nothing in the user's graph is touched; fan-out, freed graphs, names, NaN provenance."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.viz import explain_expression

NEURON = "1/(1+exp(-(w0*x0+w1*x1+w2)))"
NEURON_AT = {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3}


def _leaves(**values):
    out = []
    for name, v in values.items():
        t = cr.tensor(v, requires_grad=True, dtype="float64")
        t.name = name
        out.append(t)
    return out


def test_add_mul_example_gives_slide_numbers():
    x, y, z = _leaves(x=-2.0, y=5.0, z=-4.0)
    q = x + y
    f = q * z
    e = cr.explain(f)
    assert {k: float(v) for k, v in e.gradients.items()} == {"x": -4.0, "y": -4.0, "z": 3.0}
    assert [n.name for n in e.nodes] == ["x", "y", "q", "z", "f"]  # the caller's names
    assert float(e.node("q").value) == 3.0 and float(e.node("f").value) == -12.0
    text = str(e)
    assert "q = x + y: add distributes" in text
    assert "to z: upstream 1.00, local q = 3.00 (the other input), downstream 3.00" in text
    assert "to x: upstream -4.00, local 1, downstream -4.00" in text
    assert "df/dx = -4.00" in text and "df/dz = 3.00" in text
    # the backward steps come in the order backprop runs: f's gate before q's
    order = [e.nodes[s.node].name for s in e.steps if s.kind == "backward" and s.node is not None]
    assert order == ["f", "q"]


def test_sigmoid_neuron_gives_slide_numbers():
    e = explain_expression(NEURON, NEURON_AT)
    text = str(e)
    for forward in ("1.37", "0.73", "0.37", "-1.00"):
        assert forward in text
    assert "local -1/x^2 at x = 1.37 is -0.53, downstream -0.53" in text
    assert "upstream -0.53, local e^x at x = -1.00 is 0.37, downstream -0.20" in text
    assert "to t: upstream -0.20, local -1, downstream 0.20" in text
    expected = {"w0": -0.20, "x0": 0.39, "w1": -0.39, "x1": -0.59, "w2": 0.20}
    for name, g in expected.items():
        assert f"df/d{name} = {g:.2f}" in text
        assert round(float(e.gradients[name]), 2) == g
    assert round(float(e.output.value), 2) == 0.73


def test_sigmoid_neuron_agrees_with_backward():
    w0, x0, w1, x1, w2 = _leaves(**{k: float(v) for k, v in NEURON_AT.items()})
    f = 1 / (1 + cr.exp(-(w0 * x0 + w1 * x1 + w2)))
    e = cr.explain(f)
    f.backward()
    for t in (w0, x0, w1, x1, w2):
        assert e.gradients[t.name] == pytest.approx(t.grad.item(), abs=1e-12)


def test_max_example_routes():
    e = explain_expression("2*(x*y+max(z,w))", {"x": 3, "y": -4, "z": 2, "w": -1})
    assert {k: float(v) for k, v in e.gradients.items()} == {"x": -8, "y": 6, "z": 2, "w": 0}
    text = str(e)
    assert "max routes" in text and "mul swaps and scales" in text and "add distributes" in text
    assert "local 1 (z = 2.00 is the larger)" in text
    assert "local 0 (w = -1.00 is not the larger)" in text
    assert "df/dw = 0.00" in text


def test_vectorized_wx_example():
    W = cr.tensor([[0.1, 0.5], [-0.3, 0.8]], requires_grad=True, dtype="float64")
    x = cr.tensor([0.2, 0.4], requires_grad=True, dtype="float64")
    f = ((W @ x) ** 2).sum()
    e = cr.explain(f)
    np.testing.assert_allclose(e.gradients["W"], [[0.088, 0.176], [0.104, 0.208]], atol=1e-12)
    np.testing.assert_allclose(e.gradients["x"], [-0.112, 0.636], atol=1e-12)
    text = str(e)
    assert "dW = [[0.088, 0.176], [0.104, 0.208]]" in text
    assert "dx = [-0.112, 0.636]" in text
    assert "[0.440, 0.520]" in text  # 2q, the slide's df/dq


def test_user_grads_and_graph_untouched():
    x, y = _leaves(x=2.0, y=3.0)
    f = x * y + x
    cr.explain(f)
    cr.explain(f)
    assert x.grad is None and y.grad is None
    f.backward()  # the graph was not freed by explaining it
    assert x.grad.item() == 4.0 and y.grad.item() == 2.0


def test_fan_out_branches_add():
    (a,) = _leaves(a=3.0)
    b = a * a
    e = cr.explain(b)
    assert float(e.gradients["a"]) == 6.0
    assert "3.00 + 3.00 = 6.00 (where a value fans out, the branches add)" in str(e)
    # an intermediate that fans out: its upstream is the sum of its branches
    c = a + 1
    d = c * 2 + c * 3
    e = cr.explain(d)
    step = next(s for s in e.steps if s.kind == "backward" and s.node == e.node("c").index)
    assert len(step.branches) == 2 and float(step.upstream) == 5.0
    assert "2.00 (from" in step.text and "3.00 (from" in step.text and "= 5.00" in step.text


def test_edges_carry_per_branch_gradients():
    (a,) = _leaves(a=3.0)
    e = cr.explain(a * a + a)
    into_a = sorted(float(ed.grad) for ed in e.edges if ed.source == e.node("a").index)
    assert into_a == [1.0, 3.0, 3.0]
    assert sum(into_a) == float(e.gradients["a"])
    out_edge = [ed for ed in e.edges if ed.target is None]
    assert len(out_edge) == 1 and float(out_edge[0].grad) == 1.0


def test_freed_graph_is_said_clearly():
    x, y = _leaves(x=2.0, y=3.0)
    f = x * y
    f.backward()
    e = cr.explain(f)
    assert "already ran through this graph" in str(e) and "retain_graph=True" in str(e)
    assert float(e.output.value) == 6.0  # the forward pass is still there
    x.grad = None
    g = x * y
    g.backward(retain_graph=True)
    assert float(cr.explain(g).gradients["x"]) == 3.0


def test_unnamed_tensors_get_lecture_names():
    e = cr.explain(cr.tensor(2.0, requires_grad=True) * 3 + 1, names={})
    names = [n.name for n in e.nodes]
    assert names[-1] == "f" and len(set(names)) == len(names)
    assert names[1:-1] == ["r", "s"][: len(names) - 2]


def test_many_unnamed_nodes_are_numbered():
    t = cr.tensor(0.5, requires_grad=True)
    for _ in range(30):
        t = t * 1.01
    e = cr.explain(t, names={})
    assert "n1" in [n.name for n in e.nodes] and e.nodes[-1].name == "f"


def test_non_scalar_output_needs_gradient():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="gradient"):
        cr.explain(x * 2)
    e = cr.explain(x * 2, gradient=np.array([1.0, -1.0], dtype=np.float32))
    np.testing.assert_allclose(e.gradients["x"], [2.0, -2.0])


def test_user_function_is_explained_by_its_backward():
    class Cube(cr.Function):
        def forward(self, x):
            self.x = x
            return x**3

        def backward(self, dout):
            return dout * 3 * self.x**2

    (x,) = _leaves(x=2.0)
    e = cr.explain(Cube.apply(x))
    assert e.output.op == "Cube" and float(e.gradients["x"]) == 12.0
    assert "local 12.00 (from Cube.backward)" in str(e)


def test_forward_nan_is_marked_where_it_first_appeared():
    (x,) = _leaves(x=-1.0)
    with np.errstate(invalid="ignore"):
        f = cr.exp(cr.sqrt(x * 2) + 1)
    e = cr.explain(f)
    bad = e.anomaly
    assert bad is not None and bad.op == "Sqrt"
    assert "nan first appeared here" in bad.anomaly
    assert [n.name for n in e.nodes if n.anomaly] == [bad.name]  # only the first
    assert f"!! {bad.name} = sqrt(" in str(e)


def test_detect_anomaly_error_is_explained():
    (x,) = _leaves(x=0.0)
    with pytest.raises(cr.AnomalyError) as info, cr.detect_anomaly():
        cr.log(x * 3)
    e = cr.explain(info.value)
    assert e.output.op == "Log" and e.anomaly is e.output
    assert "-inf" in str(e) and "forward pass stopped" in str(e)


def test_backward_anomaly_is_marked():
    (x,) = _leaves(x=0.0)
    f = cr.sqrt(x) * 0  # forward finite, backward: 0 * inf = nan inside Sqrt's backward
    e = cr.explain(f)
    assert e.anomaly is not None and e.anomaly.op == "Sqrt"
    assert "backward pass" in e.anomaly.anomaly
    with pytest.raises(cr.AnomalyError) as info, cr.detect_anomaly():
        f.backward(retain_graph=True)
    e = cr.explain(f, anomaly=info.value)
    assert e.anomaly is not None and e.anomaly.op == "Sqrt"


def test_anomaly_shows_in_the_pictures():
    (x,) = _leaves(x=-1.0)
    with np.errstate(invalid="ignore"):
        f = cr.log(x) + 1
    svg = cr.explain(f).to_svg()
    assert 'class="node gate anomaly"' in svg and 'stroke="#d50000"' in svg


def test_jupyter_reprs():
    e = explain_expression("(x+y)*z", {"x": -2, "y": 5, "z": -4})
    assert e._repr_svg_().startswith("<svg")
    html = e._repr_html_()
    assert "<svg" in html and "df/dx = -4.00" in html
    assert "Explanation of f = (x+y)*z" in repr(e) or "3 inputs" in repr(e) or "5 nodes" in repr(e)


def test_to_dict_is_json():
    import json

    e = explain_expression(NEURON, NEURON_AT)
    d = json.loads(json.dumps(e.to_dict()))
    assert len(d["steps"]) == len(e.steps) and len(d["edges"]) == len(e.edges)
    assert d["nodes"][-1]["value"] == "0.73"


def test_explain_refuses_non_tensors():
    with pytest.raises(TypeError, match="Tensor"):
        cr.explain(3.0)
    with pytest.raises(KeyError, match="no node named"):
        explain_expression("x*2", {"x": 1}).node("nope")


def test_backward_steps_come_in_the_engines_order():
    w0, x0, w1, x1, w2 = _leaves(w0=2.0, x0=-1.0, w1=-3.0, x1=-2.0, w2=-3.0)
    a = w0 * x0
    b = w1 * x1
    c = a + b + w2
    d = cr.exp(-c)
    f = 1 / (1 + d) + c * 0.5  # c fans out
    ran: list[str] = []
    named = {"a": a, "b": b, "c": c, "d": d, "f": f}
    for name, t in named.items():
        t.register_hook(lambda g, name=name: ran.append(name))
    e = cr.explain(f, names={**named, "w0": w0, "x0": x0, "w1": w1, "x1": x1, "w2": w2})
    in_explain = list(ran)  # explain runs the engine's walk, so the hooks run there too
    ran.clear()
    f.backward()
    steps = [e.nodes[s.node].name for s in e.steps if s.kind == "backward" and s.node is not None]
    assert [s for s in steps if s in named] == ran == in_explain
    assert {n: float(e.gradients[n]) for n in e.gradients} == pytest.approx(
        {t.name: t.grad.item() for t in (w0, x0, w1, x1, w2)}
    )


def test_broadcast_input_gradient_is_summed_back_and_said_so():
    x = cr.tensor([1.0, 2.0], requires_grad=True, dtype="float64")
    b = cr.tensor(0.5, requires_grad=True, dtype="float64")
    e = cr.explain((x * b).sum())
    assert float(e.gradients["b"]) == 3.0
    assert "downstream 3.000 (summed from (2,) back to (): it was broadcast)" in str(e)


def test_grouped_sigmoid_gate_as_on_the_slide():
    e = explain_expression(
        "sigmoid(w0*x0+w1*x1+w2)", {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3}
    )
    assert "at x = 1.00: (1 - 0.73) * 0.73 = 0.20, downstream 0.20" in str(e)
    assert {k: round(float(v), 2) for k, v in e.gradients.items()} == {
        "w0": -0.20,
        "x0": 0.39,
        "w1": -0.39,
        "x1": -0.59,
        "w2": 0.20,
    }
    assert round(float(e.values["f"]), 2) == 0.73
    assert set(e.node_gradients) == {n.name for n in e.nodes}


# -- one walk: the explanation's numbers are backward()'s -----------------------------------------


def _engine_grads(f, *leaves):
    """What backward() gives each leaf (on a retained graph, so it can be explained after)."""
    f.backward(retain_graph=True)
    out = {t.name: t.grad.data.copy() for t in leaves}
    for t in leaves:
        t.grad = None
    return out


def test_a_hook_that_zeroes_the_gradient_shows_in_the_explanation():
    x, y = _leaves(x=3.0, y=4.0)
    h = x * y
    h.register_hook(lambda g: g * 0)
    f = 2 * h
    e = cr.explain(f)
    assert float(e.gradients["x"]) == 0.0 and float(e.gradients["y"]) == 0.0  # not 8 and 6
    assert float(e.node("h").grad) == 0.0
    assert "upstream df/dh = 2.00 (from f) = 2.00, 0.00 after its hooks" in str(e)
    assert "to x: upstream 0.00, local y = 4.00 (the other input), downstream 0.00" in str(e)
    assert x.grad is None and y.grad is None  # explain writes no .grad
    assert {k: float(v) for k, v in e.gradients.items()} == _engine_grads(f, x, y)


def test_a_leaf_hook_shows_in_the_leafs_gradient():
    x, y = _leaves(x=3.0, y=4.0)
    x.register_hook(lambda g: g * 10)
    f = x * y + x
    e = cr.explain(f)
    assert float(e.gradients["x"]) == 50.0
    assert "df/dx = 1.00 + 4.00 = 5.00, 50.00 after its hooks" in str(e)
    assert {k: float(v) for k, v in e.gradients.items()} == _engine_grads(f, x, y)


def test_retain_grad_matches_and_is_left_untouched():
    x, y = _leaves(x=3.0, y=4.0)
    h = x * y
    h.retain_grad()
    h.register_hook(lambda g: g + 1)
    f = h * h
    e = cr.explain(f)
    assert h.grad is None  # explain restored what retain_grad() filled on the way
    f.backward()
    assert float(e.node("h").grad) == h.grad.item() == 25.0  # 2h + 1, after the hook
    assert float(e.gradients["x"]) == x.grad.item()


def test_fan_out_sums_as_the_engine_does():
    (a,) = _leaves(a=1.5)
    b = a + a
    b.retain_grad()
    c = b * b
    e = cr.explain(c)
    assert "to a: upstream 6.00, local 1, downstream 6.00" in str(e)
    assert "dc/da = 6.00 + 6.00 = 12.00 (where a value fans out, the branches add)" in str(e)
    c.backward()
    assert float(e.node("b").grad) == b.grad.item() == 6.0
    assert float(e.gradients["a"]) == a.grad.item() == 12.0


def _same_error(f):
    with pytest.raises(RuntimeError) as from_explain:
        cr.explain(f)
    with pytest.raises(RuntimeError) as from_backward:
        f.backward()
    assert "modified in place" in str(from_explain.value)
    assert type(from_explain.value) is type(from_backward.value)
    assert str(from_explain.value) == str(from_backward.value)


def test_an_input_changed_in_place_raises_as_backward_does():
    (w,) = _leaves(w=[1.0, 2.0])
    a = cr.tensor([3.0, 4.0], dtype="float64")  # saved by the mul for dw
    f = (w * a).sum()
    a += 1
    _same_error(f)


def test_an_output_changed_in_place_raises_as_backward_does():
    (x,) = _leaves(x=[0.5, -1.0])
    y = x.exp()  # Exp saves its output for backward
    y.detach().add_(1.0)
    _same_error(y.sum())


def test_a_backward_in_another_thread_is_not_in_the_explanation():
    import threading

    x, y = _leaves(x=3.0, y=4.0)
    other = x * y
    f = x + y
    started, release = threading.Event(), threading.Event()

    def hook(g):  # the explanation's walk pauses here while another thread runs a backward
        started.set()
        release.wait(5)
        return g

    f.register_hook(hook)
    worker = threading.Thread(target=lambda: (started.wait(5), other.backward(), release.set()))
    worker.start()
    e = cr.explain(f)
    worker.join()
    assert [
        e.nodes[s.node].name for s in e.steps if s.kind == "backward" and s.node is not None
    ] == ["f"]
    assert float(e.gradients["x"]) == 1.0 and x.grad.item() == 4.0
