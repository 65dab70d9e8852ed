"""Where each edge runs and where its two numbers go, so that no label covers a box or another
label, and every label sits by its own edge.

``route`` turns every edge into a chain of cubic Bezier segments. An edge between neighbouring
columns is one curve, as on the slides; a longer edge (a weight read again by the loss's L2
penalty) passes each column in between through a free lane beside the boxes there (above,
below or between them), running straight across the column and curving only in the gaps
between columns, so it never crosses a box.

``place`` then puts each edge's pair (value in green, gradient in red) by its own route: of
the points from the route's middle outwards, and of the ways to sit there (straddling a
shallow line along its normal, value on the upper side as on the slides; stacked beside a
steep one; both above; both below), it takes the cheapest (nearest the line and its middle)
where the pair's rectangles, measured by the caller (matplotlib's renderer for the PNG, an
estimate for the SVG), stay inside the picture, clear of every obstacle (boxes, node names,
labels already placed, with a blank line's room above and below another edge's labels, so
that two pairs never read as one column), crossed by no line, and nearer their own edge than
any other. Failing that, it lets the pair's own line run through it. When some pair still
finds no place, ``plan`` spreads the layout and tries again (the last resort: a bigger
figure).

>>> import chainrule as cr
>>> from chainrule.viz import layout
>>> e = cr.viz.explain_expression("(x+y)*z", {"x": -2, "y": 5, "z": -4})
>>> lay = layout.layout(e)
>>> routes = route(lay, e)
>>> len(routes) == len(e.edges), len(routes[0])  # one segment between neighbouring columns
(True, 1)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.viz import layout as layout_mod

Point = tuple[float, float]
Segment = tuple[Point, Point, Point, Point]  # a cubic Bezier: start, two controls, end
Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 with y growing downwards
Measure = Callable[[str], tuple[float, float]]  # a label's width and height

PAD = 3.0  # the least room between a label and anything else
APART = 28.0  # the least room above or below a label to another edge's label: pairs read apart
GAP = 3.0  # between an edge's line and the label beside it
LANE = 8.0  # between two long edges sharing a lane, and between a lane and a box
NAME_ROOM = 16.0  # a gate's name sits above it: lanes keep clear of it too
SHALLOW = 0.8  # |normal's y|: a line within about 37 degrees of level is straddled
FRACTIONS = (0.5, 0.42, 0.58, 0.34, 0.66, 0.26, 0.74, 0.18, 0.82, 0.1, 0.9)


@dataclass(frozen=True)
class Placed:
    """Where an edge's value and gradient go: each label's centre (None for no gradient)."""

    value: Point
    grad: Point | None


def node_rect(lay: Any, node: Any) -> Rect:
    """The rectangle a node's shape covers."""
    hw, hh = layout_mod.half_size(node)
    x, y = lay.x[node.index], lay.y[node.index]
    return (x - hw, y - hh, x + hw, y + hh)


def _curve(p0: Point, p3: Point, bend: float = 0.0) -> Segment:
    (x0, y0), (x1, y1) = p0, p3
    c1 = (x0 + (x1 - x0) * 0.45, y0 + bend)
    c2 = (x1 - (x1 - x0) * 0.45, y1 + bend)
    return (p0, c1, c2, p3)


def _line(p0: Point, p3: Point) -> Segment:
    (x0, y0), (x1, y1) = p0, p3
    return (p0, (x0 + (x1 - x0) / 3, y0 + (y1 - y0) / 3), (x0 + (x1 - x0) * 2 / 3, y1), p3)


def _points(segments: Sequence[Segment], per: int) -> np.ndarray:
    """Points along a route, ``per`` to a segment, as an (N, 2) array."""
    t = np.linspace(0.0, 1.0, per + 1)[1:, None]  # (per, 1)
    u = 1 - t
    w = np.hstack([u**3, 3 * u * u * t, 3 * u * t * t, t**3])  # (per, 4) Bernstein weights
    ctrl = np.asarray(segments, dtype=float)  # (S, 4, 2)
    pts = np.einsum("pk,skd->spd", w, ctrl).reshape(-1, 2)  # (S * per, 2)
    return np.vstack([ctrl[0, 0][None, :], pts])


