"""W7 with and without ``train.Diagnostics`` at its default sampling (every 100 steps).

The W7 net and loop (784-512-512-10 ReLU MLP, batch 128, SGD with Nesterov momentum, the real
``Trainer`` over a shuffling ``DataLoader``) on ``SAMPLES`` synthetic MNIST-shaped samples per
epoch. The two settings alternate epoch by epoch in one process, so a busy host slows both
alike; prints the median epoch time of each and the overhead. On a shared host the epoch times
swing by more than the overhead, so it also times the callback itself (the sampling's own cost,
which is what ``--diagnose`` adds) against the epoch without it.
Run: python benchmarks/w7_diagnose.py
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

SIZES = [784, 512, 512, 10]
SAMPLES = 15_000
ROUNDS = 7


def main() -> None:
    from chainrule import nn, optim, train
    from chainrule.data import DataLoader

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (SAMPLES, SIZES[0]), dtype=np.uint8).astype(np.float32) / 255.0
    y = rng.integers(0, 10, SAMPLES)
    diag = train.Diagnostics()
    spent = [0.0]

    def timed(trainer: object) -> None:
        start = time.perf_counter()
        diag(trainer)
        spent[0] += time.perf_counter() - start

    trainers = {}
    for name, callbacks in (("off", []), ("diagnose", [timed])):
        net = nn.MLP(SIZES, rng=np.random.default_rng(0))
        opt = optim.SGD(net.parameters(), lr=0.01, momentum=0.9, nesterov=True)
        loader = DataLoader(x, y, batch_size=128, shuffle=True, seed=0)
        trainers[name] = train.Trainer(net, opt, loader, epochs=1, progress=False,
                                       verbose=False, callbacks=callbacks)  # fmt: skip
    times: dict[str, list[float]] = {k: [] for k in trainers}
    for _ in range(ROUNDS + 1):  # the first round warms up
        for name, t in trainers.items():
            start = time.perf_counter()
            t.fit(t.epoch + 1)
            times[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v[1:]) for k, v in times.items()}
    for k, v in med.items():
        print(f"{k:>8}: median epoch {v * 1e3:.1f} ms ({SAMPLES / v:,.0f} samples/s), "
              f"rounds {', '.join(f'{s * 1e3:.0f}' for s in times[k][1:])} ms")  # fmt: skip
    print(
        f"overhead of --diagnose: {100 * (med['diagnose'] / med['off'] - 1):+.1f}% (epoch medians)"
    )
    per_epoch = spent[0] / (ROUNDS + 1)
    print(f"time inside Diagnostics: {per_epoch * 1e3:.1f} ms per epoch "
          f"({len(diag.records) / (ROUNDS + 1):.1f} samples), {100 * per_epoch / med['off']:.2f}% "
          "of the median epoch without it")  # fmt: skip
    sys.stdout.flush()


if __name__ == "__main__":
    main()
