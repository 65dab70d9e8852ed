"""W5: a chain of 1,000,000 scalar ops (y = y*1.0000001 + 1e-9) then backward.

Each implementation runs in its own subprocess so its peak memory (VmHWM above the baseline
after imports) is its own. Seconds and MiB. Goal (issue 2): completes; time and peak memory no
worse than PyTorch's.
"""

from __future__ import annotations

import json
import subprocess
import sys

from harness import Row

CHILD = r"""
import json, sys, time

def vmhwm():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")

impl, n = sys.argv[1], int(sys.argv[2])
if impl == "chainrule":
    import chainrule as lib
    make = lambda: lib.tensor(1.0, requires_grad=True)
else:
    import torch as lib
    make = lambda: lib.tensor(1.0, requires_grad=True)
x = make()
y = x * 1.0
y.backward()
base = vmhwm()
t0 = time.perf_counter()
y = x
for _ in range(n // 2):
    y = y * 1.0000001 + 1e-9
y.backward()
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "peak_mib": vmhwm() - base, "grad": float(x.grad)}))
"""


def measure(impl: str, n: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, impl, str(n)],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> list[Row]:
    n = 100_000 if quick else 1_000_000
    results = {"chainrule": measure("chainrule", n)}
    try:
        import torch  # noqa: F401

        results["torch"] = measure("torch", n)
    except ImportError:
        pass
    secs = {k: v["seconds"] for k, v in results.items()}
    mib = {k: v["peak_mib"] for k, v in results.items()}
    label = f"W5 chain of {n:,} scalar ops + backward"
    has_torch = "torch" in results
    return [
        Row(
            label, "s", secs, "<= torch", secs["chainrule"] <= secs["torch"] if has_torch else None
        ),
        Row(
            label,
            "peak MiB",
            mib,
            "<= torch",
            mib["chainrule"] <= mib["torch"] if has_torch else None,
        ),
    ]


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
