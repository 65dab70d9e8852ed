"""Graphs of networks collapse into one node per module call (viz.modules): shapes and gradient
norms that equal the true gradients', qualified names, every gate on request; and the tag that
Module.__call__ leaves on its output's node (no node added, no gradient changed)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F  # noqa: N812
from chainrule.nn import module as module_mod
from chainrule.viz import layout

SVG_NS = "{http://www.w3.org/2000/svg}"


class Net(nn.Module):
    """A 2-layer MLP held as ``self.layers``, so its modules are named ``layers.0`` ..."""

    def __init__(self, sizes: list[int]) -> None:
        super().__init__()
        self.layers = nn.MLP(sizes, rng=np.random.default_rng(0))

    def forward(self, x):
        return self.layers(x)


def _batch(n: int = 6, d: int = 4):
    rng = np.random.default_rng(1)
    X = cr.tensor(rng.normal(size=(n, d)).astype(np.float32))
    X.name = "X"
    return X, rng.integers(0, 3, size=n)


def _network():
    net = Net([4, 8, 3])
    X, y = _batch()
    h0 = net.layers[0](X)  # the same calls Sequential makes, kept to compare gradients
    h1 = net.layers[1](h0)
    logits = net.layers[2](h1)
    loss = F.cross_entropy(logits, y)
    return net, X, (h0, h1, logits), loss


def _norm_of(text: str) -> float:
    return float(text.rsplit(" ", 1)[-1].rstrip(">"))


def _close_norm(text: str, g) -> None:
    """A formatted norm (3 decimals) matches the norm of the true gradient."""
    assert abs(_norm_of(text) - float(np.linalg.norm(g.data))) <= 5e-4 + 1e-6


def test_mlp_collapses_to_one_node_per_module_with_true_gradients():
    net, _, hs, loss = _network()
    e = cr.explain(loss, model=net)
    assert e.collapsed
    boxes = [n for n in e.nodes if n.is_module]
    assert [n.name for n in boxes] == ["layers.0", "layers.1", "layers.2"]
    assert [n.label for n in boxes] == ["Linear(4 -> 8)", "ReLU", "Linear(8 -> 3)"]
    assert boxes[0].module == "Linear(in_features=4, out_features=8, bias=True)"
    gates = [n.op for n in e.nodes if not n.is_input and not n.is_module]
    assert gates == ["CrossEntropy"]  # the loss is no module: it stays a gate
    params = dict(net.named_parameters())
    assert [n.name for n in e.inputs] == ["X", *params]  # layers.0.weight ...

    true = cr.grad(loss, [*hs, *params.values()], retain_graph=True)
    for box, h, g in zip(boxes, hs, true[:3], strict=True):
        assert box.shape == h.shape
        np.testing.assert_allclose(box.grad, g.data, rtol=1e-6, atol=1e-7)
        assert box.caption[0] == "out " + "x".join(map(str, h.shape))
        _close_norm(box.caption[1], g)
    for (name, _), g in zip(params.items(), true[3:], strict=True):
        np.testing.assert_allclose(e.gradients[name], g.data, rtol=1e-6, atol=1e-7)
    # each edge: the source's shape, and the gradient flowing along it
    by_name = {n.name: n for n in e.nodes}
    into_l2 = {
        e.nodes[ed.source].name: ed for ed in e.edges if ed.target == by_name["layers.2"].index
    }
    assert list(into_l2) == ["layers.1", "layers.2.weight", "layers.2.bias"]
    np.testing.assert_allclose(into_l2["layers.1"].grad, true[1].data, rtol=1e-6, atol=1e-7)
    value, grad = layout.edge_labels(e, into_l2["layers.1"])
    assert value == "shape (6, 8)"
    _close_norm(grad, true[1])
    into_x = [ed for ed in e.edges if ed.source == by_name["X"].index]
    assert len(into_x) == 1 and into_x[0].grad is None  # X needs no gradient


def test_names_come_from_the_outermost_module_without_model():
    net = Net([4, 8, 3])
    X, y = _batch()
    e = cr.explain(F.cross_entropy(net(X), y))
    assert [n.name for n in e.nodes if n.is_module] == ["layers.0", "layers.1", "layers.2"]
    assert "layers.0.weight" in e.gradients
    mlp = nn.MLP([4, 8, 3])  # a Sequential's children are 0, 1, 2: named after the root
    e = cr.explain(F.cross_entropy(mlp(X), y), model=mlp)
    assert [n.name for n in e.nodes if n.is_module] == ["mlp.0", "mlp.1", "mlp.2"]
    lone = nn.Linear(4, 3)  # no container at all: named by class and call
    e = cr.explain(F.cross_entropy(lone(X), y))
    assert [n.name for n in e.nodes if n.is_module] == ["linear1"]
    assert set(e.gradients) == {"linear1.weight", "linear1.bias"}


def test_collapsed_text_lists_module_steps_with_norms():
    net, _, hs, loss = _network()
    e = cr.explain(loss, model=net)
    text = str(e)
    assert "one node per module call" in text
    (g2,) = cr.grad(loss, [hs[2]], retain_graph=True)
    step = next(s for s in e.steps if s.kind == "backward" and s.node == e.node("layers.2").index)
    lines = step.text.splitlines()
    assert lines[0] == (
        "layers.2 = Linear(layers.1, layers.2.weight, layers.2.bias): "
        "module Linear(8 -> 3) (1 gate), backward as one step"
    )
    assert lines[1].startswith("  upstream dloss/dlayers.2 = <shape (6, 3), norm ")
    _close_norm(lines[1], g2)
    assert [ln.split(":")[0].strip() for ln in lines[2:]] == [
        "to layers.1",
        "to layers.2.weight",
        "to layers.2.bias",
    ]
    assert [e.nodes[t.input].name for t in step.terms] == [
        "layers.1",
        "layers.2.weight",
        "layers.2.bias",
    ]
    # backprop order: the loss, then the modules from the last to the first
    order = [e.nodes[s.node].name for s in e.steps if s.kind == "backward" and s.node is not None]
    assert order == ["loss", "layers.2", "layers.1", "layers.0"]
    assert "[" not in text.split("Backward pass")[1]  # norms, never a list of numbers


def test_svg_png_html_use_the_collapsed_graph(tmp_path):
    net, _, _, loss = _network()
    e = cr.explain(loss, model=net)
    root = ET.fromstring(e.to_svg())
    boxes = [g for g in root.iter(f"{SVG_NS}g") if g.get("class") == "node module"]
    assert [g.get("data-name") for g in boxes] == ["layers.0", "layers.1", "layers.2"]
    for g, n in zip(boxes, [n for n in e.nodes if n.is_module], strict=True):
        labels = [
            t.text for t in g.iter(f"{SVG_NS}text") if "label" in (t.get("class") or "").split()
        ]
        assert labels == [n.label, *n.caption]
        names = [t.text for t in g.iter(f"{SVG_NS}text") if t.get("class") == "name"]
        assert names == [n.name]
    edges = [g for g in root.iter(f"{SVG_NS}g") if g.get("class") == "edge"]
    assert len(edges) == len(e.edges)
    for g, ed in zip(edges, e.edges, strict=True):
        texts = {t.get("class"): t.text for t in g.iter(f"{SVG_NS}text")}
        value, grad = layout.edge_labels(e, ed)
        assert texts["value"] == value and texts.get("grad", "") == grad
        if ed.value.size > 1:
            assert value == f"shape {ed.value.shape}"
            assert grad == (
                "" if ed.grad is None else f"|grad| {e.format(np.linalg.norm(ed.grad))}"
            )
    e.to_png(str(tmp_path / "net.png"))
    assert (tmp_path / "net.png").read_bytes()[:4] == b"\x89PNG"
    page = e.to_html()
    assert 'class="node module"' in page and '"module": "Linear(in_features=4' in page
    with pytest.raises(ValueError, match=r"layers\.0 is a module call"):
        e.jacobian("layers.0")
    assert e.jacobian("loss").node.name == "loss"  # the loss is still a gate


def test_collapse_false_gives_every_gate():
    net, _, _, loss = _network()
    e = cr.explain(loss, model=net, collapse=False)
    assert not e.collapsed and not any(n.is_module for n in e.nodes)
    gates = [(n.name, n.op) for n in e.nodes if not n.is_input]
    assert gates == [
        ("layers.0", "Linear"),
        ("layers.1", "ReLU"),
        ("layers.2", "Linear"),
        ("loss", "CrossEntropy"),
    ]


class Residual(nn.Module):
    """A leaf module of several gates that reads its input twice: tanh(x @ w) + x."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.w = nn.Parameter(np.random.default_rng(2).normal(size=(d, d)).astype(np.float32))

    def forward(self, x):
        return (x @ self.w).tanh() + x


