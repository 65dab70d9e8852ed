"""W9: a Hessian-vector product of the W3 MLP's loss with respect to its weights, batch 128.

The 784-512-512-10 ReLU MLP with softmax cross-entropy, float32, the same weights and data for
chainrule and PyTorch 2.13.0 CPU, interleaved in one process; milliseconds per HVP. Both
compute it by double backward (reverse over reverse): the gradient with ``create_graph=True``,
then the gradient of its dot product with a fixed vector v. chainrule's one forward+backward of
the same loss is timed beside it.

Goal (engine v2 issue): at most 4x one forward+backward of chainrule, and no slower than
PyTorch's double-backward HVP.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import chainrule as cr
from chainrule.nn import functional as F  # noqa: N812 - the usual alias
from harness import Row, interleaved, mlp_weights

SIZES = [784, 512, 512, 10]
BATCH = 128


def _data() -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], BATCH)
    vs = [rng.standard_normal(w.shape).astype(np.float32) for w in mlp_weights(SIZES)]
    return X, y, vs


def chainrule_fns() -> dict[str, Any]:
    X, y, vs = _data()
    params = [cr.tensor(w, requires_grad=True) for w in mlp_weights(SIZES)]
    x = cr.tensor(X)

    def loss(*ps: Any) -> Any:
        h = x
        for i in range(0, len(ps) - 2, 2):
            h = F.relu(F.linear(h, ps[i], ps[i + 1]))
        return F.cross_entropy(F.linear(h, ps[-2], ps[-1]), y)

    def fwd_bwd() -> None:
        cr.grad(loss(*params), params)

    def hvp() -> None:
        cr.hvp(loss, params, vs)

    return {"chainrule": hvp, "chainrule forward+backward": fwd_bwd}


def torch_fn() -> Any:
    import torch

    X, y, vs = _data()
    model = _torch_params()
    xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    vt = [torch.from_numpy(v) for v in vs]

    def loss() -> Any:
        h = xt
        for i in range(0, len(model) - 2, 2):
            h = torch.relu(h @ model[i] + model[i + 1])
        return torch.nn.functional.cross_entropy(h @ model[-2] + model[-1], yt)

    def hvp() -> None:
        grads = torch.autograd.grad(loss(), model, create_graph=True)
        dot = sum((g * v).sum() for g, v in zip(grads, vt, strict=True))
        torch.autograd.grad(dot, model)

    return hvp


def _torch_params() -> list[Any]:
    import torch

    return [torch.tensor(w, requires_grad=True) for w in mlp_weights(SIZES)]


def check() -> float:
    """The largest relative difference between chainrule's and PyTorch's HVP (float64)."""
    import torch

    X, y, vs = _data()
    ws = [w.astype(np.float64) for w in mlp_weights(SIZES)]
    params = [cr.tensor(w, requires_grad=True) for w in ws]
    x = cr.tensor(X.astype(np.float64))

    def loss(*ps: Any) -> Any:
        h = x
        for i in range(0, len(ps) - 2, 2):
            h = F.relu(F.linear(h, ps[i], ps[i + 1]))
        return F.cross_entropy(F.linear(h, ps[-2], ps[-1]), y)

    ours = cr.hvp(loss, params, [v.astype(np.float64) for v in vs])
    tp = [torch.tensor(w, requires_grad=True) for w in ws]
    h = torch.from_numpy(X.astype(np.float64))
    for i in range(0, len(tp) - 2, 2):
        h = torch.relu(h @ tp[i] + tp[i + 1])
    out = torch.nn.functional.cross_entropy(h @ tp[-2] + tp[-1], torch.from_numpy(y))
    grads = torch.autograd.grad(out, tp, create_graph=True)
    dot = sum(
        (g * torch.from_numpy(v.astype(np.float64))).sum() for g, v in zip(grads, vs, strict=True)
    )
    theirs = torch.autograd.grad(dot, tp)
    return max(
        float(np.abs(a.data - b.numpy()).max() / (np.abs(b.numpy()).max() + 1e-30))
        for a, b in zip(ours, theirs, strict=True)
    )


def run(quick: bool = False) -> list[Row]:
    fns = chainrule_fns()
    notes = []
    try:
        fns["torch"] = torch_fn()
        notes.append(f"chainrule and torch HVPs agree to {check():.1e} (relative, float64)")
    except ImportError:
        pass
    times = interleaved(fns, repeats=3 if quick else 9, number=2 if quick else 5)
    ms = {k: v * 1e3 for k, v in times.items()}
    fb = ms.pop("chainrule forward+backward")
    ratio = ms["chainrule"] / fb
    notes.insert(0, f"chainrule HVP / its own forward+backward = {ratio:.2f}x ({fb:.2f} ms)")
    met = ratio <= 4 and ("torch" not in ms or ms["chainrule"] <= ms["torch"])
    return [
        Row(
            "W9 Hessian-vector product, W3 MLP loss w.r.t. its weights, batch 128",
            "ms/HVP",
            ms,
            "<= 4x chainrule's forward+backward and <= torch",
            met,
            notes=notes,
        )
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
