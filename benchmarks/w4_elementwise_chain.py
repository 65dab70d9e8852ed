"""W4: 1,000 elementwise ops cycling (x*1.0001, x+0.001, tanh) on a (16,) tensor, then sum and
backward; microseconds per op (forward and backward together).

Goal (issue 2): at most 0.5x PyTorch's time per op.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import chainrule as cr
from harness import Row, interleaved

N_OPS = 1000


def chain(x: Any) -> None:
    """The workload on a leaf tensor of either library (they share these operators)."""
    y = x
    for i in range(N_OPS):
        k = i % 3
        if k == 0:
            y = y * 1.0001
        elif k == 1:
            y = y + 0.001
        else:
            y = y.tanh()
    y.sum().backward()


def run(quick: bool = False) -> list[Row]:
    x0 = np.linspace(-1, 1, 16, dtype=np.float32)
    fns = {"chainrule": lambda: chain(cr.tensor(x0, requires_grad=True))}
    try:
        import torch

        fns["torch"] = lambda: chain(torch.tensor(x0, requires_grad=True))
    except ImportError:
        pass
    times = interleaved(fns, repeats=5 if quick else 11, number=3 if quick else 10)
    us = {k: v * 1e6 / N_OPS for k, v in times.items()}
    met = us["chainrule"] <= 0.5 * us["torch"] if "torch" in us else None
    return [Row("W4 1,000 elementwise ops on (16,)", "us/op", us, "<= 0.5x torch", met)]


if __name__ == "__main__":
    for row in run():
        print(row)
