"""The explained graph as a PNG, drawn with matplotlib's Agg backend (no system binary).

The picture is the SVG's twin: the same layout and routes (``viz.placement``), values green
above each edge, gradients red below, a red outline where a NaN or inf first appeared. Labels
are placed with their sizes measured by matplotlib's own renderer, so none covers a box or
another label. ``figure`` returns the matplotlib
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
from chainrule.viz import placement, svg

VALUE_COLOR = svg.VALUE_COLOR
GRAD_COLOR = svg.GRAD_COLOR


FONT = {"edge": 9.0, "name": 8.0, "output": 10.0}  # points, at the natural size
MAX_PIXELS = 65000  # per side; Agg draws at most 2**16
MIN_SCALE = 0.2  # a given size shrinks the drawing at most this much (9pt labels: 1.8pt)


class PictureSizeError(ValueError):
    """The PNG asked for cannot be drawn legibly: too many pixels on a side for Agg, or a
    size so small for the graph that its labels would shrink below a fifth of their size."""


def _size(lay: Any, size: tuple[float, float] | None) -> tuple[float, float, float]:
    """The figure's (width, height) in inches and the factor the drawing is scaled by."""
    natural = (lay.width / 100, lay.height / 100)
    if size is None:
        return natural[0], natural[1], 1.0
    scale = min(size[0] / natural[0], size[1] / natural[1])
    if scale < MIN_SCALE:
        w, h = natural[0] * MIN_SCALE, natural[1] * MIN_SCALE
        raise PictureSizeError(
            f"a {size[0]:g}x{size[1]:g} inch picture is too small for this graph: its labels "
            f"would not be legible; give at least {w:.1f}x{h:.1f} inches, or no size"
        )
    return size[0], size[1], scale


