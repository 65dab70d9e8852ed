"""The pictures: SVG that parses as XML and carries every edge's value and gradient, the PNG
twin, the self-contained HTML page, the layered layout and the size limit."""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import chainrule as cr
from chainrule.viz import explain_expression, html, layout, png, svg

SVG_NS = "{http://www.w3.org/2000/svg}"
EXAMPLES = [
    ("(x+y)*z", {"x": -2, "y": 5, "z": -4}),
    ("1/(1+exp(-(w0*x0+w1*x1+w2)))", {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3}),
    ("2*(x*y+max(z,w))", {"x": 3, "y": -4, "z": 2, "w": -1}),
    ("sum((W@x)**2)", {"W": [[0.1, 0.5], [-0.3, 0.8]], "x": [0.2, 0.4]}),
]


def _edges(svg_text):
    root = ET.fromstring(svg_text)
    out = []
    for g in root.iter(f"{SVG_NS}g"):
        if g.get("class") == "edge":
            texts = {t.get("class"): t.text for t in g.iter(f"{SVG_NS}text")}
            out.append((g.get("data-source"), g.get("data-target"), texts))
    return root, out


@pytest.mark.parametrize(("text", "values"), EXAMPLES)
def test_svg_carries_every_edge_value_and_gradient(text, values):
    e = explain_expression(text, values)
    root, edges = _edges(e.to_svg())
    assert root.tag == f"{SVG_NS}svg"
    assert len(edges) == len(e.edges)
    for edge, (src, dst, texts) in zip(e.edges, edges, strict=True):
        assert src == str(edge.source)
        assert dst == ("output" if edge.target is None else str(edge.target))
        assert texts["value"] == e.format(edge.value)  # small values are written out
        assert texts["grad"] == e.format(edge.grad)


def test_svg_shows_the_slides_numbers():
    _, edges = _edges(explain_expression(*EXAMPLES[1]).to_svg())
    values = [t["value"] for *_, t in edges]
    grads = [t["grad"] for *_, t in edges]
    for v in ("1.37", "0.73", "0.37", "-1.00", "1.00"):
        assert v in values
    for g in ("-0.53", "-0.20", "0.20", "0.39", "-0.39", "-0.59", "1.00"):
        assert g in grads
    _, edges = _edges(explain_expression(*EXAMPLES[0]).to_svg())
    assert sorted(t["grad"] for *_, t in edges) == ["-4.00", "-4.00", "-4.00", "1.00", "3.00"]
    _, edges = _edges(explain_expression(*EXAMPLES[3]).to_svg())
    grads = [t["grad"] for *_, t in edges]
    assert "[[0.088, 0.176], [0.104, 0.208]]" in grads and "[-0.112, 0.636]" in grads


def test_svg_colours_and_escaping():
    x = cr.tensor(1.0, requires_grad=True)
    x.name = "<x&y>"
    text = cr.explain(x * 2).to_svg()
    ET.fromstring(text)  # still well-formed
    assert "&lt;x&amp;y&gt;" in text
    assert f'fill="{svg.VALUE_COLOR}"' in text and f'fill="{svg.GRAD_COLOR}"' in text


def test_network_graph_shows_shapes_and_norms():
    rng = np.random.default_rng(0)
    X = cr.tensor(rng.normal(size=(16, 8)), requires_grad=True)
    W1 = cr.tensor(rng.normal(size=(8, 32)), requires_grad=True)
    W2 = cr.tensor(rng.normal(size=(32, 3)), requires_grad=True)
    loss = (cr.relu(X @ W1) @ W2).logsumexp(axis=1).mean()
    e = cr.explain(loss)
    _, edges = _edges(e.to_svg())
    relu_edges = [t for s, d, t in edges if s == str(e.node("r").index)]
    assert relu_edges and relu_edges[0]["value"] == "shape (16, 32)"
    assert relu_edges[0]["grad"].startswith("|grad| ")
    norm = float(np.linalg.norm(e.node("r").grad))
    assert relu_edges[0]["grad"] == f"|grad| {e.format(norm)}"
    assert "16x32" in e.to_svg()  # the node shows its shape


