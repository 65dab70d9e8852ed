"""W8: convnets. A 3x3 conv (N=64, 32->64 channels, 32x32, padding 1) forward+backward; a 2x2
max pool on its output forward+backward; one training epoch of a LeNet-sized net on 60,000
MNIST-shaped samples, data loading included; and the peak memory of the conv step.

Times are medians, chainrule and PyTorch 2.13.0 CPU alternating in one process (the epoch:
chainrule's Trainer over a shuffling DataLoader, PyTorch a plain loop slicing ``X[i:i+64]``);
the notes give the median and range of the per-repeat ratios.
Memory: each implementation alone in a fresh subprocess, ``VmHWM`` above the resident set once
the data exist (as W6). ``quick=True`` uses fewer repeats and a tenth of the epoch.

Goals (issue 12): conv <= 2x torch; pool <= 1.5x torch; epoch <= 2.5x torch; memory <= 2x torch.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from harness import Row, interleaved_samples

N, C, F, S = 64, 32, 64, 32
SAMPLES, BATCH, LR = 60_000, 64, 0.01


def conv_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, S, S), dtype=np.float32)
    w = rng.standard_normal((F, C, 3, 3), dtype=np.float32) * np.float32(0.1)
    return x, w, np.zeros(F, np.float32)


def chainrule_conv() -> Callable[[], object]:
    import chainrule as cr
    from chainrule.nn import functional as fn

    x, w, b = (cr.tensor(a, requires_grad=True) for a in conv_data())
    dout = np.ones((N, F, S, S), np.float32)

    def step() -> object:
        x.grad = w.grad = b.grad = None
        fn.conv2d(x, w, b, padding=1).backward(dout)
        return w.grad

    return step


def torch_conv() -> Callable[[], object]:
    import torch

    x, w, b = (torch.from_numpy(a).requires_grad_() for a in conv_data())
    dout = torch.ones((N, F, S, S))

    def step() -> object:
        x.grad = w.grad = b.grad = None
        torch.nn.functional.conv2d(x, w, b, padding=1).backward(dout)
        return w.grad

    return step


def pool_fns() -> dict[str, Callable[[], object]]:
    import chainrule as cr
    from chainrule.nn import functional as fn

    y = np.random.default_rng(1).standard_normal((N, F, S, S), dtype=np.float32)
    yc = cr.tensor(y, requires_grad=True)
    dout = np.ones((N, F, S // 2, S // 2), np.float32)
    fns: dict[str, Callable[[], object]] = {
        "chainrule": lambda: fn.max_pool2d(yc, 2).backward(dout)
    }
    with contextlib.suppress(ImportError):
        import torch

        yt = torch.from_numpy(y).requires_grad_()
        dt = torch.from_numpy(dout)
        fns["torch"] = lambda: torch.nn.functional.max_pool2d(yt, 2).backward(dt)
    return fns


def mnist_like(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (n, 1, 28, 28), dtype=np.uint8).astype(np.float32) / 255.0
    return X, rng.integers(0, 10, n)


def chainrule_epoch(X: np.ndarray, y: np.ndarray) -> Callable[[], object]:
    from chainrule import nn, optim, train
    from chainrule.data import DataLoader

    net = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )  # fmt: skip
    opt = optim.SGD(net.parameters(), lr=LR, momentum=0.9)
    loader = DataLoader(X, y, batch_size=BATCH, shuffle=True, seed=0)
    trainer = train.Trainer(net, opt, loader, epochs=1, progress=False, verbose=False)
    return lambda: trainer.fit(trainer.epoch + 1)


def torch_epoch(X: np.ndarray, y: np.ndarray) -> Callable[[], object]:
    import torch

    tnn = torch.nn
    net = tnn.Sequential(
        tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
        tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, 10),
    )  # fmt: skip
    opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=0.9)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def epoch() -> float:
        total = 0.0
        for i in range(0, len(X), BATCH):
            loss = tnn.functional.cross_entropy(net(Xt[i : i + BATCH]), yt[i : i + BATCH])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        return total

    return epoch


def _status(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(field)


def memory_worker(impl: str) -> float:
    """MiB above the baseline of three conv steps (run alone in a fresh interpreter)."""
    step = chainrule_conv() if impl == "chainrule" else torch_conv()
    base = _status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    for _ in range(3):
        step()
    return _status("VmHWM") - base


def _peak(impl: str) -> float | None:
    out = subprocess.run(
        [sys.executable, __file__, "--memory", impl],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent,
    )
    return float(out.stdout.split()[-1]) if out.returncode == 0 else None


def paired(fns: dict[str, Callable[[], object]], repeats: int, scale: float) -> Any:
    """Medians of ``fns`` timed in alternation (as ``harness.interleaved``), and a note with
    the median and range of the per-repeat ratios chainrule / torch (neighbours in time share
    the machine's load, so their ratio is steadier than either time)."""
    samples = {k: [t * scale for t in v] for k, v in interleaved_samples(fns, repeats).items()}
    values = {k: statistics.median(v) for k, v in samples.items()}
    if "torch" not in samples:
        return values, []
    r = [a / b for a, b in zip(samples["chainrule"], samples["torch"], strict=True)]
    note = f"per-pair ratio {statistics.median(r):.2f}x ({min(r):.2f}-{max(r):.2f}, {len(r)} pairs)"
    return values, [note]


def _row(what: str, measure: str, m: Any, limit: float, goal: str) -> Row:
    values, notes = m if isinstance(m, tuple) else (m, [])
    met = values["chainrule"] <= limit * values["torch"] if "torch" in values else None
    return Row(f"W8 {what}", measure, values, goal, met, notes=notes)


def run(quick: bool = False) -> list[Row]:
    repeats = 3 if quick else 7
    fns: dict[str, Callable[[], object]] = {"chainrule": chainrule_conv()}
    with contextlib.suppress(ImportError):
        fns["torch"] = torch_conv()
    conv = paired(fns, repeats, 1e3)
    pool = paired(pool_fns(), repeats, 1e3)
    X, y = mnist_like(SAMPLES // 10 if quick else SAMPLES)
    efns: dict[str, Callable[[], object]] = {"chainrule": chainrule_epoch(X, y)}
    with contextlib.suppress(ImportError):
        efns["torch"] = torch_epoch(X, y)
    epoch = paired(efns, 1 if quick else 2, 1.0)
    mem: dict[str, Any] = {k: _peak(k) for k in fns}
    mem = {k: v for k, v in mem.items() if v is not None}
    return [
        _row("3x3 conv N=64 32->64 32x32 pad 1, fwd+bwd", "ms", conv, 2.0, "<= 2x torch"),
        _row("max-pool 2x2 on the conv output, fwd+bwd", "ms", pool, 1.5, "<= 1.5x torch"),
        _row(f"LeNet epoch, {len(X):,} samples, batch {BATCH}", "s", epoch, 2.5, "<= 2.5x torch"),
        _row("peak memory of the conv step", "MiB", mem, 2.0, "<= 2x torch"),
    ]


if __name__ == "__main__":
    if "--memory" in sys.argv:
        print(json.dumps(memory_worker(sys.argv[sys.argv.index("--memory") + 1])))
    else:
        t0 = time.perf_counter()
        for row in run("--quick" in sys.argv):
            print(row)
        print(f"({time.perf_counter() - t0:.0f} s)")
