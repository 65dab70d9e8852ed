"""W7: training throughput, samples per second, of the 784-512-512-10 ReLU MLP at batch 128 over
a full epoch of 60,000 synthetic MNIST-shaped samples, data loading included.

chainrule runs its real training loop: ``chainrule.train.Trainer`` over a shuffling
``chainrule.data.DataLoader`` (a fresh gathered batch per step), softmax cross-entropy, SGD with
Nesterov momentum 0.9, the running loss and accuracy it tracks for its progress bar (no bar,
no checkpoint files). PyTorch 2.13.0 CPU runs a plain loop slicing the tensors ``X[i:i+128]``
(no shuffle, no copy) with the same net, initial weights, loss and optimizer, reading
``loss.item()`` each step. chainrule runs twice: with the OpenBLAS that NumPy ships as it
comes (its threads spin a tenth of a second after every matrix product) and after
``nn.tune_blas()`` (at most ~0.3 ms, as OpenMP's threads, which PyTorch uses). On this shared
virtual machine the long spin costs little when the two cores are quiet and up to ~45% of a step
when they are contended. The three alternate epoch by epoch in one process; ``quick=True``
trains a tenth of an epoch.

Goal (issue 4): chainrule's samples/s no lower than PyTorch's.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from harness import Row, mlp_weights, torch_mlp

SIZES = [784, 512, 512, 10]
BATCH = 128
SAMPLES = 60_000
LR = 0.01


def data(n: int) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-shaped: 28x28 pixels scaled to [0, 1] as float32 rows, labels 0..9."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (n, SIZES[0]), dtype=np.uint8).astype(np.float32) / 255.0
    return X, rng.integers(0, 10, n)


def chainrule_epoch_fn(X: np.ndarray, y: np.ndarray, blas_timeout: int) -> Callable[[], float]:
    """One epoch of chainrule's trainer, run with NumPy's OpenBLAS threads spinning at most
    2^blas_timeout cycles after a product (28 is OpenBLAS's default; see nn.tune_blas)."""
    from chainrule import nn, optim, train
    from chainrule.data import DataLoader

    net = nn.MLP(SIZES)
    names = [n for n, _ in net.named_parameters()]
    net.load_state_dict(dict(zip(names, mlp_weights(SIZES), strict=True)))
    opt = optim.SGD(net.parameters(), lr=LR, momentum=0.9, nesterov=True)
    loader = DataLoader(X, y, batch_size=BATCH, shuffle=True, seed=0)
    trainer = train.Trainer(net, opt, loader, epochs=1, progress=False, verbose=False)

    def epoch() -> float:
        nn.tune_blas(blas_timeout)
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


def run(quick: bool = False) -> list[Row]:
    n = SAMPLES // 10 if quick else SAMPLES
    X, y = data(n)
    fns: dict[str, Callable[[], float]] = {
        "chainrule": chainrule_epoch_fn(X, y, 28),
        "chainrule tune_blas": chainrule_epoch_fn(X, y, 20),
    }
    notes = [f"{n:,} samples per epoch, batch {BATCH}, SGD Nesterov momentum 0.9"]
    try:
        fns["torch"] = torch_epoch_fn(X, y)
    except ImportError:
        notes.append("PyTorch not installed")
    for f in fns.values():  # warm-up: one epoch each
        f()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(3):
        for name, f in fns.items():
            t0 = time.perf_counter()
            f()
            samples[name].append(n / (time.perf_counter() - t0))
    rate = {k: statistics.median(v) for k, v in samples.items()}
    rows = []
    for name, label in (
        ("chainrule", "OpenBLAS's default spin"),
        ("chainrule tune_blas", "nn.tune_blas()"),
    ):
        values = {"chainrule": rate[name]}
        if "torch" in rate:
            values["torch"] = rate["torch"]
        rows.append(
            Row(
                f"W7 training throughput, 784-512-512-10 MLP, one epoch ({label})",
                "samples/s",
                values,
                ">= torch (plain tensor-slicing loop)",
                values["chainrule"] >= values["torch"] if "torch" in values else None,
                higher_is_better=True,
                notes=notes,
            )
        )
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in __import__("sys").argv):
        print(row)
