"""The explained graph as hand-written SVG: values in green above each edge, gradients in red
below, as on the lecture's slides.

Every edge is a ``<g class="edge">`` holding its path and two texts (``class="value"`` and
``class="grad"``), with ``data-`` attributes naming its nodes and the stepper's steps; every node
is a ``<g class="node">``. A node where a NaN or inf first appeared gets a thick red outline.

>>> import xml.etree.ElementTree as ET
>>> import chainrule as cr
>>> e = cr.viz.explain_expression("(x+y)*z", {"x": -2, "y": 5, "z": -4})
>>> root = ET.fromstring(to_svg(e))
>>> texts = root.iter("{http://www.w3.org/2000/svg}text")
>>> sorted(t.text for t in texts if t.get("class") == "grad")
['-4.00', '-4.00', '-4.00', '1.00', '3.00']
"""

from __future__ import annotations

import os
import tempfile
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from chainrule.serialization import umask_mode
from chainrule.viz import layout as layout_mod
from chainrule.viz import placement

VALUE_COLOR = "#1b7f1b"
GRAD_COLOR = "#c62828"
ANOMALY_COLOR = "#d50000"
INPUT_FILL = "#eef3fb"
MODULE_FILL = "#eaf5ea"
HALO = 'stroke="white" stroke-width="3" paint-order="stroke"'  # labels stay legible on lines


def atomic_write(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


FONT = {"edge": 13.0, "name": 11.0, "output": 13.0}  # px
EM = 0.6  # a generous average glyph width of Helvetica, in em: the SVG has no renderer to ask


def _measure(lay: Any) -> Any:
    def measure(text: str, kind: str) -> tuple[float, float]:
        size = FONT[kind]
        return EM * size * len(text) * (1.08 if kind == "output" else 1.0), 1.2 * size

    return measure


def _baseline(cy: float, kind: str) -> float:
    """The baseline that centres a line of text of ``kind`` on ``cy``."""
    return cy + 0.35 * FONT[kind]


def to_svg(explanation: Any) -> str:
    """The SVG document as text (raises GraphTooLargeError past 300 nodes)."""
    p = placement.plan(explanation, _measure)
    lay = p.layout
    fwd, bwd = layout_mod.step_index(explanation)
    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{lay.width:.0f}" height="{lay.height:.0f}" '
        f'viewBox="0 0 {lay.width:.0f} {lay.height:.0f}" '
        'font-family="Helvetica, Arial, sans-serif" font-size="13">',
        f"<title>{escape(explanation.title)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    for k, (e, segs) in enumerate(zip(explanation.edges, p.routes, strict=True)):
        value, grad = p.labels[k]
        at = p.placed[k]
        d = f"M {segs[0][0][0]:.1f} {segs[0][0][1]:.1f} " + " ".join(
            "C " + " ".join(f"{x:.1f} {y:.1f}" for x, y in seg[1:]) for seg in segs
        )
        target = "output" if e.target is None else str(e.target)
        out.append(
            f'<g class="edge" id="edge-{k}" data-source="{e.source}" data-target="{target}" '
            f'data-slot="{e.slot}" data-value={quoteattr(value)} data-grad={quoteattr(grad)}>'
        )
        out.append(
            f'<path d="{d}" fill="none" stroke="#555" stroke-width="1.4" marker-end="url(#arrow)"/>'
        )
        vx, vy = at.value
        out.append(
            f'<text class="value" x="{vx:.1f}" y="{_baseline(vy, "edge"):.1f}" '
            f'text-anchor="middle" fill="{VALUE_COLOR}" {HALO} '
            f'data-step="{fwd.get(e.source, 0)}">{escape(value)}</text>'
        )
        if grad and at.grad is not None:
            gx, gy = at.grad
            out.append(
                f'<text class="grad" x="{gx:.1f}" y="{_baseline(gy, "edge"):.1f}" '
                f'text-anchor="middle" fill="{GRAD_COLOR}" {HALO} '
                f'data-step="{bwd.get(e.target, 0)}">{escape(grad)}</text>'
            )
        out.append("</g>")
    ox, oy = lay.output_end
    out.append(
        f'<text class="output-name" x="{ox + 6:.1f}" y="{_baseline(oy, "output"):.1f}" '
        f'font-weight="bold">{escape(explanation.output.name)}</text>'
    )
    for n in explanation.nodes:
        name_bottom = p.names[n.index][3] if n.index in p.names else 0.0
        out.append(
            _node(
                n,
                lay.x[n.index],
                lay.y[n.index],
                fwd.get(n.index, 0),
                bwd.get(n.index, 0),
                name_bottom,
            )
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _node(n: Any, x: float, y: float, step: int, grad_step: int, name_bottom: float) -> str:
    hw, hh = layout_mod.half_size(n)
    module = getattr(n, "module", None) is not None
    cls = "node input" if n.is_input else "node module" if module else "node gate"
    stroke, width = ("#333", 1.5)
    if n.anomaly:
        cls += " anomaly"
        stroke, width = (ANOMALY_COLOR, 4.0)
    parts = [
        f'<g class="{cls}" id="node-{n.index}" data-name={quoteattr(n.name)} data-step="{step}">'
    ]
    if n.anomaly:
        parts.append(f"<title>{escape(n.anomaly)}</title>")
    elif module:  # hovering a box shows the module and the gates inside it
        parts.append(f"<title>{escape(chr(10).join([n.module, *n.members]))}</title>")
    if n.is_input or module:
        shape = (
            f'<rect x="{x - hw:.1f}" y="{y - hh:.1f}" width="{2 * hw:.1f}" '
            f'height="{2 * hh:.1f}" rx="6" fill="{MODULE_FILL if module else INPUT_FILL}"'
        )
    elif hw <= 20 and hh <= 20:
        shape = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="20" fill="#fffbe6"'
    else:
        shape = (
            f'<rect x="{x - hw:.1f}" y="{y - hh:.1f}" width="{2 * hw:.1f}" '
            f'height="{2 * hh:.1f}" rx="{hh:.0f}" fill="#fffbe6"'
        )
    parts.append(f'{shape} stroke="{stroke}" stroke-width="{width}"/>')
    lines = layout_mod.node_lines(n)
    for k, line in enumerate(lines):
        dy = (k - (len(lines) - 1) / 2) * 14 + 4.5
        size = ' font-size="11" fill="#555"' if k else ' font-weight="bold"'
        # a module's gradient norm: the stepper shows it once the backward pass reaches it
        norm = k and module and line.startswith("|grad| ")
        kind = f'label node-grad" data-step="{grad_step}' if norm else "label"
        parts.append(
            f'<text class="{kind}" x="{x:.1f}" y="{y + dy:.1f}" text-anchor="middle"{size}>'
            f"{escape(line)}</text>"
        )
    if not n.is_input:  # the intermediate's name (q, f ...) above the gate
        parts.append(
            f'<text class="name" x="{x:.1f}" y="{name_bottom - 0.22 * FONT["name"]:.1f}" '
            'text-anchor="middle" '
            f'font-size="11" fill="#777">{escape(n.name)}</text>'
        )
    parts.append("</g>")
    return "".join(parts)


def write(explanation: Any, path: str | None = None) -> str:
    """Return the SVG text, and write it atomically to ``path`` when one is given."""
    text = to_svg(explanation)
    if path is not None:
        atomic_write(path, text.encode("utf-8"))
    return text
