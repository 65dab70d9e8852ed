"""Run every benchmark workload side by side with its peers and write benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/run.py            # all workloads (several minutes)
    .venv/bin/python benchmarks/run.py --quick    # smaller sizes, a smoke run
    .venv/bin/python benchmarks/run.py --only w1,w4 --no-write

Each ``benchmarks/w*.py`` defines ``run(quick) -> list[Row]``; peers (PyTorch 2.13.0 CPU,
micrograd, hand-written NumPy) are measured in the same process run as chainrule. ``make bench``
installs the ``bench`` extra first.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import Row, machine  # noqa: E402


def fmt(v: float) -> str:
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def table(rows: list[Row]) -> str:
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
            f"{ratio:.2f}x" if ratio is not None else "-",
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
    args = parser.parse_args()
    names = sorted(p.stem for p in HERE.glob("w*.py"))
    if args.only:
        wanted = [w.strip().lower() for w in args.only.split(",") if w.strip()]
        names = [n for n in names if any(n.lower().startswith(w) for w in wanted)]
    rows: list[Row] = []
    for name in names:
        t0 = time.perf_counter()
        print(f"running {name} ...", flush=True)
        module = importlib.import_module(name)
        new = module.run(quick=args.quick)
        rows.extend(new)
        print(table(new), f"\n({time.perf_counter() - t0:.0f} s)\n", flush=True)
    report = "\n".join(
        [
            "# Benchmark results",
            "",
            f"Measured {datetime.date.today().isoformat()} on {machine()}.",
            f"Mode: {'quick' if args.quick else 'full'}; command: `python benchmarks/run.py"
            f"{' --quick' if args.quick else ''}`. Medians of repeated, interleaved runs in one",
            "process (W5 and W6: one subprocess per implementation for clean peak memory).",
            "The machines are shared and noisy: a second run moves medians by up to ~10%.",
            "",
            table(rows),
            "",
            *[f"- {r.workload} ({r.measure}): {n}" for r in rows for n in r.notes],
            "",
        ]
    )
    print(report)
    if not args.no_write and not args.only:
        tmp = HERE / "RESULTS.md.tmp"
        tmp.write_text(report)
        os.replace(tmp, HERE / "RESULTS.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
