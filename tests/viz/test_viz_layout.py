"""The PNG's layout read back from matplotlib itself: on gate graphs and networks, no text
overlaps a box or another text, every text lies inside the figure, no edge runs through a box
it does not join, and each edge's numbers sit nearer their own edge than any other.

The checks use only the drawn artists (window extents from the renderer, the edges' Bezier
paths evaluated by matplotlib), never the placement code's own rectangles."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F  # noqa: N812
from chainrule.viz import png

ex = cr.viz.explain_expression


def _mlp(hidden, batchnorm=False, l2=1e-3, d=64, n=16):
    net = nn.MLP([d, *hidden, 10], batchnorm=batchnorm, rng=np.random.default_rng(0))
    X = cr.tensor(np.random.default_rng(1).normal(size=(n, d)).astype(np.float32))
    X.name = "X"
    loss = F.cross_entropy(net(X), np.random.default_rng(2).integers(0, 10, n))
    return cr.explain(loss + F.l2_penalty(net, l2) if l2 else loss, model=net)


def _convnet():
    net = nn.ConvNet((1, 8, 8), [4], [10], 3, batchnorm=True, rng=np.random.default_rng(0))
    X = cr.tensor(np.random.default_rng(1).normal(size=(4, 1, 8, 8)).astype(np.float32))
    X.name = "X"
    loss = F.cross_entropy(net(X), np.array([0, 1, 2, 0])) + F.l2_penalty(net, 1e-3)
    return cr.explain(loss, model=net)


GRAPHS = {
    "add-mul": lambda: ex("(x+y)*z", {"x": -2, "y": 5, "z": -4}),
    "sigmoid neuron": lambda: ex(
        "1/(1+exp(-(w0*x0+w1*x1+w2)))", {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3}
    ),
    "fan-out": lambda: ex("x*x + x", {"x": 3}),
    "max and mul": lambda: ex("max(x, y) * z + x * y", {"x": 1, "y": 2, "z": 3}),
    "vectors": lambda: ex("sum((W@x)**2)", {"W": [[0.1, 0.5], [-0.3, 0.8]], "x": [0.2, 0.4]}),
    "mlp with l2": lambda: _mlp([64]),
    "512-512 batchnorm": lambda: _mlp([512, 512], batchnorm=True),
    "convnet": _convnet,
}


def _bezier_points(patch, per: int = 50) -> np.ndarray:
    """Display-space points along a drawn edge, from matplotlib's own Bezier evaluation."""
    path = patch.get_path()
    t = np.linspace(0, 1, per)
    pts = [seg(t) for seg, _ in path.iter_bezier()]
    return patch.get_transform().transform(np.concatenate(pts))


def _drawn(fig):
    """(texts, boxes, edges) of the figure: gid -> extent, gid -> extent, gid -> points."""
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    texts = {}
    for k, t in enumerate(ax.texts):
        if t.get_text():
            texts[f"{t.get_gid()}#{k}"] = t.get_window_extent(renderer)
    boxes, edges = {}, {}
    for p in [*ax.patches, *ax.artists]:
        gid = p.get_gid() or ""
        if gid.startswith("node-"):
            boxes[gid] = p.get_window_extent(renderer)
        elif gid.startswith("edge-"):
            edges[gid] = _bezier_points(p)
    return texts, boxes, edges


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _distance(p, pts) -> float:
    return float(np.min(np.hypot(pts[:, 0] - p[0], pts[:, 1] - p[1])))


def check(e, fig) -> list[str]:
    """Every layout fault of ``fig`` (a picture of ``e``), in words."""
    texts, boxes, edges = _drawn(fig)
    faults = []
    frame = fig.bbox
    for name, t in texts.items():
        if t.x0 < frame.x0 or t.y0 < frame.y0 or t.x1 > frame.x1 or t.y1 > frame.y1:
            faults.append(f"{name} leaves the figure")
    for (na, a), (nb, b) in itertools.combinations(texts.items(), 2):
        if _overlap(a, b):
            faults.append(f"{na} overlaps {nb}")
        ea, eb = na.rsplit("-", 1)[0], nb.rsplit("-", 1)[0]
        if na.startswith("edge-") and nb.startswith("edge-") and ea != eb:
            # two edges' numbers in one column read as one pile: a blank line's worth apart
            side_by_side = a.x0 < b.x1 and b.x0 < a.x1
            gap = max(a.y0, b.y0) - min(a.y1, b.y1)
            if side_by_side and gap < 2 * max(a.height, b.height) - 1:
                faults.append(f"{na} and {nb} stack in one column")
    for name, t in texts.items():
        owner = name.split("#")[0].removesuffix("-label")
        for nb, b in boxes.items():
            if nb == owner:  # a box's own lines lie inside it
                if not (b.x0 <= t.x0 and t.x1 <= b.x1 and b.y0 <= t.y0 and t.y1 <= b.y1):
                    faults.append(f"{name} sticks out of its box")
            elif _overlap(t, b):
                faults.append(f"{name} overlaps box {nb}")
    for gid, pts in edges.items():
        edge = e.edges[int(gid.split("-")[1])]
        ends = {f"node-{edge.source}", f"node-{edge.target}"}
        for nb, b in boxes.items():
            inside = (pts[:, 0] > b.x0 + 1) & (pts[:, 0] < b.x1 - 1)
            inside &= (pts[:, 1] > b.y0 + 1) & (pts[:, 1] < b.y1 - 1)
            if nb not in ends and inside.any():
                faults.append(f"{gid} crosses box {nb}")
    for name, t in texts.items():
        gid = name.split("#")[0]
        if not gid.startswith("edge-"):
            continue
        own = gid.rsplit("-", 1)[0]
        centre = ((t.x0 + t.x1) / 2, (t.y0 + t.y1) / 2)
        mine = _distance(centre, edges[own])
        for other, pts in edges.items():
            if other != own and _distance(centre, pts) <= mine:
                faults.append(f"{name} is as near {other} as its own edge")
    return faults


