"""W11: issue 11's op set at size, forward+backward, against PyTorch 2.13.0 CPU in one process.

- einsum of a batched matmul, ``bij,bjk->bik`` with (64, 128, 128) operands, and of attention
  scores, ``bhqd,bhkd->bhqk`` with (8, 8, 128, 64) operands: the forward einsum, then backward
  of a fixed upstream gradient into both operands. Goal: no slower than PyTorch.
- cumsum, a stable sort and take_along_axis (random indices) along the last axis of a
  (1024, 1024) float32 array, forward+backward. Goal: at most 1.5x PyTorch.

Milliseconds per forward+backward, medians of interleaved repeats.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import chainrule as cr
from harness import Row, interleaved

EINSUMS = [
    ("bij,bjk->bik", [(64, 128, 128), (64, 128, 128)]),
    ("bhqd,bhkd->bhqk", [(8, 8, 128, 64), (8, 8, 128, 64)]),
]


def _arrays(shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def _einsum_fns(spec: str, shapes: list[tuple[int, ...]]) -> dict[str, Any]:
    arrays = _arrays(shapes)
    ts = [cr.tensor(a, requires_grad=True) for a in arrays]
    dout = np.ones(cr.einsum(spec, *ts).shape, np.float32)

    def ours() -> None:
        for t in ts:
            t.grad = None
        cr.einsum(spec, *ts).backward(dout)

    fns = {"chainrule": ours}
    try:
        import torch

        tt = [torch.tensor(a, requires_grad=True) for a in arrays]
        tdout = torch.from_numpy(dout)

        def theirs() -> None:
            for t in tt:
                t.grad = None
            torch.einsum(spec, *tt).backward(tdout)

        fns["torch"] = theirs
    except ImportError:
        pass
    return fns


def _scan_fns(name: str) -> dict[str, Any]:
    (a,) = _arrays([(1024, 1024)])
    t = cr.tensor(a, requires_grad=True)
    dout = np.ones_like(a)
    idx = np.random.default_rng(1).integers(0, 1024, (1024, 1024))
    ops = {
        "cumsum": lambda x: cr.cumsum(x, axis=-1),
        "sort": lambda x: cr.sort(x, axis=-1),
        "take_along_axis": lambda x: cr.take_along_axis(x, idx, axis=-1),
    }

    def ours() -> None:
        t.grad = None
        ops[name](t).backward(dout)

    fns = {"chainrule": ours}
    try:
        import torch

        tt = torch.tensor(a, requires_grad=True)
        tdout = torch.from_numpy(dout)
        tidx = torch.from_numpy(idx)
        tops = {
            "cumsum": lambda x: torch.cumsum(x, dim=-1),
            "sort": lambda x: torch.sort(x, dim=-1, stable=True).values,
            "take_along_axis": lambda x: torch.take_along_dim(x, tidx, dim=-1),
        }

        def theirs() -> None:
            tt.grad = None
            tops[name](tt).backward(tdout)

        fns["torch"] = theirs
    except ImportError:
        pass
    return fns


def run(quick: bool = False) -> list[Row]:
    # NumPy's OpenBLAS threads spin after each product while PyTorch's run: as Trainer.fit
    # does, let them sleep sooner (chainrule.nn.tuned_blas)
    with cr.nn.tuned_blas():
        return _rows(quick)


def _rows(quick: bool) -> list[Row]:
    repeats, number = (3, 2) if quick else (9, 5)
    rows = []
    for spec, shapes in EINSUMS:
        ms = {
            k: v * 1e3 for k, v in interleaved(_einsum_fns(spec, shapes), repeats, number).items()
        }
        met = None if "torch" not in ms else ms["chainrule"] <= ms["torch"]
        rows.append(Row(f"W11 einsum {spec} {shapes[0]}", "ms/fwd+bwd", ms, "<= torch", met))
    for name in ("cumsum", "sort", "take_along_axis"):
        ms = {k: v * 1e3 for k, v in interleaved(_scan_fns(name), repeats, number).items()}
        met = None if "torch" not in ms else ms["chainrule"] <= 1.5 * ms["torch"]
        rows.append(Row(f"W11 {name} (1024, 1024) axis -1", "ms/fwd+bwd", ms, "<= 1.5x torch", met))
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