def test_a_module_of_several_gates_merges_its_inner_edges():
    block = Residual(4)
    X, _ = _batch()
    X.requires_grad = True
    h = block(X)
    loss = (h * h).mean()
    e = cr.explain(loss)
    (box,) = [n for n in e.nodes if n.is_module]
    assert len(box.members) == 3 and box.label == "Residual"  # matmul, tanh, add
    into = [ed for ed in e.edges if ed.target == box.index]
    assert [e.nodes[ed.source].name for ed in into] == ["X", "residual1.w"]
    dX, dW = cr.grad(loss, [X, block.w], retain_graph=True)
    np.testing.assert_allclose(into[0].grad, dX.data, rtol=1e-5, atol=1e-7)  # both paths, added
    np.testing.assert_allclose(into[1].grad, dW.data, rtol=1e-5, atol=1e-7)
    full = cr.explain(loss, collapse=False)
    assert len(full.nodes) == len(e.nodes) + 2
    assert sorted(n.op for n in full.nodes if n.op) == ["Add", "MatMul", "Mean", "Mul", "Tanh"]


def test_nested_sequential_tags_do_not_double_count():
    inner = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
    net = nn.Sequential(inner, nn.Linear(8, 3))
    X, y = _batch()
    out = net(X)
    relu_out = out._node.inputs[0]  # the inner Sequential's output is the ReLU's
    tags = [type(ref()).__name__ for ref, _ in relu_out._node._extra["modules"]]
    assert tags == ["ReLU", "Sequential"]  # inner -> outer
    tags = [type(ref()).__name__ for ref, _ in out._node._extra["modules"]]
    assert tags == ["Linear", "Sequential"]
    e = cr.explain(F.cross_entropy(out, y))
    boxes = [n.name for n in e.nodes if n.is_module]
    assert boxes == ["sequential.0.0", "sequential.0.1", "sequential.1"]
    assert sum(len(n.members) for n in e.nodes if n.is_module) == 3  # each gate once


