"""``diagnostics.html``: the records of ``train.Diagnostics`` as one self-contained page.

Plots are inline SVG (no script, no stylesheet or font from elsewhere, no external URL), so the
page opens offline in any browser: the loss, log10 update:data ratio per parameter with the
healthy band shaded, saturated / dead % per layer over the steps, and each layer's activation
histogram at the last sample.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Sequence
from typing import Any

from chainrule.train import checkpoint

W, H, PAD = 520, 220, 40
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def _line_plot(
    title: str,
    series: dict[str, list[tuple[float, float]]],
    band: tuple[float, float] | None = None,
    ylabel: str = "",
) -> str:
    pts = [p for s in series.values() for p in s if math.isfinite(p[1])]
    if not pts:
        return f"<figure><figcaption>{html.escape(title)}: no data</figcaption></figure>"
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    if band is not None:
        ys += list(band)
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    x1, y1 = (x0 + 1 if x1 == x0 else x1), (y0 + 1 if y1 == y0 else y1)

    def sx(x: float) -> float:
        return PAD + (x - x0) / (x1 - x0) * (W - 2 * PAD)

    def sy(y: float) -> float:
        return H - PAD + (y - y0) / (y1 - y0) * (2 * PAD - H)

    parts = [f'<svg width="{W}" height="{H}" role="img">',
             f'<rect x="{PAD}" y="{PAD}" width="{W - 2 * PAD}" height="{H - 2 * PAD}" '
             'fill="#fafafa" stroke="#999"/>']  # fmt: skip
    if band is not None:
        top, bottom = sy(band[1]), sy(band[0])
        parts.append(f'<rect class="band" x="{PAD}" y="{top:.1f}" width="{W - 2 * PAD}" '
                     f'height="{bottom - top:.1f}" fill="#c8f0c8"/>')  # fmt: skip
    for i, (name, s) in enumerate(series.items()):
        ok = [(sx(x), sy(y)) for x, y in s if math.isfinite(y)]
        color = COLORS[i % len(COLORS)]
        if len(ok) == 1:
            parts.append(f'<circle cx="{ok[0][0]:.1f}" cy="{ok[0][1]:.1f}" r="3" fill="{color}"/>')
        elif ok:
            d = " ".join(f"{x:.1f},{y:.1f}" for x, y in ok)
            parts.append(f'<polyline class="series" points="{d}" fill="none" stroke="{color}" '
                         'stroke-width="2"/>')  # fmt: skip
        parts.append(f'<text x="{W - PAD + 4}" y="{PAD + 14 * i + 10}" font-size="11" '
                     f'fill="{color}">{html.escape(name)}</text>')  # fmt: skip
    for y in (y0, y1):
        parts.append(f'<text x="2" y="{sy(y) + 4:.1f}" font-size="10">{y:.3g}</text>')
    parts.append(f'<text x="{PAD}" y="{H - 8}" font-size="10">step {x0:g}</text>')
    parts.append(f'<text x="{W - PAD - 60}" y="{H - 8}" font-size="10">step {x1:g}</text>')
    parts.append(f'<text x="{PAD}" y="14" font-size="10">{html.escape(ylabel)}</text>')
    parts.append("</svg>")
    return f"<figure>{''.join(parts)}<figcaption>{html.escape(title)}</figcaption></figure>"


def _histogram(name: str, s: dict[str, Any]) -> str:
    counts: Sequence[int] = s["hist"]
    top = max(max(counts), 1)
    bw = (W - 2 * PAD) / len(counts)
    bars = "".join(
        f'<rect class="bar" x="{PAD + i * bw:.1f}" y="{H - PAD - c / top * (H - 2 * PAD):.1f}" '
        f'width="{bw - 1:.1f}" height="{c / top * (H - 2 * PAD):.1f}" fill="#1f77b4"/>'
        for i, c in enumerate(counts)
    )
    lo, hi = s["range"]
    extra = "".join(f", {k.split('_')[0]} {s[k]:.1f}%" for k in ("saturated_pct", "dead_pct")
                    if k in s)  # fmt: skip
    title = f"{name} ({s['kind']}): mean {s['mean']:.3g}, std {s['std']:.3g}{extra}"
    return (f'<figure><svg width="{W}" height="{H}" '
            f'role="img">{bars}<text x="{PAD}" y="{H - 8}" font-size="10">{lo:.3g}</text>'
            f'<text x="{W - PAD - 30}" y="{H - 8}" font-size="10">{hi:.3g}</text></svg>'
            f"<figcaption>{html.escape(title)}</figcaption></figure>")  # fmt: skip


def render(records: Sequence[dict[str, Any]]) -> str:
    """The page's HTML text."""
    loss = {"loss": [(r["step"], float(r["loss"])) for r in records]}
    ratios: dict[str, list[tuple[float, float]]] = {}
    pct: dict[str, list[tuple[float, float]]] = {}
    for r in records:
        for name, p in r["params"].items():
            v = p.get("log10_update_ratio")
            if v is not None:
                ratios.setdefault(name, []).append((r["step"], v))
        for name, s in r["layers"].items():
            for key in ("saturated_pct", "dead_pct"):
                if key in s:
                    pct.setdefault(f"{name} {s['kind']} {key.split('_')[0]}", []).append(
                        (r["step"], s[key])
                    )
    figures = [
        _line_plot("training loss at the sampled steps", loss, ylabel="loss"),
        _line_plot(
            "log10 std(update) / std(weight) per parameter; green: the healthy band around 1e-3",
            ratios,
            band=(-4.0, -2.0),
            ylabel="log10 ratio",
        ),
    ]
    if pct:
        figures.append(_line_plot("% of units saturated (tanh/sigmoid) or dead (ReLU)", pct,
                                  ylabel="%"))  # fmt: skip
    last = records[-1]
    hists = [_histogram(n, s) for n, s in last["layers"].items()]
    rows = "".join(
        f"<tr><td>{html.escape(n)}</td><td>{p['shape']}</td><td>{p['weight_std']:.3g}</td>"
        f"<td>{'-' if p['grad_norm'] is None else format(p['grad_norm'], '.3g')}</td>"
        f"<td>{'-' if p['grad_std'] is None else format(p['grad_std'], '.3g')}</td>"
        f"<td>{'-' if p.get('update_ratio') is None else format(p['update_ratio'], '.2e')}</td>"
        "</tr>"
        for n, p in last["params"].items()
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>chainrule diagnostics</title><style>body{font-family:sans-serif;margin:2em}"
        "figure{display:inline-block;margin:0.5em}td,th{padding:2px 8px;text-align:right}"
        "</style></head><body><h1>Training diagnostics</h1>"
        f"<p>{len(records)} samples, steps {records[0]['step']} to {last['step']}.</p>"
        f"<h2>Over time</h2>{''.join(figures)}"
        f"<h2>Activations at step {last['step']}</h2>"
        f"{''.join(hists) or '<p>(not a Sequential)</p>'}"
        f"<h2>Parameters at step {last['step']}</h2><table><tr><th>parameter</th><th>shape</th>"
        "<th>weight std</th><th>grad norm</th><th>grad std</th><th>update:data</th></tr>"
        f"{rows}</table></body></html>\n"
    )


def write(path: str | os.PathLike[str], records: Sequence[dict[str, Any]]) -> None:
    """Write the page atomically."""
    checkpoint.atomic_write_bytes(path, render(records).encode())
