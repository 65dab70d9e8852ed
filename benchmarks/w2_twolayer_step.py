"""W2: the CS231n two-layer net training step, batch 200, 3072-100-10, ReLU, softmax loss plus
L2 (``reg * sum(W^2)`` over both weights), one SGD update; milliseconds per step.

Three implementations of the same step in the same process: chainrule (``nn.MLP``,
``F.cross_entropy``, ``F.l2_penalty``, ``optim.SGD``), PyTorch 2.13.0 CPU (``nn.Sequential``,
``F.cross_entropy``, ``torch.optim.SGD``) and the hand-written NumPy forward/backward of the
CS231n assignment. Each configuration runs in a fresh subprocess so that the glibc malloc
setting of one (``chainrule.nn.tune_malloc``, applied to all three alike) cannot leak into
another or into the other workloads.

Goals (issue 3): at most 1.1x the hand-written NumPy step, and faster than PyTorch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from harness import Row, in_subprocess, interleaved, main, mlp_weights, step_fns

N, D, H, C = 200, 3072, 100, 10
LR, REG = 1e-3, 1e-3


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((N, D)).astype(np.float32), rng.integers(0, C, N)


def numpy_step_fn(X: np.ndarray, y: np.ndarray) -> Callable[[], float]:
    """The assignment's TwoLayerNet.loss and the SGD update, written the usual way."""
    W1, b1, W2, b2 = mlp_weights([D, H, C])
    rows = np.arange(N)

    def step() -> float:
        nonlocal W1, b1, W2, b2  # updated in place below
        h = X @ W1 + b1
        hr = np.maximum(h, 0)
        scores = hr @ W2 + b2
        shifted = scores - scores.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        s = e.sum(axis=1, keepdims=True)
        loss = float((np.log(s[:, 0]) - shifted[rows, y]).mean())
        loss += REG * (np.sum(W1 * W1) + np.sum(W2 * W2))
        dscores = e / s
        dscores[rows, y] -= 1
        dscores /= N
        dW2 = hr.T @ dscores + 2 * REG * W2
        db2 = dscores.sum(axis=0)
        dh = dscores @ W2.T
        dh[h <= 0] = 0
        dW1 = X.T @ dh + 2 * REG * W1
        db1 = dh.sum(axis=0)
        W1 -= LR * dW1
        b1 -= LR * db1
        W2 -= LR * dW2
        b2 -= LR * db2
        return loss

    return step


def chainrule_step_fn(X: np.ndarray, y: np.ndarray) -> Callable[[], float]:
    import chainrule as cr
    from chainrule import nn, optim
    from chainrule.nn import functional as F  # noqa: N812

    net = nn.MLP([D, H, C])
    net.load_state_dict(
        dict(zip(["0.weight", "0.bias", "2.weight", "2.bias"], mlp_weights([D, H, C]), strict=True))
    )
    opt = optim.SGD(net.parameters(), lr=LR)
    Xt = cr.tensor(X)

    def step() -> float:
        loss = F.cross_entropy(net(Xt), y) + F.l2_penalty(net, REG)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step


def torch_step_fn(X: np.ndarray, y: np.ndarray) -> Callable[[], float]:
    import torch

    w1, b1, w2, b2 = (torch.from_numpy(a.copy()) for a in mlp_weights([D, H, C]))
    net = torch.nn.Sequential(torch.nn.Linear(D, H), torch.nn.ReLU(), torch.nn.Linear(H, C))
    with torch.no_grad():
        net[0].weight.copy_(w1.T), net[0].bias.copy_(b1), net[2].weight.copy_(w2.T)
        net[2].bias.copy_(b2)
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    weights = [net[0].weight, net[2].weight]

    def step() -> float:
        loss = torch.nn.functional.cross_entropy(net(Xt), yt)
        loss = loss + REG * sum((w * w).sum() for w in weights)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step


def measure(tuned: bool, quick: bool) -> dict[str, float]:
    """Milliseconds per step of each implementation, interleaved (runs in a subprocess)."""
    if tuned:
        from chainrule import nn

        nn.tune_malloc()
    X, y = data()
    fns = step_fns(chainrule_step_fn(X, y), numpy_step_fn(X, y), lambda: torch_step_fn(X, y))
    times = interleaved(fns, repeats=5 if quick else 15, number=5 if quick else 20)
    return {k: v * 1e3 for k, v in times.items()}


def run(quick: bool = False) -> list[Row]:
    rows = []
    for tuned in (False, True):
        ms = in_subprocess(__file__, tuned, quick)
        ok_numpy = ms["chainrule"] <= 1.1 * ms["numpy"]
        ok_torch = ms["chainrule"] < ms["torch"] if "torch" in ms else None
        met = ok_numpy and ok_torch if ok_torch is not None else None
        ratio_np = ms["chainrule"] / ms["numpy"]
        notes = [f"chainrule / hand-written NumPy = {ratio_np:.2f}x"]
        if tuned:
            notes.append(
                "glibc mallopt via chainrule.nn.tune_malloc() (mmap threshold 32 MiB, trim "
                "1 GiB), applied to all three in the same process"
            )
        else:
            notes.append("glibc malloc defaults")
        what = "tune_malloc" if tuned else "default malloc"
        rows.append(
            Row(
                f"W2 CS231n 2-layer step, 200x3072-100-10, SGD ({what})",
                "ms/step",
                ms,
                "<= 1.1x numpy and < torch",
                met,
                notes=notes,
            )
        )
    return rows


if __name__ == "__main__":
    main(measure, run)