class Shared(nn.Module):
    """One Linear called twice (weight sharing)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4, rng=np.random.default_rng(3))

    def forward(self, x):
        self.first = self.fc(x)
        return self.fc(self.first.relu())


def test_a_module_called_twice_gives_two_boxes():
    net = Shared()
    X, y = _batch()
    out = net(X)
    loss = F.cross_entropy(out, y % 3)
    e = cr.explain(loss, model=net)
    boxes = [n for n in e.nodes if n.is_module]
    assert [n.name for n in boxes] == ["fc", "fc_2"]
    assert {n.label for n in boxes} == {"Linear(4 -> 4)"}
    assert [n.op for n in e.nodes if not n.is_input and not n.is_module] == ["ReLU", "CrossEntropy"]
    w = e.node("fc.weight")
    branches = [ed for ed in e.edges if ed.source == w.index]
    assert sorted(e.nodes[ed.target].name for ed in branches) == ["fc", "fc_2"]
    d_first, dW = cr.grad(loss, [net.first, net.fc.weight], retain_graph=True)
    np.testing.assert_allclose(branches[0].grad + branches[1].grad, dW.data, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(e.node("fc").grad, d_first.data, rtol=1e-6, atol=1e-7)
    grads = next(s for s in e.steps if s.kind == "gradients").text
    assert "dloss/dfc.weight = <shape (4, 4), norm" in grads and "the branches add" in grads


def _graph_size(t) -> int:
    seen, stack = set(), [t._node]
    while stack:
        n = stack.pop()
        if n is None or id(n) in seen:
            continue
        seen.add(id(n))
        stack.extend(a._node for a in n.inputs if isinstance(a, cr.Tensor))
    return len(seen)


def test_tagging_adds_no_node_and_changes_no_gradient(monkeypatch):
    def run():
        net = nn.MLP([4, 8, 8, 3], batchnorm=True, rng=np.random.default_rng(0))
        X, y = _batch()
        loss = F.cross_entropy(net(X), y) + F.l2_penalty(net, 1e-3)
        return net, loss, cr.grad(loss, list(net.parameters()), retain_graph=True)

    # the tags hold the modules weakly: keep the net alive, as a caller of explain() does
    net, tagged_loss, tagged = run()
    monkeypatch.setattr(module_mod.Module, "__call__", lambda self, *a, **k: self.forward(*a, **k))
    _, plain_loss, plain = run()
    assert _graph_size(tagged_loss) == _graph_size(plain_loss)
    assert tagged_loss.item() == plain_loss.item()
    for a, b in zip(tagged, plain, strict=True):
        assert np.array_equal(a.data, b.data)
    e = cr.explain(plain_loss)  # no tags: nothing to collapse
    assert not e.collapsed and not any(n.is_module for n in e.nodes)
    e = cr.explain(tagged_loss, model=net)
    assert [n.label for n in e.nodes if n.is_module] == [
        "Linear(4 -> 8)",
        "BatchNorm1d(8, ...)",
        "ReLU",
        "Linear(8 -> 8)",
        "BatchNorm1d(8, ...)",
        "ReLU",
        "Linear(8 -> 3)",
    ]
    params = [n for n in e.inputs if n.name != "X"]
    for n, g in zip(params, tagged, strict=True):
        np.testing.assert_allclose(n.grad, g.data, rtol=1e-5, atol=1e-7)


def test_no_tag_when_nothing_is_recorded():
    net = nn.MLP([4, 8, 3])
    X, _ = _batch()
    with cr.no_grad():
        out = net(X)
    assert out._node is None
    w = cr.tensor(np.ones((6, 4), np.float32), requires_grad=True)
    h = w * 2.0
    drop = nn.Dropout(0.5).eval()
    assert drop(h) is h and h._node._extra is None  # an older node is not this call's output
    with cr.no_grad():
        assert nn.Linear(4, 4)(h)._node is None
    assert h._node._extra is None


def test_scalar_graphs_stay_per_gate_unless_asked():
    lin = nn.Linear(1, 1, init=0.5, rng=np.random.default_rng(0))
    x = cr.tensor([[2.0]])
    y = lin(x).sum()
    assert not cr.explain(y).collapsed
    e = cr.explain(y, collapse=True)
    assert e.collapsed and [n.name for n in e.nodes if n.is_module] == ["linear1"]
    with pytest.raises(TypeError, match=r"model must be a chainrule\.nn\.Module"):
        cr.explain(y, model="net")


class Poly(nn.Module):
    """A leaf module of 100 gates."""

    def forward(self, x):
        for _ in range(50):
            x = x * 0.99 + 0.01
        return x


def test_the_drawing_limit_applies_after_collapsing():
    net = nn.Sequential(nn.Linear(4, 4), Poly(), Poly(), Poly(), Poly())
    X, _ = _batch()
    loss = net(X).sum()
    full = cr.explain(loss, collapse=False)
    assert len(full.nodes) > layout.MAX_DRAW_NODES
    with pytest.raises(layout.GraphTooLargeError):
        full.to_svg()
    e = cr.explain(loss)
    assert len(e.nodes) == 9  # X, weight, bias, 5 boxes, the sum
    ET.fromstring(e.to_svg())
    assert e._repr_svg_() is not None


def test_a_freed_graph_still_collapses_its_forward_pass():
    net, _, _, loss = _network()
    loss.backward()
    e = cr.explain(loss, model=net)
    assert e.collapsed and "freed" in (e.note or "")
    assert [n.name for n in e.nodes if n.is_module] == ["layers.0", "layers.1", "layers.2"]
    assert all(s.kind == "forward" for s in e.steps)
    texts = [s.text for s in e.steps]
    assert any(t.startswith("layers.1 = ReLU()(layers.0) = <shape (6, 8), norm") for t in texts)
    assert re.search(r"\n  layers\.1 +ReLU +ReLU\(layers\.0\) +<shape \(6, 8\)", str(e))