def figure(explanation: Any, dpi: int = 110, size: tuple[float, float] | None = None) -> Any:
    """A matplotlib Figure of the graph (raises GraphTooLargeError past 300 nodes).

    ``size`` is (width, height) in inches; the drawing is scaled to fit it, centred, with its
    proportions kept. Without it the figure takes the size the graph needs.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    # text extents depend on the DPI and the font size only: a small figure measures them, and
    # the picture's own (perhaps very large) canvas is made once, at the end
    ruler = Figure(figsize=(1, 1), dpi=dpi)
    renderer = FigureCanvasAgg(ruler).get_renderer()
    made: dict[str, Any] = {}

    def make_measure(lay: Any) -> Any:
        w_in, h_in, scale = _size(lay, size)
        per_px = 100 / (scale * dpi)  # layout units per pixel
        made.update(scale=scale, w_in=w_in, h_in=h_in)
        sizes: dict[tuple[str, str], tuple[float, float]] = {}

        def measure(text: str, kind: str) -> tuple[float, float]:
            if (text, kind) not in sizes:
                t = Text(0, 0, text, fontsize=FONT[kind] * scale, fontweight=_WEIGHT.get(kind))
                t.set_figure(ruler)
                box = t.get_window_extent(renderer)
                sizes[(text, kind)] = (box.width * per_px, box.height * per_px)
            return sizes[(text, kind)]

        return measure

    p = placement.plan(explanation, make_measure)
    w_in, h_in = made["w_in"], made["h_in"]
    if max(w_in, h_in) * dpi > MAX_PIXELS:
        raise PictureSizeError(
            f"the picture would be {w_in * dpi:.0f} x {h_in * dpi:.0f} pixels, more than "
            f"{MAX_PIXELS} on a side: lower the DPI or the size"
        )
    fig = Figure(figsize=(w_in, h_in), dpi=dpi)
    FigureCanvasAgg(fig)
    _draw(explanation, p, fig, made["scale"], w_in, h_in)
    return fig


_WEIGHT = {"output": "bold"}


def _draw(explanation: Any, p: Any, fig: Any, scale: float, w_in: float, h_in: float) -> None:
    from matplotlib.patches import Circle, FancyBboxPatch, PathPatch
    from matplotlib.path import Path
    from matplotlib.patheffects import withStroke

    lay = p.layout
    aw, ah = lay.width / 100 * scale / w_in, lay.height / 100 * scale / h_in
    ax = fig.add_axes(((1 - aw) / 2, (1 - ah) / 2, aw, ah))
    ax.set_xlim(0, lay.width)
    ax.set_ylim(lay.height, 0)  # y grows downwards, as in the SVG
    ax.set_axis_off()
    halo = [withStroke(linewidth=3 * scale, foreground="white")]
    line = {"edgecolor": "#555555", "linewidth": 1.2 * scale}
    for k, segs in enumerate(p.routes):
        verts = [segs[0][0]] + [q for seg in segs for q in seg[1:]]
        codes = [Path.MOVETO] + [Path.CURVE4] * (3 * len(segs))
        # add_artist, not add_patch: the limits are set, and add_patch would spend seconds
        # on the extents of a long edge's hundreds of Bezier segments
        ax.add_artist(PathPatch(Path(verts, codes), fill=False, gid=f"edge-{k}", **line))
        (x1, y1), (cx, cy) = segs[-1][3], segs[-1][2]
        d = max(((x1 - cx) ** 2 + (y1 - cy) ** 2) ** 0.5, 1e-9)
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x1 - 8 * (x1 - cx) / d, y1 - 8 * (y1 - cy) / d),
            arrowprops={"arrowstyle": "-|>", "color": "#555555", "lw": 1.2 * scale},
        )
        (value, grad), placed = p.labels[k], p.placed[k]
        for text, at, color, kind in (
            (value, placed.value, VALUE_COLOR, "value"),
            (grad, placed.grad, GRAD_COLOR, "grad"),
        ):
            if text and at is not None:
                ax.text(
                    *at,
                    text,
                    color=color,
                    ha="center",
                    va="center",
                    fontsize=FONT["edge"] * scale,
                    path_effects=halo,
                    gid=f"edge-{k}-{kind}",
                )
    ox, oy = lay.output_end
    ax.text(
        ox + 6,
        oy,
        explanation.output.name,
        ha="left",
        va="center",
        fontsize=FONT["output"] * scale,
        fontweight="bold",
        gid="output-name",
    )
    for n in explanation.nodes:
        x, y = lay.x[n.index], lay.y[n.index]
        hw, hh = layout_mod.half_size(n)
        edge, lw = ("#d50000", 3.5) if n.anomaly else ("#333333", 1.3)
        module = getattr(n, "module", None) is not None
        face = svg.INPUT_FILL if n.is_input else svg.MODULE_FILL if module else "#fffbe6"
        style: dict[str, Any] = {"facecolor": face, "edgecolor": edge, "linewidth": lw * scale}
        if not n.is_input and not module and hw <= 20 and hh <= 20:
            shape: Any = Circle((x, y), 20, gid=f"node-{n.index}", **style)
        else:
            rounding = 6 if n.is_input or module else min(hh, hw)
            shape = FancyBboxPatch(
                (x - hw, y - hh),
                2 * hw,
                2 * hh,
                boxstyle=f"round,pad=0,rounding_size={rounding}",
                gid=f"node-{n.index}",
                **style,
            )
        ax.add_patch(shape)
        lines = layout_mod.node_lines(n)
        for k, text in enumerate(lines):
            dy = (k - (len(lines) - 1) / 2) * 14
            ax.text(
                x,
                y + dy,
                text,
                ha="center",
                va="center",
                fontsize=(8 if k else 10) * scale,
                fontweight="normal" if k else "bold",
                color="#555555" if k else "black",
                gid=f"node-{n.index}-label",
            )
        if not n.is_input:
            ax.text(
                x,
                p.names[n.index][3],
                n.name,
                ha="center",
                va="bottom",
                fontsize=FONT["name"] * scale,
                color="#777777",
                gid=f"node-{n.index}-name",
            )


def to_png(explanation: Any, dpi: int = 110, size: tuple[float, float] | None = None) -> bytes:
    """The PNG file's bytes (``size`` in inches, as in ``figure``)."""
    buf = io.BytesIO()
    figure(explanation, dpi=dpi, size=size).savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


def write(
    explanation: Any, path: str, dpi: int = 110, size: tuple[float, float] | None = None
) -> None:
    """Write the PNG atomically to ``path``."""
    svg.atomic_write(path, to_png(explanation, dpi=dpi, size=size))
