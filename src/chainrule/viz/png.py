"""The explained graph as a PNG, drawn with matplotlib's Agg backend (no system binary).

The picture is the SVG's twin: the same layout, values green above each edge, gradients red
below, a red outline where a NaN or inf first appeared. ``figure`` returns the matplotlib
Figure (built without pyplot, so no global state and no display is touched).

>>> import chainrule as cr
>>> e = cr.viz.explain_expression("(x+y)*z", {"x": -2, "y": 5, "z": -4})
>>> fig = figure(e)
>>> sorted(t.get_text() for t in fig.axes[0].texts if t.get_color() == GRAD_COLOR)
['-4.00', '-4.00', '-4.00', '1.00', '3.00']
"""

from __future__ import annotations

import io
from typing import Any

from chainrule.viz import layout as layout_mod
from chainrule.viz import svg

VALUE_COLOR = svg.VALUE_COLOR
GRAD_COLOR = svg.GRAD_COLOR


def figure(explanation: Any, dpi: int = 110) -> Any:
    """A matplotlib Figure of the graph (raises GraphTooLargeError past 300 nodes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle, FancyBboxPatch, PathPatch
    from matplotlib.path import Path
    from matplotlib.patheffects import withStroke

    lay = layout_mod.layout(explanation)
    fig = Figure(figsize=(lay.width / 100, lay.height / 100), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, lay.width)
    ax.set_ylim(lay.height, 0)  # y grows downwards, as in the SVG
    ax.set_axis_off()
    halo = [withStroke(linewidth=3, foreground="white")]
    for e, (x0, y0, x1, y1, bend) in svg._edge_geometry(lay, explanation):
        path = Path(
            [
                (x0, y0),
                (x0 + (x1 - x0) * 0.45, y0 + bend),
                (x1 - (x1 - x0) * 0.45, y1 + bend),
                (x1, y1),
            ],
            [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4],
        )
        ax.add_patch(PathPatch(path, fill=False, edgecolor="#555555", linewidth=1.2))
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x1 - 8, y1 + bend * 0.1),
            arrowprops={"arrowstyle": "-|>", "color": "#555555", "lw": 1.2},
        )
        value, grad = layout_mod.edge_labels(explanation, e)
        mx, my = (x0 + x1) / 2, (y0 + y1) / 2 + bend * 0.75
        ax.text(
            mx,
            my - 6,
            value,
            color=VALUE_COLOR,
            ha="center",
            va="bottom",
            fontsize=9,
            path_effects=halo,
        )
        if grad:
            ax.text(
                mx,
                my + 4,
                grad,
                color=GRAD_COLOR,
                ha="center",
                va="top",
                fontsize=9,
                path_effects=halo,
            )
    ox, oy = lay.output_end
    ax.text(
        ox + 6, oy, explanation.output.name, ha="left", va="center", fontsize=10, fontweight="bold"
    )
    for n in explanation.nodes:
        x, y = lay.x[n.index], lay.y[n.index]
        hw, hh = layout_mod.half_size(n)
        edge, lw = ("#d50000", 3.5) if n.anomaly else ("#333333", 1.3)
        module = getattr(n, "module", None) is not None
        face = svg.INPUT_FILL if n.is_input else svg.MODULE_FILL if module else "#fffbe6"
        if not n.is_input and not module and hw <= 20 and hh <= 20:
            shape: Any = Circle((x, y), 20, facecolor=face, edgecolor=edge, linewidth=lw)
        else:
            shape = FancyBboxPatch(
                (x - hw, y - hh),
                2 * hw,
                2 * hh,
                boxstyle=f"round,pad=0,rounding_size={6 if n.is_input or module else min(hh, hw)}",
                facecolor=face,
                edgecolor=edge,
                linewidth=lw,
            )
        ax.add_patch(shape)
        lines = layout_mod.node_lines(n)
        for k, line in enumerate(lines):
            dy = (k - (len(lines) - 1) / 2) * 14
            ax.text(
                x,
                y + dy,
                line,
                ha="center",
                va="center",
                fontsize=8 if k else 10,
                fontweight="normal" if k else "bold",
                color="#555555" if k else "black",
            )
        if not n.is_input:
            ax.text(x, y - hh - 4, n.name, ha="center", va="bottom", fontsize=8, color="#777777")
    return fig


def to_png(explanation: Any, dpi: int = 110) -> bytes:
    """The PNG file's bytes."""
    buf = io.BytesIO()
    figure(explanation, dpi=dpi).savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


def write(explanation: Any, path: str, dpi: int = 110) -> None:
    """Write the PNG atomically to ``path``."""
    svg.atomic_write(path, to_png(explanation, dpi=dpi))