def route(lay: Any, explanation: Any) -> list[list[Segment]]:
    """Each edge's route, in ``explanation.edges`` order (repeated edges bend apart)."""
    nodes = explanation.nodes
    columns: dict[int, list[Rect]] = {}
    reach: dict[int, float] = {}  # the widest half-width in each column
    for n in nodes:
        c = lay.column[n.index]
        x0, y0, x1, y1 = node_rect(lay, n)
        top = y0 - (0.0 if n.is_input else NAME_ROOM)
        columns.setdefault(c, []).append((x0, top, x1, y1))
        reach[c] = max(reach.get(c, 0.0), (x1 - x0) / 2)
    column_x = {lay.column[n.index]: lay.x[n.index] for n in nodes}
    used: dict[tuple[int, float], int] = {}  # how many long edges a lane holds already
    seen: dict[tuple[int, int | None], int] = {}
    routes: list[list[Segment]] = []
    for e in explanation.edges:
        s = nodes[e.source]
        start = (lay.x[e.source] + layout_mod.half_size(s)[0], lay.y[e.source])
        if e.target is None:
            end = lay.output_end
            span: range = range(0)
        else:
            t = nodes[e.target]
            end = (lay.x[e.target] - layout_mod.half_size(t)[0] - 2, lay.y[e.target])
            span = range(lay.column[e.source] + 1, lay.column[e.target])
        k = seen.get((e.source, e.target), 0)
        seen[(e.source, e.target)] = k + 1
        if not span:
            bend = (-1) ** k * ((k + 1) // 2) * 34.0
            routes.append([_curve(start, end, bend)])
            continue
        segs: list[Segment] = []
        here = start
        for c in span:
            if c not in columns:  # an empty column has nothing to pass around
                continue
            xc = column_x[c]
            frac = (xc - start[0]) / max(end[0] - start[0], 1.0)
            want = start[1] + (end[1] - start[1]) * frac
            y = _lane(columns[c], want, c, used)
            left, right = (xc - reach[c] - LANE, y), (xc + reach[c] + LANE, y)
            segs.append(_curve(here, left))
            segs.append(_line(left, right))
            here = right
        segs.append(_curve(here, end))
        routes.append(segs)
    return routes


def _lane(rects: list[Rect], want: float, c: int, used: dict[tuple[int, float], int]) -> float:
    """A height at which a line crosses a column clear of its boxes, near ``want``; edges that
    share a lane run a little apart."""
    rects = sorted(rects, key=lambda r: r[1])
    ends = [-math.inf] + [v for r in rects for v in (r[1], r[3])] + [math.inf]
    best: tuple[float, float, tuple[int, float]] | None = None  # (cost, y, the lane)
    for lo, hi in zip(ends[0::2], ends[1::2], strict=True):
        lo, hi = lo + LANE, hi - LANE
        if lo > hi:
            continue
        key = (c, lo if math.isfinite(lo) else hi)
        n = used.get(key, 0)
        if not math.isfinite(lo):  # above the column: the next edge goes higher
            y = min(want, hi) - n * LANE
        elif not math.isfinite(hi):  # below it: lower
            y = max(want, lo) + n * LANE
        else:
            y = min(max(want + n * LANE, lo), hi)
        cost = abs(y - want)
        if best is None or cost < best[0]:
            best = (cost, y, key)
    assert best is not None  # the lanes above and below the column are always open
    used[best[2]] = used.get(best[2], 0) + 1
    return best[1]


def _candidates(segments: Sequence[Segment]) -> list[tuple[float, float, float, float]]:
    """Points along a route, from its middle (by length) outwards, each with the unit normal
    of the route there that points up the page: (x, y, nx, ny)."""
    pts = _points(segments, 40)
    lengths = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
    total = lengths[-1] or 1.0
    out = []
    for f in FRACTIONS:
        k = int(np.argmin(np.abs(lengths / total - f)))
        a, b = pts[max(k - 1, 0)], pts[min(k + 1, len(pts) - 1)]
        tx, ty = b - a
        n = math.hypot(tx, ty) or 1.0
        nx, ny = ty / n, -tx / n  # perpendicular to the tangent
        if ny > 0 or (ny == 0 and nx > 0):
            nx, ny = -nx, -ny
        out.append((float(pts[k, 0]), float(pts[k, 1]), nx, ny))
    return out


def _rect(cx: float, cy: float, size: tuple[float, float]) -> Rect:
    w, h = size
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def place(
    routes: Sequence[Sequence[Segment]],
    labels: Sequence[tuple[str, str]],
    measure: Measure,
    obstacles: Sequence[Rect],
    bounds: tuple[float, float],
) -> tuple[list[Placed | None], list[Rect]]:
    """Each edge's label positions (None where no place is free), and the rectangles taken.

    ``labels`` are the (value, gradient) texts of each edge ("" for no gradient); ``bounds`` the
    picture's width and height. At most ``BUDGET`` positions per edge are tried on average, so
    a pathological graph (one value read by a hundred gates far apart) is drawn in seconds:
    past that, the labels left get no place.
    """
    budget = BUDGET * len(labels)
    # every line's points in one array, each tagged with its edge, about 3 units apart
    lengths = [_length(r) for r in routes]
    step = max(3.0, sum(lengths) / 100000)  # at most some 100,000 points in all
    parts = [
        _points(r, max(8, int(n / step / len(r)) + 1)) for r, n in zip(routes, lengths, strict=True)
    ]
    pts = np.vstack(parts)  # (P, 2)
    ids = np.concatenate([np.full(len(q), k) for k, q in enumerate(parts)])  # (P,)
    order = np.argsort(pts[:, 0], kind="stable")
    pts, ids = pts[order], ids[order]
    fixed = np.asarray(obstacles, dtype=float).reshape(-1, 4)  # (B, 4)
    taken: list[Rect] = []
    placed: list[Placed | None] = []
    for k, (value, grad) in enumerate(labels):
        vs = measure(value)
        gs = measure(grad) if grad else (0.0, 0.0)
        found: Placed | None = None
        points = _candidates(routes[k]) if budget > 0 else []
        taken_now = np.asarray(taken, dtype=float).reshape(-1, 4)
        near = _Near(pts, ids, parts[k], k, fixed, taken_now, bounds)
        options = _options(points, vs, gs if grad else None)
        for relaxed, _, value_at, grad_at in options:
            if budget <= 0:
                break
            rects = [(_rect(*value_at, vs), value_at)]
            if grad:
                rects.append((_rect(*grad_at, gs), grad_at))
            budget -= 1
            if all(near.fits(r, c, own_may_cross=relaxed) for r, c in rects):
                found = Placed(value_at, grad_at if grad else None)
                taken.extend(r for r, _ in rects)
                break
        placed.append(found)
    return placed, taken


def _options(
    points: Sequence[tuple[float, float, float, float]],
    vs: tuple[float, float],
    gs: tuple[float, float] | None,
) -> list[tuple[bool, float, Point, Point]]:
    """Every way to put a pair by its line, cheapest first: (relaxed, cost, value, gradient).

    Where the line is shallow the pair straddles it (the slides' way: value on the upper side,
    gradient on the lower, each just off the line along its normal); where it is steep the pair
    stacks beside it, right or left; anywhere it may go both above or both below. The cost is
    how far the labels sit from the line's point plus how far that point is from the line's
    middle, so a compact place near the middle wins. Then every way again, relaxed (straddling
    a steep line too): there the label's own line may run through it.
    """
    g = gs if gs is not None else (0.0, 0.0)
    pair_h = vs[1] + (PAD + g[1] if gs is not None else 0.0)
    out: list[tuple[bool, float, Point, Point]] = []
    for i, (px, py, nx, ny) in enumerate(points):
        along = 30.0 * abs(FRACTIONS[i] - 0.5)  # the middle reads best
        dv = abs(nx) * vs[0] / 2 + abs(ny) * vs[1] / 2 + GAP  # a rect's reach along n
        dg = abs(nx) * g[0] / 2 + abs(ny) * g[1] / 2 + GAP
        straddle = ((px + nx * dv, py + ny * dv), (px - nx * dg, py - ny * dg))
        ways = [((px, py - GAP - g[1] - PAD - vs[1] / 2), (px, py - GAP - g[1] / 2))]
        ways.append(((px, py + GAP + vs[1] / 2), (px, py + GAP + vs[1] + PAD + g[1] / 2)))
        if abs(ny) >= SHALLOW:
            ways.append(straddle)
        else:
            # clear of the line over the pair's height: it runs |ny/nx| across per unit down
            run = pair_h / 2 * abs(ny / nx) if nx else 0.0
            top = py - pair_h / 2
            for sign in (1, -1):
                x = px + sign * (max(vs[0], g[0]) / 2 + GAP + run)
                ways.append(((x, top + vs[1] / 2), (x, top + vs[1] + PAD + g[1] / 2)))
        if abs(ny) < SHALLOW:
            ways.append(straddle)  # relaxed only: its own steep line may run through it
        for n, (value_at, grad_at) in enumerate(ways):
            far = math.dist(value_at, (px, py)) + (math.dist(grad_at, (px, py)) if gs else 0.0)
            cost = far / (2 if gs else 1) + along
            if abs(ny) >= SHALLOW or n < len(ways) - 1:
                out.append((False, cost, value_at, grad_at))
            out.append((True, cost, value_at, grad_at))
    out.sort(key=lambda o: (o[0], o[1]))
    return out


def _length(segments: Sequence[Segment]) -> float:
    return sum(math.dist(a, b) + math.dist(b, c) + math.dist(c, d) for a, b, c, d in segments)


class _Near:
    """Whether a label's rectangle is free, for edge ``k``: inside the picture, clear of the
    obstacles and the labels taken, crossed by no other line, and nearer its own line. The
    lines' points are kept sorted by x, so each check reads only those near the label."""

    def __init__(
        self,
        pts: np.ndarray,
        ids: np.ndarray,
        own: np.ndarray,
        k: int,
        fixed: np.ndarray,
        taken: np.ndarray,
        bounds: tuple[float, float],
    ) -> None:
        self.pts, self.ids, self.own, self.k = pts, ids, own, k
        self.fixed, self.taken, self.bounds = fixed, taken, bounds
        self.xs = pts[:, 0]

    def _window(self, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
        a, b = np.searchsorted(self.xs, [lo, hi])
        return self.pts[a:b], self.ids[a:b]

    def fits(self, r: Rect, centre: Point, own_may_cross: bool) -> bool:
        x0, y0, x1, y1 = r
        if x0 < PAD or y0 < PAD or x1 > self.bounds[0] - PAD or y1 > self.bounds[1] - PAD:
            return False
        if _hits(self.fixed, r, PAD, PAD) or _hits(self.taken, r, PAD, APART):
            return False
        p, ids = self._window(x0, x1)
        inside = (p[:, 1] > y0) & (p[:, 1] < y1)
        if (inside & (ids != self.k)).any() if own_may_cross else inside.any():
            return False
        c = np.asarray(centre)
        own = float(np.sqrt(((self.own - c) ** 2).sum(axis=1).min())) + 1.0
        p, ids = self._window(c[0] - own, c[0] + own)
        near = ((p - c) ** 2).sum(axis=1) <= own * own
        return not (near & (ids != self.k)).any()


def _hits(boxes: np.ndarray, r: Rect, pad: float, pad_y: float) -> bool:
    """Whether ``r`` comes within ``pad`` across or ``pad_y`` up and down of any of ``boxes``."""
    if not len(boxes):
        return False
    b = boxes
    return bool(
        (
            (r[0] < b[:, 2] + pad)
            & (b[:, 0] < r[2] + pad)
            & (r[1] < b[:, 3] + pad_y)
            & (b[:, 1] < r[3] + pad_y)
        ).any()
    )


BUDGET = 80  # positions tried per edge, on average, in one placement
SPREADS = (1.0, 1.25, 1.6, 2.0)  # the last resort, tried in turn: a bigger picture
NAME_GAP = 3.0  # between a gate and its name above it
ROOM = 40.0  # the least room between a lane and the picture's edge (a label fits there)
MakeMeasure = Callable[[Any], Callable[[str, str], tuple[float, float]]]


@dataclass(frozen=True)
class Plan:
    """Everything a renderer draws, in layout units: positions, routes, labels' centres."""

    layout: Any
    routes: list[list[Segment]]
    labels: list[tuple[str, str]]
    placed: list[Placed]
    names: dict[int, Rect]  # the rectangle of each gate's name above it
    output_name: Rect


def arrange(explanation: Any, spread: float = 1.0) -> tuple[Any, list[list[Segment]]]:
    """The layout and the edges' routes, the picture grown where a lane runs near its edge."""
    lay = layout_mod.layout(explanation, spread=spread)
    routes = route(lay, explanation)
    ys = [p[1] for r in routes for seg in r for p in seg]
    shift = max(0.0, ROOM - min(ys))
    extra = max(0.0, max(ys) + ROOM - lay.height)
    if shift or extra:
        lay = dataclasses.replace(
            lay,
            y={k: v + shift for k, v in lay.y.items()},
            height=lay.height + shift + extra,
            output_end=(lay.output_end[0], lay.output_end[1] + shift),
        )
        routes = route(lay, explanation)
    return lay, routes


def plan(explanation: Any, make_measure: MakeMeasure) -> Plan:
    """Lay out, route and label ``explanation``; ``make_measure(layout)`` returns a function
    giving a text's (width, height) in layout units for a kind of text: "edge", "name" or
    "output". Spreads the layout until every label finds a place (or the spreads run out,
    when a label that found none goes at its edge's middle)."""
    labels = [layout_mod.edge_labels(explanation, e) for e in explanation.edges]
    for spread in SPREADS:
        if spread > 1 and len(explanation.edges) > 120:  # no room to gain worth the time
            break
        lay, routes = arrange(explanation, spread)
        measure = make_measure(lay)
        obstacles = [node_rect(lay, n) for n in explanation.nodes]
        names: dict[int, Rect] = {}
        for n in explanation.nodes:
            if not n.is_input:
                w, h = measure(n.name, "name")
                bottom = lay.y[n.index] - layout_mod.half_size(n)[1] - NAME_GAP
                x = lay.x[n.index]
                names[n.index] = (x - w / 2, bottom - h, x + w / 2, bottom)
        ox, oy = lay.output_end
        w, h = measure(explanation.output.name, "output")
        output_name = (ox + 6, oy - h / 2, ox + 6 + w, oy + h / 2)
        obstacles += [*names.values(), output_name]

        def edge_size(text: str, m: Any = measure) -> tuple[float, float]:
            return m(text, "edge")

        bounds = (lay.width, lay.height)
        placed, _ = place(routes, labels, edge_size, obstacles, bounds)
        if all(p is not None for p in placed) or spread == SPREADS[-1]:
            break
    final = [
        p if p is not None else _middle(r, g)
        for p, r, g in zip(placed, routes, labels, strict=True)
    ]
    return Plan(lay, routes, labels, final, names, output_name)


def _middle(segments: Sequence[Segment], labels: tuple[str, str]) -> Placed:
    px, py, _, _ = _candidates(segments)[0]
    return Placed((px, py - 10), (px, py + 10) if labels[1] else None)
