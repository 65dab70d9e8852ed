"""W7: training throughput, samples per second, of the 784-512-512-10 ReLU MLP at batch 128 over
a full epoch of 60,000 synthetic MNIST-shaped samples, data loading included.

chainrule runs its real training loop: ``chainrule.train.Trainer`` over a shuffling
``chainrule.data.DataLoader`` (a fresh gathered batch per step), softmax cross-entropy, SGD with
Nesterov momentum 0.9, the running loss and accuracy it tracks for its progress bar (no bar,
no checkpoint files). PyTorch 2.13.0 CPU runs a plain loop slicing the tensors ``X[i:i+128]``
(no shuffle, no copy) with the same net, initial weights, loss and optimizer, reading
``loss.item()`` each step. The two alternate epoch by epoch in one process, run twice in fresh
subprocesses: with the library defaults (``Trainer.fit`` runs inside ``nn.tuned_blas()``, so
NumPy's OpenBLAS threads stop spinning ~0.3 ms after a matrix product instead of a tenth of a
second while it trains; PyTorch's OpenMP threads already behave so), and with the process set
up as the ``chainrule train`` command sets it up, ``nn.tune_blas()`` for the whole process and
``nn.tune_malloc()`` (glibc keeps freed arrays' memory for reuse; it applies to PyTorch in the
same process too). ``quick=True`` trains a tenth of an epoch.

Goal (issue 4): chainrule's samples/s no lower than PyTorch's.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable

import numpy as np

from harness import Row, in_subprocess, main, mlp_weights, torch_mlp

SIZES = [784, 512, 512, 10]
BATCH = 128
SAMPLES = 60_000
LR = 0.01


def data(n: int) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-shaped: 28x28 pixels scaled to [0, 1] as float32 rows, labels 0..9."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (n, SIZES[0]), dtype=np.uint8).astype(np.float32) / 255.0
    return X, rng.integers(0, 10, n)


def chainrule_epoch_fn(X: np.ndarray, y: np.ndarray) -> Callable[[], float]:
    from chainrule import nn, optim, train
    from chainrule.data import DataLoader

    net = nn.MLP(SIZES)
    names = [n for n, _ in net.named_parameters()]
    net.load_state_dict(dict(zip(names, mlp_weights(SIZES), strict=True)))
    opt = optim.SGD(net.parameters(), lr=LR, momentum=0.9, nesterov=True)
    loader = DataLoader(X, y, batch_size=BATCH, shuffle=True, seed=0)
    trainer = train.Trainer(net, opt, loader, epochs=1, progress=False, verbose=False)

    def epoch() -> float:
        trainer.fit(trainer.epoch + 1)  # one more epoch
        return trainer.last_loss

    return epoch


def torch_epoch_fn(X: np.ndarray, y: np.ndarray) -> Callable[[], float]:
    import torch

    net = torch_mlp(SIZES)
    opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=0.9, nesterov=True)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    n = len(X)

    def epoch() -> float:
        total = 0.0
        for i in range(0, n, BATCH):
            loss = torch.nn.functional.cross_entropy(net(Xt[i : i + BATCH]), yt[i : i + BATCH])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        return total

    return epoch


def measure(tuned: bool, quick: bool) -> dict[str, float]:
    """Samples per second of each implementation, epochs alternating (runs in a subprocess)."""
    if tuned:
        from chainrule import nn

        nn.tune_malloc()
        nn.tune_blas()
    X, y = data(SAMPLES // 10 if quick else SAMPLES)
    fns: dict[str, Callable[[], float]] = {"chainrule": chainrule_epoch_fn(X, y)}
    with contextlib.suppress(ImportError):  # PyTorch is optional
        fns["torch"] = torch_epoch_fn(X, y)
    for f in fns.values():  # warm-up: one epoch each
        f()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(3):
        for name, f in fns.items():
            t0 = time.perf_counter()
            f()
            samples[name].append(len(X) / (time.perf_counter() - t0))
    return {k: statistics.median(v) for k, v in samples.items()}


def run(quick: bool = False) -> list[Row]:
    n = SAMPLES // 10 if quick else SAMPLES
    rows = []
    for tuned in (False, True):
        rate = in_subprocess(__file__, tuned, quick)
        notes = [f"{n:,} samples per epoch, batch {BATCH}, SGD Nesterov momentum 0.9"]
        if "torch" not in rate:
            notes.append("PyTorch not installed")
        notes.append(
            "nn.tune_blas() and nn.tune_malloc() (the malloc setting applies to PyTorch too), as "
            "the chainrule command sets its process up"
            if tuned
            else "library defaults: Trainer.fit shortens OpenBLAS's thread spin while it "
            "trains (nn.tuned_blas), glibc malloc defaults"
        )
        what = "as `chainrule train` runs" if tuned else "library defaults"
        rows.append(
            Row(
                f"W7 training throughput, 784-512-512-10 MLP, one epoch ({what})",
                "samples/s",
                rate,
                ">= torch (plain tensor-slicing loop)",
                rate["chainrule"] >= rate["torch"] if "torch" in rate else None,
                higher_is_better=True,
                notes=notes,
            )
        )
    return rows


if __name__ == "__main__":
    main(measure, run)