@pytest.mark.parametrize("name", GRAPHS)
def test_no_label_overlaps_a_box_or_another_label(name):
    e = GRAPHS[name]()
    fig = png.figure(e)
    assert check(e, fig) == []
    texts, _, edges = _drawn(fig)
    assert len(edges) == len(e.edges)  # every edge drawn, each with its value
    assert sum(k.startswith("edge-") and "-value#" in k for k in texts) == len(e.edges)


@pytest.mark.parametrize(
    "name, size, dpi",
    [("mlp with l2", (8, 6), 150), ("add-mul", (3, 2), 72), ("sigmoid neuron", (20, 12), 50)],
)
def test_a_given_size_and_dpi_keep_the_layout_clean(name, size, dpi):
    e = GRAPHS[name]()
    fig = png.figure(e, dpi=dpi, size=size)
    assert tuple(fig.get_size_inches()) == size and fig.dpi == dpi
    assert check(e, fig) == []


def test_a_size_too_small_for_the_graph_is_refused_by_name():
    e = GRAPHS["mlp with l2"]()
    with pytest.raises(png.PictureSizeError, match=r"3x2 inch picture is too small .* at least"):
        png.figure(e, size=(3, 2))
    with pytest.raises(png.PictureSizeError, match="pixels"):
        png.figure(e, dpi=1200, size=(100, 20))


def test_the_mul_gates_two_pairs_each_sit_by_their_own_edge():
    # (x+y)*z: the four numbers at the * gate, two by the q edge and two by the z edge
    e = GRAPHS["add-mul"]()
    fig = png.figure(e)
    texts, _, edges = _drawn(fig)
    into_f = [k for k, ed in enumerate(e.edges) if ed.target == e.node("f").index]
    assert len(into_f) == 2
    for k in into_f:
        for kind in ("value", "grad"):
            (t,) = [b for n, b in texts.items() if n.startswith(f"edge-{k}-{kind}#")]
            centre = ((t.x0 + t.x1) / 2, (t.y0 + t.y1) / 2)
            dists = {g: _distance(centre, pts) for g, pts in edges.items()}
            assert min(dists, key=dists.get) == f"edge-{k}"
    # and the two pairs do not read as one column of four: each label is nearer its partner
    # than any label of the other pair
    a, b = ([t for n, t in texts.items() if n.startswith(f"edge-{k}-")] for k in into_f)

    def apart(p, q) -> float:
        dx = max(0.0, max(p.x0, q.x0) - min(p.x1, q.x1))
        dy = max(0.0, max(p.y0, q.y0) - min(p.y1, q.y1))
        return float(np.hypot(dx, dy))

    across = min(apart(p, q) for p in a for q in b)
    assert apart(*a) < across and apart(*b) < across


def test_the_check_finds_a_label_drawn_over_a_box():
    e = GRAPHS["mlp with l2"]()
    fig = png.figure(e)
    node = next(n for n in e.nodes if n.name == "mlp.2.weight")
    box = next(p for p in fig.axes[0].patches if p.get_gid() == f"node-{node.index}")
    x, y, w = box.get_x(), box.get_y(), box.get_width()
    fig.axes[0].text(x + w / 2, y, "|grad| 0.003", gid="edge-0-grad", ha="center")
    assert any("overlaps box" in f for f in check(e, fig))


def test_the_l2_edges_pass_around_the_boxes_between():
    e = GRAPHS["mlp with l2"]()
    fig = png.figure(e)
    _, boxes, edges = _drawn(fig)
    penalty = next(n for n in e.nodes if "penalty" in n.label.lower())
    long_edges = [k for k, ed in enumerate(e.edges) if ed.target == penalty.index]
    assert [e.nodes[e.edges[k].source].name for k in long_edges] == [
        "mlp.0.weight",
        "mlp.2.weight",
    ]
    for k in long_edges:
        pts = edges[f"edge-{k}"]
        ends = {f"node-{e.edges[k].source}", f"node-{penalty.index}"}
        passed = 0
        for nb, b in boxes.items():
            if nb in ends:
                continue
            beside = (pts[:, 0] > b.x0) & (pts[:, 0] < b.x1)  # the edge passes this box's column
            passed += bool(beside.any())
            inside = beside & (pts[:, 1] > b.y0) & (pts[:, 1] < b.y1)
            assert not inside.any(), f"edge-{k} crosses {nb}"
        assert passed >= 3  # it runs past boxes (mlp.2.weight among them), not through them


def test_the_picture_grows_where_labels_find_no_room(monkeypatch):
    from chainrule.viz import placement

    e = GRAPHS["mlp with l2"]()
    left_over = []
    place = placement.place

    def spy(*args):
        placed, taken = place(*args)
        left_over.append(sum(p is None for p in placed))
        return placed, taken

    monkeypatch.setattr(placement, "place", spy)
    grown = png.figure(e)
    assert left_over[0] > 0 and left_over[-1] == 0  # cramped first, then room for every pair
    monkeypatch.setattr(placement, "SPREADS", (1.0,))
    assert tuple(png.figure(e).get_size_inches()) < tuple(grown.get_size_inches())
    assert check(e, grown) == []
