"""The HTML stepper driven in a real headless Chromium: one key press, one step, and the page
shows the explanation's own numbers."""

from __future__ import annotations

import os

import numpy as np
import pytest

import chainrule as cr

websocket = pytest.importorskip("websocket", reason="websocket-client (the test extra) drives it")
import viz_cdp  # noqa: E402 - after the importorskip above


def _browser_binary() -> str:
    """The browser to drive; skip without one locally, but fail on CI (CI=true)."""
    binary = viz_cdp.find_browser()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no chromium on a CI machine: .ci/run must install Debian's chromium")
        pytest.skip("no chromium installed (apt-get install chromium) - the browser test skips")
    return binary


@pytest.fixture(scope="module")
def browser():
    with viz_cdp.Browser(_browser_binary()) as b:
        yield b


def test_missing_browser_skips_locally_but_fails_on_ci(monkeypatch):
    monkeypatch.setattr(viz_cdp, "find_browser", lambda: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI machine"):
        _browser_binary()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no chromium installed"):
        _browser_binary()


def _state(b):
    return b.evaluate(
        "({index: document.getElementById('step-index').textContent,"
        " count: document.getElementById('step-count').textContent,"
        " text: document.getElementById('step-text').textContent,"
        " downs: Array.from(document.querySelectorAll('#equations .down'))"
        "   .map(e => e.textContent),"
        " current: Array.from(document.querySelectorAll('svg g.node.current'))"
        "   .map(e => e.id),"
        " shownGrads: Array.from(document.querySelectorAll('svg text.grad'))"
        "   .filter(e => !e.classList.contains('hidden')).length})"
    )


def test_arrow_keys_step_one_node_at_a_time(browser, tmp_path):
    e = cr.viz.explain_expression(
        "1/(1+exp(-(w0*x0+w1*x1+w2)))", {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3}
    )
    page = tmp_path / "neuron.html"
    e.to_html(str(page))
    browser.open(page.as_uri())
    n = len(e.steps)
    seen_backward = 0
    for k in range(n):
        s = _state(browser)
        step = e.steps[k]
        assert s["index"] == str(k + 1) and s["count"] == str(n)
        assert s["text"] == step.text  # the page shows the explanation's own words and numbers
        assert s["downs"] == [e.format(t.downstream) for t in step.terms]
        if step.node is not None:
            assert s["current"] == [f"node-{step.node}"]
        if step.kind == "forward":
            assert s["shownGrads"] == 0  # no gradient is shown during the forward pass
        else:
            seen_backward += 1
        browser.key("ArrowRight", 39)
    assert seen_backward == sum(s.kind != "forward" for s in e.steps)
    assert _state(browser)["index"] == str(n)  # past the last step, it stays there
    # the slide's numbers are on the page at the right steps
    texts = [st.text for st in e.steps]
    assert any("local e^x at x = -1.00 is 0.37, downstream -0.20" in t for t in texts)
    browser.key("ArrowLeft", 37)
    assert _state(browser)["index"] == str(n - 1)
    browser.key("Home", 36)
    assert _state(browser)["index"] == "1"


def test_buttons_step_too(browser, tmp_path):
    e = cr.viz.explain_expression("(x+y)*z", {"x": -2, "y": 5, "z": -4})
    page = tmp_path / "add-mul.html"
    e.to_html(str(page))
    browser.open(page.as_uri())
    browser.evaluate("document.getElementById('next').click()")
    browser.evaluate("document.getElementById('next').click()")
    assert _state(browser)["text"] == e.steps[2].text == "q = x + y = 3.00"
    browser.evaluate("document.getElementById('prev').click()")
    assert _state(browser)["index"] == "2"
    browser.key("End", 35)
    final = _state(browser)["text"]
    assert "dx = -4.00" in final and "dy = -4.00" in final and "dz = 3.00" in final


def test_a_network_steps_one_module_at_a_time(browser, tmp_path):
    from chainrule import nn

    net = nn.MLP([4, 8, 3], rng=np.random.default_rng(0))
    X = cr.tensor(np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32))
    e = cr.explain(nn.functional.cross_entropy(net(X), np.array([0, 1, 2, 0, 1])), model=net)
    assert e.collapsed
    page = tmp_path / "mlp.html"
    e.to_html(str(page))
    browser.open(page.as_uri())
    for step in e.steps:
        s = _state(browser)
        assert s["text"] == step.text
        assert s["downs"] == [e.format(t.downstream) for t in step.terms]  # shapes and norms
        if step.node is not None:
            assert s["current"] == [f"node-{step.node}"]
        browser.key("ArrowRight", 39)
    boxes = [s.node for s in e.steps if s.kind == "backward" and s.node is not None]
    assert [e.nodes[i].name for i in boxes] == ["f", "mlp.2", "mlp.1", "mlp.0"]


