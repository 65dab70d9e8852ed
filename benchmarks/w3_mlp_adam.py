"""W3: a 784-512-512-10 ReLU MLP training step with Adam at batch 128 (softmax cross-entropy);
milliseconds per step.

chainrule (``nn.MLP``, ``F.cross_entropy``, ``optim.Adam``), PyTorch 2.13.0 CPU (``nn.Sequential``,
``torch.optim.Adam`` with its default foreach implementation) and a hand-written NumPy
forward/backward with a textbook Adam, interleaved in one process. Each malloc configuration
(glibc defaults, and ``chainrule.nn.tune_malloc()`` applied to all three alike) runs in its own
subprocess.

Goal (issue 3): no slower than PyTorch.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from harness import Row, in_subprocess, interleaved, main, mlp_weights, step_fns, torch_mlp

SIZES = [784, 512, 512, 10]
BATCH = 128
LR = 1e-3


def data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, SIZES[0])).astype(np.float32), rng.integers(0, SIZES[-1], n)


def numpy_step_fn(X: np.ndarray, y: np.ndarray) -> Callable[[], float]:
    """Forward, backward and Adam by hand, the way the CS231n assignments write them."""
    params = mlp_weights(SIZES)
    ms = [np.zeros_like(p) for p in params]
    vs = [np.zeros_like(p) for p in params]
    b1, b2, eps = 0.9, 0.999, 1e-8
    t = 0
    n = X.shape[0]
    rows = np.arange(n)

    def step() -> float:
        nonlocal t
        W1, c1, W2, c2, W3, c3 = params
        h1 = X @ W1 + c1
        a1 = np.maximum(h1, 0)
        h2 = a1 @ W2 + c2
        a2 = np.maximum(h2, 0)
        scores = a2 @ W3 + c3
        shifted = scores - scores.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        s = e.sum(axis=1, keepdims=True)
        loss = float((np.log(s[:, 0]) - shifted[rows, y]).mean())
        d = e / s
        d[rows, y] -= 1
        d /= n
        dW3, dc3 = a2.T @ d, d.sum(0)
        da2 = d @ W3.T
        da2[h2 <= 0] = 0
        dW2, dc2 = a1.T @ da2, da2.sum(0)
        da1 = da2 @ W2.T
        da1[h1 <= 0] = 0
        dW1, dc1 = X.T @ da1, da1.sum(0)
        t += 1
        for p, g, m, v in zip(params, [dW1, dc1, dW2, dc2, dW3, dc3], ms, vs, strict=True):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            mhat = m / (1 - b1**t)
            vhat = v / (1 - b2**t)
            p -= LR * mhat / (np.sqrt(vhat) + eps)
        return loss

    return step


def chainrule_parts(X: np.ndarray, y: np.ndarray) -> list[Callable[[Any], Any]]:
    """The step in three parts (forward, backward, optimizer step), each fed the last's output."""
    import chainrule as cr
    from chainrule import nn, optim
    from chainrule.nn import functional as F  # noqa: N812

    net = nn.MLP(SIZES)
    names = [n for n, _ in net.named_parameters()]
    net.load_state_dict(dict(zip(names, mlp_weights(SIZES), strict=True)))
    opt = optim.Adam(net.parameters(), lr=LR)
    Xt = cr.tensor(X)

    def forward(_: Any) -> Any:
        return F.cross_entropy(net(Xt), y)

    def backward(loss: Any) -> Any:
        opt.zero_grad()
        loss.backward()
        return loss

    def step(loss: Any) -> float:
        opt.step()
        return float(loss.item())

    return [forward, backward, step]


def torch_parts(X: np.ndarray, y: np.ndarray) -> list[Callable[[Any], Any]]:
    import torch

    net = torch_mlp(SIZES)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def forward(_: Any) -> Any:
        return torch.nn.functional.cross_entropy(net(Xt), yt)

    def backward(loss: Any) -> Any:
        opt.zero_grad()
        loss.backward()
        return loss

    def step(loss: Any) -> float:
        opt.step()
        return float(loss.item())

    return [forward, backward, step]


def whole(parts: list[Callable[[Any], Any]]) -> Callable[[], Any]:
    forward, backward, step = parts

    def run_step() -> Any:
        return step(backward(forward(None)))

    return run_step


def split_ms(parts: list[Callable[[Any], Any]], n: int) -> list[float]:
    """Median milliseconds of forward, backward and optimizer step over n full steps."""
    times: list[list[float]] = [[], [], []]
    for _ in range(n):
        value: Any = None
        for k, part in enumerate(parts):
            t0 = time.perf_counter()
            value = part(value)
            times[k].append(time.perf_counter() - t0)
    return [statistics.median(t) * 1e3 for t in times]


def chainrule_step_fn(X: np.ndarray, y: np.ndarray) -> Callable[[], float]:
    return whole(chainrule_parts(X, y))


def torch_step_fn(X: np.ndarray, y: np.ndarray) -> Callable[[], float]:
    return whole(torch_parts(X, y))


def measure(tuned: bool, quick: bool) -> dict[str, float]:
    """Milliseconds per step of each implementation, interleaved (runs in a subprocess)."""
    if tuned:
        from chainrule import nn

        nn.tune_malloc()
    X, y = data(BATCH)
    fns = step_fns(chainrule_step_fn(X, y), numpy_step_fn(X, y), lambda: torch_step_fn(X, y))
    times = interleaved(fns, repeats=5 if quick else 15, number=5 if quick else 20)
    out = {k: v * 1e3 for k, v in times.items()}
    # where the time goes: forward / backward / optimizer step, separately timed
    n = 10 if quick else 60
    out["split:chainrule"] = split_ms(chainrule_parts(X, y), n)  # type: ignore[assignment]
    if "torch" in fns:
        out["split:torch"] = split_ms(torch_parts(X, y), n)  # type: ignore[assignment]
    return out


def run(quick: bool = False) -> list[Row]:
    rows = []
    for tuned in (False, True):
        result = in_subprocess(__file__, tuned, quick)
        splits = {k.split(":")[1]: v for k, v in result.items() if k.startswith("split:")}
        ms = {k: v for k, v in result.items() if not k.startswith("split:")}
        met = ms["chainrule"] <= ms["torch"] if "torch" in ms else None
        notes = [f"chainrule / hand-written NumPy = {ms['chainrule'] / ms['numpy']:.2f}x"]
        for impl, parts in splits.items():
            notes.append(
                f"{impl} forward / backward / optimizer step = "
                + " / ".join(f"{v:.2f}" for v in parts)
                + " ms"
            )
        notes.append(
            "glibc mallopt via chainrule.nn.tune_malloc(), applied to all three in one process"
            if tuned
            else "glibc malloc defaults"
        )
        what = "tune_malloc" if tuned else "default malloc"
        rows.append(
            Row(
                f"W3 784-512-512-10 MLP step, Adam, batch 128 ({what})",
                "ms/step",
                ms,
                "<= torch",
                met,
                notes=notes,
            )
        )
    return rows


if __name__ == "__main__":
    main(measure, run)
