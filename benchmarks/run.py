"""Run every benchmark workload side by side with its peers and write benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/run.py            # all workloads (several minutes)
    .venv/bin/python benchmarks/run.py --quick    # smaller sizes, a smoke run
    .venv/bin/python benchmarks/run.py --only w1,w4 --no-write
    .venv/bin/python benchmarks/run.py --rounds 3  # each workload 3 times: medians, ranges

Each ``benchmarks/w*.py`` defines ``run(quick) -> list[Row]``; peers (PyTorch 2.13.0 CPU,
micrograd, hand-written NumPy) are measured in the same process run as chainrule. ``make bench``
installs the ``bench`` extra first.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import Row, machine  # noqa: E402

# RESULTS.md from this line on is written by hand (studies run on their own), and kept
KEEP = "<!-- below: studies run on their own; benchmarks/run.py keeps this part -->"


def fmt(v: float) -> str:
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def combine(rounds: list[list[Row]]) -> tuple[list[Row], dict[tuple[str, str], str]]:
    """One row per measure from several rounds: the median of each value, the goal counted
    as met when most rounds met it; and chainrule / torch as the median of the rounds' own
    ratios (each round measured both side by side) with their range."""
    rows, spread = [], {}
    for same in zip(*rounds, strict=True):
        first = same[0]
        values = {
            k: statistics.median(r.values[k] for r in same if k in r.values) for k in first.values
        }
        verdicts = [r.met for r in same if r.met is not None]
        met = None if not verdicts else sum(verdicts) > len(verdicts) / 2
        notes = list(first.notes)
        numpy_ratios = [x for x in (r.ratio("numpy") for r in same) if x is not None]
        prefix = "chainrule / hand-written NumPy ="
        if len(numpy_ratios) > 1 and notes and notes[0].startswith(prefix):
            # the rounds' own ratios, as for torch below, not the first round's
            notes[0] = (
                f"{prefix} {statistics.median(numpy_ratios):.2f}x "
                f"(rounds {min(numpy_ratios):.2f}-{max(numpy_ratios):.2f})"
            )
        notes.append(f"goal met in {sum(verdicts)} of {len(same)} rounds")
        rows.append(replace(first, values=values, met=met, notes=notes))
        ratios = [x for x in (r.ratio("torch") for r in same) if x is not None]
        if len(ratios) > 1:
            key = (first.workload, first.measure)
            spread[key] = f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
    return rows, spread


def table(rows: list[Row], spread: dict[tuple[str, str], str] | None = None) -> str:
    peers = sorted({k for r in rows for k in r.values if k != "chainrule"})
    head = ["workload", "measure", "chainrule", *peers, "chainrule / torch", "goal", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        ratio = r.ratio("torch")
        met = {True: "yes", False: "**no**", None: "-"}[r.met]
        cells = [
            r.workload,
            r.measure + (" (higher is better)" if r.higher_is_better else ""),
            fmt(r.values["chainrule"]),
            *[fmt(r.values[p]) if p in r.values else "-" for p in peers],
            (spread or {}).get((r.workload, r.measure), f"{ratio:.2f}x")
            if ratio is not None
            else "-",
            r.goal,
            met,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--only", default="", help="comma-separated prefixes, e.g. w1,w4")
    parser.add_argument("--no-write", action="store_true", help="print only; keep RESULTS.md")
    parser.add_argument(
        "--rounds", type=int, default=1, help="run every workload N times; report medians"
    )
    args = parser.parse_args()
    names = sorted(p.stem for p in HERE.glob("w*.py"))
    if args.only:
        wanted = [w.strip().lower() for w in args.only.split(",") if w.strip()]
        names = [n for n in names if any(n.lower().startswith(w) for w in wanted)]
    rows: list[Row] = []
    all_rounds: list[Row] = []
    spread: dict[tuple[str, str], str] = {}
    for name in names:
        module = importlib.import_module(name)
        if not hasattr(module, "run"):  # a standalone study (w7_diagnose): run it by itself
            continue
        rounds = []
        for k in range(max(1, args.rounds)):
            t0 = time.perf_counter()
            print(f"running {name} (round {k + 1} of {args.rounds}) ...", flush=True)
            rounds.append(module.run(quick=args.quick))
            print(table(rounds[-1]), f"\n({time.perf_counter() - t0:.0f} s)\n", flush=True)
        all_rounds.extend(row for rnd in rounds for row in rnd)
        new, more = combine(rounds)
        rows.extend(new)
        spread.update(more)
    report = "\n".join(
        [
            "# Benchmark results",
            "",
            f"Measured {datetime.date.today().isoformat()} on {machine()}.",
            f"Mode: {'quick' if args.quick else 'full'}; command: `python benchmarks/run.py"
            f"{' --quick' if args.quick else ''}"
            f"{f' --rounds {args.rounds}' if args.rounds > 1 else ''}`. Medians of repeated,",
            "interleaved runs in one process (W2, W3, W5, W6, W7: a subprocess per setting or",
            "implementation, for clean malloc settings and peak memory). The machines are shared",
            f"and noisy: each workload ran in {args.rounds} round(s); a value is the median over",
            "rounds, chainrule / torch is the median of the rounds' own ratios (their range in",
            "parentheses), and a goal counts as met when most rounds met it. Every round's rows",
            "are in results.json.",
            "",
            table(rows, spread),
            "",
            *[f"- {r.workload} ({r.measure}): {n}" for r in rows for n in r.notes],
            "",
        ]
    )
    results = HERE / "RESULTS.md"
    if results.exists() and KEEP in results.read_text():  # the hand-written studies stay
        report += "\n" + KEEP + results.read_text().split(KEEP, 1)[1]
    print(report)
    if not args.no_write and not args.only:
        for name, text in (
            ("RESULTS.md", report),
            ("results.json", json.dumps([asdict(r) for r in all_rounds], indent=1) + "\n"),
        ):
            tmp = HERE / (name + ".tmp")
            tmp.write_text(text)
            os.replace(tmp, HERE / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