_VIEW = (
    "(() => { const el = document.querySelector('svg g.node.current');"
    " if (!el) { return null; }"
    " const r = el.getBoundingClientRect(), p = document.getElementById('picture')"
    "   .getBoundingClientRect();"
    " return {inWindow: r.left >= 0 && r.right <= window.innerWidth && r.top >= 0"
    "   && r.bottom <= window.innerHeight,"
    "  inPicture: r.left >= p.left && r.right <= p.right,"
    "  wide: document.querySelector('#picture svg').getBoundingClientRect().width"
    "   > 2 * window.innerWidth}; })()"
)
_GRAD_SHOWN = (
    "Array.from(document.querySelectorAll('svg text')).filter(e => {"
    " const s = getComputedStyle(e);"
    " return e.textContent.includes('|grad|') && s.visibility !== 'hidden'"
    "   && Number(s.opacity) > 0.5; }).length"
)


def test_a_wide_network_scrolls_to_the_current_node_and_hides_grad_until_backward(
    browser, tmp_path
):
    from chainrule import nn

    net = nn.MLP([64, 512, 512, 10], batchnorm=True, rng=np.random.default_rng(0))
    X = cr.tensor(np.random.default_rng(1).normal(size=(16, 64)).astype(np.float32))
    y = np.random.default_rng(2).integers(0, 10, 16)
    loss = nn.functional.cross_entropy(net(X), y) + nn.functional.l2_penalty(net, 1e-3)
    e = cr.explain(loss, model=net)
    page = tmp_path / "wide.html"
    e.to_html(str(page))
    browser.open(page.as_uri())
    first_backward = next(k for k, s in enumerate(e.steps) if s.kind == "backward")
    for k, step in enumerate(e.steps):
        if step.kind == "forward":
            # neither an edge's gradient nor a module box's |grad| shows in the forward pass
            assert browser.evaluate(_GRAD_SHOWN) == 0, f"step {k + 1}"
        if step.node is not None:
            view = browser.evaluate(_VIEW)
            assert view["wide"]  # the graph is far wider than the window
            assert view["inWindow"] and view["inPicture"], f"step {k + 1}: {view}"
        if k == first_backward:  # the backward starts at the far right: the picture scrolled
            assert browser.evaluate("document.getElementById('picture').scrollLeft") > 500
        browser.key("ArrowRight", 39)
    boxes = sum(n.is_module for n in e.nodes)
    # at the end every box's |grad| and every edge's gradient norm shows
    assert browser.evaluate(_GRAD_SHOWN) >= boxes


_SVG_FAULTS = """(() => {
  const svg = document.querySelector('svg'), W = svg.width.baseVal.value,
        H = svg.height.baseVal.value, faults = [];
  const box = e => { const b = e.getBBox(); return [b.x, b.y, b.x + b.width, b.y + b.height]; };
  const hit = (a, b) => a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
  const texts = Array.from(svg.querySelectorAll('g.edge text, text.name, text.output-name'))
    .map(e => [e.textContent + ' ' + e.getAttribute('class'), box(e)]);
  const shapes = Array.from(svg.querySelectorAll('g.node > rect, g.node > circle'))
    .map(e => [e.parentNode.getAttribute('data-name'), box(e)]);
  texts.forEach(([n, a], i) => {
    if (a[0] < 0 || a[1] < 0 || a[2] > W || a[3] > H) { faults.push(n + ' leaves the picture'); }
    texts.slice(i + 1).forEach(([m, b]) => { if (hit(a, b)) { faults.push(n + ' / ' + m); } });
    shapes.forEach(([m, b]) => { if (hit(a, b)) { faults.push(n + ' over box ' + m); } });
  });
  return faults;
})()"""


@pytest.mark.parametrize("which", ["add-mul", "neuron", "mlp", "512-512 batchnorm"])
def test_the_svg_labels_overlap_nothing_as_chromium_renders_them(browser, tmp_path, which):
    from chainrule import nn

    if which != "add-mul" and which != "neuron":
        hidden, bn = ([64], False) if which == "mlp" else ([512, 512], True)
        net = nn.MLP([64, *hidden, 10], batchnorm=bn, rng=np.random.default_rng(0))
        X = cr.tensor(np.random.default_rng(1).normal(size=(16, 64)).astype(np.float32))
        y = np.random.default_rng(2).integers(0, 10, 16)
        loss = nn.functional.cross_entropy(net(X), y) + nn.functional.l2_penalty(net, 1e-3)
        e = cr.explain(loss, model=net)
    elif which == "neuron":
        e = cr.viz.explain_expression(
            "1/(1+exp(-(w0*x0+w1*x1+w2)))", {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3}
        )
    else:
        e = cr.viz.explain_expression("(x+y)*z", {"x": -2, "y": 5, "z": -4})
    page = tmp_path / "graph.svg"
    e.to_svg(str(page))
    browser.open(page.as_uri())
    assert browser.evaluate(_SVG_FAULTS) == []
