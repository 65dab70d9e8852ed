"""W6: peak memory of the W3 training step (784-512-512-10 ReLU MLP, Adam) at batch 4096;
MiB above a baseline.

Each implementation runs alone in a fresh subprocess (glibc malloc defaults): it imports its
library, makes the data and the network's weights, reads its resident set size (the baseline),
resets the kernel's high-water mark (``/proc/self/clear_refs``), then builds the optimizer and
runs three training steps; the measure is ``VmHWM - baseline`` from ``/proc/self/status``.
tracemalloc would miss PyTorch's allocations, so the kernel's count is used for all.

Goal (issue 3): no more than PyTorch's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness import Row

BATCH = 4096
STEPS = 3


def _status(field: str) -> float:
    """A ``/proc/self/status`` field in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)


def worker(impl: str) -> float:
    import w3_mlp_adam as w3

    X, y = w3.data(BATCH)
    if impl == "chainrule":
        import chainrule as cr
        from chainrule import nn, optim
        from chainrule.nn import functional as F  # noqa: N812

        net = nn.MLP(w3.SIZES)
        names = [n for n, _ in net.named_parameters()]
        net.load_state_dict(dict(zip(names, w3.mlp_weights(w3.SIZES), strict=True)))
        Xt = cr.tensor(X)
        base = _status("VmRSS")
        _reset_peak()
        opt = optim.Adam(net.parameters(), lr=w3.LR)
        for _ in range(STEPS):
            loss = F.cross_entropy(net(Xt), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    elif impl == "torch":
        import torch

        torch.manual_seed(0)
        layers: list[torch.nn.Module] = []
        for i in range(len(w3.SIZES) - 1):
            layers += [torch.nn.Linear(w3.SIZES[i], w3.SIZES[i + 1]), torch.nn.ReLU()]
        net = torch.nn.Sequential(*layers[:-1])
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
        base = _status("VmRSS")
        _reset_peak()
        opt = torch.optim.Adam(net.parameters(), lr=w3.LR)
        for _ in range(STEPS):
            loss = torch.nn.functional.cross_entropy(net(Xt), yt)
            opt.zero_grad()
            loss.backward()
            opt.step()
    else:  # the hand-written NumPy step
        base = _status("VmRSS")
        _reset_peak()
        step = w3.numpy_step_fn(X, y)
        for _ in range(STEPS):
            step()
    return _status("VmHWM") - base


def run(quick: bool = False) -> list[Row]:
    if not Path("/proc/self/clear_refs").exists():
        return []
    impls = ["chainrule", "numpy"]
    try:
        import torch  # noqa: F401

        impls.append("torch")
    except ImportError:
        pass
    mib: dict[str, float] = {}
    repeats = 1 if quick else 3
    for impl in impls:
        values = []
        for _ in range(repeats):
            out = subprocess.run(
                [sys.executable, __file__, "--worker", impl],
                check=True,
                capture_output=True,
                text=True,
                cwd=Path(__file__).parent,
            )
            values.append(json.loads(out.stdout.strip().splitlines()[-1]))
        mib[impl] = sorted(values)[len(values) // 2]
    met = mib["chainrule"] <= mib["torch"] if "torch" in mib else None
    notes = [
        "VmHWM minus VmRSS baseline (after imports, data and weights; optimizer and 3 steps "
        "measured), one fresh subprocess per implementation, glibc malloc defaults"
    ]
    return [
        Row(
            "W6 peak memory of W3 at batch 4096",
            "MiB above baseline",
            mib,
            "<= torch",
            met,
            notes=notes,
        )
    ]


if __name__ == "__main__":
    if "--worker" in sys.argv:
        print(json.dumps(worker(sys.argv[sys.argv.index("--worker") + 1])))
    else:
        for row in run("--quick" in sys.argv):
            print(row)