def test_too_large_graph_is_refused_not_drawn():
    t = cr.tensor(1.0, requires_grad=True)
    for _ in range(400):
        t = t * 1.001
    e = cr.explain(t)
    with pytest.raises(layout.GraphTooLargeError, match="401 nodes, too many to draw"):
        e.to_svg()
    with pytest.raises(layout.GraphTooLargeError):
        e.to_html()
    assert e._repr_svg_() is None and e._repr_html_().startswith("<pre>")
    assert "df/dq" not in str(e)[:0]  # the text still works
    assert len(str(e).splitlines()) > 400


def test_layout_columns_and_order():
    e = explain_expression(*EXAMPLES[1])
    lay = layout.layout(e)
    col = {n.name: lay.column[n.index] for n in e.nodes}
    assert col["w0"] == col["x0"] == col["w1"] == col["x1"] == 0
    assert col["w2"] == col["s"]  # enters next to its + gate, as on the slide
    assert col["f"] == max(col.values())
    for n in e.nodes:  # every edge goes left to right
        for j in n.inputs:
            assert lay.x[j] < lay.x[n.index]
    ys = [lay.y[e.node(k).index] for k in ("w0", "x0", "w1", "x1")]
    assert ys == sorted(ys)  # barycentric order keeps each pair next to its gate


def test_png_is_written_atomically_with_the_numbers(tmp_path):
    e = explain_expression(*EXAMPLES[1])
    fig = png.figure(e)
    texts = [t.get_text() for t in fig.axes[0].texts]
    for g in ("-0.53", "-0.20", "0.39", "-0.59", "1.37", "0.73"):
        assert g in texts
    path = tmp_path / "neuron.png"
    e.to_png(str(path))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    img = matplotlib.image.imread(str(path))
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 500
    assert os.listdir(tmp_path) == ["neuron.png"]  # no temp file left behind


def test_anomaly_has_a_red_outline_in_the_png():
    x = cr.tensor(-1.0, requires_grad=True)
    with np.errstate(invalid="ignore"):
        e = cr.explain(cr.sqrt(x) + 1)
    fig = png.figure(e)
    reds = [p for p in fig.axes[0].patches if p.get_edgecolor()[:3] == (0xD5 / 255, 0.0, 0.0)]
    assert len(reds) == 1


def test_html_page_is_self_contained(tmp_path):
    e = explain_expression(*EXAMPLES[1])
    path = tmp_path / "page.html"
    page = e.to_html(str(path))
    assert path.read_text() == page
    no_svg_ns = page.replace("http://www.w3.org/2000/svg", "")
    assert not re.search(r"https?://", no_svg_ns)
    assert "<script src" not in page and "<link" not in page and "@import" not in page
    data = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S)
    assert data is not None
    d = json.loads(data.group(1))
    assert [s["text"] for s in d["steps"]] == [s.text for s in e.steps]
    assert "Next" in page and "Prev" in page and "ArrowRight" in page


def test_html_escapes_hostile_names():
    x = cr.tensor(1.0, requires_grad=True)
    x.name = "</script><script>alert(1)</script>"
    page = html.to_html(cr.explain(x * 2, title="{{DATA}} </title>"))
    assert page.count("<script>alert(1)") == 0
    assert page.count("</script>") == 2  # only the page's own two scripts close
    assert "{{DATA}} &lt;/title&gt;" in page


def test_graphviz_is_not_needed(monkeypatch):
    monkeypatch.setenv("PATH", "")
    e = explain_expression(*EXAMPLES[0])
    assert e.to_svg().startswith("<svg") and png.to_png(e)[:4] == b"\x89PNG"
