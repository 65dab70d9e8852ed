"""Shared timing helpers for the benchmark workloads (one file per workload, run by run.py).

Each workload module defines ``run(quick: bool = False) -> list[Row]``; a Row compares chainrule
with its peers on one measure, measured side by side in the same process. The machines are
shared and noisy: every figure is a median of repeats, and RESULTS.md reports ratios.
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Row:
    """One measure of one workload: values per implementation, lower is better unless noted."""

    workload: str  # e.g. "W1 lecture sigmoid neuron"
    measure: str  # e.g. "us/graph"
    values: dict[str, float]  # implementation -> median value ("chainrule", "torch", ...)
    goal: str  # the goal in words, e.g. "<= 0.5x torch and <= micrograd"
    met: bool | None = None  # whether the goal is met, None when it cannot be judged
    higher_is_better: bool = False
    notes: list[str] = field(default_factory=list)

    def ratio(self, peer: str) -> float | None:
        """chainrule / peer (for higher-is-better measures too: >1 means chainrule is larger)."""
        if peer not in self.values or not self.values[peer]:
            return None
        return self.values["chainrule"] / self.values[peer]


def median_time(fn: Callable[[], object], repeats: int = 7, number: int = 1) -> float:
    """Median seconds per call of fn over ``repeats`` timings of ``number`` calls each."""
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times)


def interleaved_samples(
    fns: dict[str, Callable[[], object]], repeats: int = 7, number: int = 1
) -> dict[str, list[float]]:
    """Seconds per call of each fn in each repeat, timed in alternation so drift hits all
    alike (after one warm-up call each)."""
    for f in fns.values():
        f()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, f in fns.items():
            gc.collect()
            t0 = time.perf_counter()
            for _ in range(number):
                f()
            samples[name].append((time.perf_counter() - t0) / number)
    return samples


def interleaved(
    fns: dict[str, Callable[[], object]], repeats: int = 7, number: int = 1
) -> dict[str, float]:
    """Median seconds per call for each fn, timed in alternation so drift hits all alike."""
    return {k: statistics.median(v) for k, v in interleaved_samples(fns, repeats, number).items()}


def machine() -> str:
    """A one-line description of this machine and the library versions."""
    import numpy as np

    parts = [platform.machine(), f"{os.cpu_count()} cores", f"Python {platform.python_version()}"]
    parts.append(f"NumPy {np.__version__}")
    try:
        import torch

        parts.append(f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)")
    except ImportError:
        parts.append("PyTorch not installed")
    try:
        import threadpoolctl  # type: ignore[import-not-found]

        for info in threadpoolctl.threadpool_info():
            if info.get("internal_api") == "openblas":
                parts.append(f"OpenBLAS {info.get('version')} {info.get('architecture')}")
                break
    except ImportError:
        pass
    return ", ".join(parts)


def mlp_weights(sizes: Sequence[int], seed: int = 1) -> list[np.ndarray]:
    """W1, b1, W2, b2, ... with W of shape (in, out), Kaiming init, float32: every
    implementation of a workload starts from these same arrays."""
    rng = np.random.default_rng(seed)
    out = []
    for d_in, d_out in itertools.pairwise(sizes):
        out.append((rng.standard_normal((d_in, d_out)) * np.sqrt(2 / d_in)).astype(np.float32))
        out.append(np.zeros(d_out, np.float32))
    return out


def in_subprocess(script: str, tuned: bool, quick: bool) -> Any:
    """Run ``script --worker tuned|default [--quick]`` in a fresh interpreter (so malloc
    settings and peak memory are its own) and return the JSON on its last line of output."""
    args = [sys.executable, script, "--worker", "tuned" if tuned else "default"]
    if quick:
        args.append("--quick")
    out = subprocess.run(args, check=True, capture_output=True, text=True, cwd=Path(script).parent)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(measure: Callable[[bool, bool], Any], run: Callable[[bool], list[Row]]) -> None:
    """A workload script's entry point: as ``in_subprocess``'s worker (``--worker tuned|default``)
    print ``measure(tuned, quick)`` as JSON on one line; otherwise print ``run(quick)``'s rows."""
    quick = "--quick" in sys.argv
    if "--worker" in sys.argv:
        print(json.dumps(measure(sys.argv[sys.argv.index("--worker") + 1] == "tuned", quick)))
    else:
        for row in run(quick):
            print(row)


def torch_mlp(sizes: Sequence[int]) -> Any:
    """PyTorch's ReLU MLP with the same starting weights as ``mlp_weights(sizes)``."""
    import torch

    ws = mlp_weights(sizes)
    layers: list[Any] = []
    for i in range(len(sizes) - 1):
        lin = torch.nn.Linear(sizes[i], sizes[i + 1])
        with torch.no_grad():  # torch stores W as (out, in)
            lin.weight.copy_(torch.from_numpy(ws[2 * i].T.copy()))
            lin.bias.copy_(torch.from_numpy(ws[2 * i + 1]))
        layers += [lin, torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


def step_fns(
    chainrule: Callable[[], float],
    numpy: Callable[[], float],
    make_torch: Callable[[], Callable[[], float]],
) -> dict[str, Callable[[], float]]:
    """The implementations of one training step (torch when installed), checked to compute
    the same first loss from the same weights before anything is timed."""
    fns = {"chainrule": chainrule, "numpy": numpy}
    try:
        import torch

        torch.manual_seed(0)
        fns["torch"] = make_torch()
    except ImportError:
        pass
    losses = {k: f() for k, f in fns.items()}
    assert max(losses.values()) - min(losses.values()) < 1e-3, losses
    return fns
