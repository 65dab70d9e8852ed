"""What each rank runs in tests/test_distributed.py (``mpiexec -n 2 python dist_worker.py``).

``python dist_worker.py MODE OUT [OPTIONS]``: MODE is train, trace, raise, kill, mismatch, twice,
two_forwards or stop; every rank writes ``OUT.rank<r>.npz`` (its final weights) where the mode
finishes.
"""

from __future__ import annotations

import os
import signal
import sys

import numpy as np

import chainrule as cr
from chainrule import distributed as dist
from chainrule import nn, optim
from chainrule.data.loader import DataLoader

STEPS, BATCH, D, H, C = 20, 25, 6, 16, 3


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((STEPS * BATCH, D)), rng.integers(0, C, STEPS * BATCH)


def _model(seed: int, dropout: float, bn: bool) -> nn.Module:
    rng = np.random.default_rng(seed)
    # a bias before BatchNorm has gradient 0 up to rounding, which Adam would amplify
    layers: list[nn.Module] = [nn.Linear(D, H, bias=not bn, rng=rng)]
    if bn:
        layers.append(nn.BatchNorm1d(H))
    layers += [nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout, rng=rng))
    layers += [nn.Linear(H, H, rng=rng), nn.Tanh(), nn.Linear(H, C, rng=rng)]
    return nn.Sequential(*layers).double()


class Shared(nn.Module):
    """Linear layers in every case DataParallel's LinearInto meets: one layer used twice (its
    gradients accumulate in the bucket), one without a bias fed a 3-D input, one with a frozen
    bias, and a parameter of no Linear layer (copied into its bucket by the Ready gate)."""

    def __init__(self, rng: np.random.Generator) -> None:
        super().__init__()
        self.a = nn.Linear(D, H, rng=rng)
        self.b = nn.Linear(H, H, bias=False, rng=rng)
        self.c = nn.Linear(H, C, rng=rng)
        self.c.bias = nn.Parameter(rng.standard_normal(C), requires_grad=False)
        self.s = nn.Parameter(1 + 0.1 * rng.standard_normal(H))

    def forward(self, x: object) -> object:
        h = self.a(x).tanh() + self.a(x * 0.5).tanh()  # type: ignore[operator]
        n = h.shape[0]
        h = self.b(h.reshape(n, 1, H)).reshape(n, H) * self.s
        return self.c(h.tanh())


def model(seed: int, dropout: float, bn: bool) -> nn.Module:
    if dropout < 0:  # the "shared" model
        return Shared(np.random.default_rng(seed)).double()
    return _model(seed, dropout, bn)


def make_optimizer(name: str, params: object) -> optim.Optimizer:
    trainable = [p for p in params if p.requires_grad]  # type: ignore[attr-defined]
    if name == "sgd":
        return optim.SGD(trainable, lr=0.1, momentum=0.9)
    return optim.Adam(trainable, lr=0.01)


def run_fit(out: str, run_dir: str, stop_at: int) -> None:
    """chainrule's fit on every rank; rank 1 'presses Ctrl-C' after step ``stop_at``."""
    from chainrule.train import fit

    def ctrl_c(trainer: object) -> None:
        if dist.rank() == 1 and trainer.step == stop_at:  # type: ignore[attr-defined]
            raise KeyboardInterrupt

    X, y = data()
    net = model(1 + dist.rank(), 0.3, True)
    trainer = fit(
        net,
        optim.Adam(net.parameters(), lr=0.01),
        (X, y),
        (X[:101], y[:101]),
        epochs=2,
        batch_size=BATCH,
        seed=5,
        out_dir=run_dir,
        resume=True,
        callbacks=[ctrl_c],
        verbose=False,
        progress=False,
    )
    arrays = dict(dist.unwrap(trainer.model).state_dict())
    arrays["steps"] = np.array(trainer.step)
    np.savez(f"{out}.rank{dist.rank()}.npz", **arrays)


def main() -> None:
    mode, out = sys.argv[1], sys.argv[2]
    if mode == "fit":
        run_fit(out, sys.argv[3], int(sys.argv[4]))
        return
    opt_name = sys.argv[3] if len(sys.argv) > 3 else "sgd"
    dropout = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    bn = len(sys.argv) > 5 and sys.argv[5] == "bn"
    l2 = 0.01 if len(sys.argv) > 5 and sys.argv[5] == "l2" else 0.0  # a penalty outside the model
    r = dist.rank()
    # each rank initializes differently: DataParallel must broadcast rank 0's weights
    width = H + 1 if mode == "mismatch" and r == 1 else H
    net = model(1 + r, dropout, bn) if width == H else nn.Sequential(nn.Linear(D, width))
    dp = dist.DataParallel(net, bucket_mb=0.001)  # ~1 KB: several buckets
    if dropout < 0:  # the Shared model: LinearInto computes dw in blocks of rows, testing MPI
        dp._reducer.chunk = 64  # as across machines, in 64-byte blocks
    if mode == "trace":
        dp.trace = []
    X, y = data()
    loader = dist.shard(DataLoader(X, y, batch_size=BATCH, seed=5))
    opt = make_optimizer(opt_name, dp.parameters())
    lossf = nn.CrossEntropyLoss()
    for step, (xb, yb) in enumerate(loader):
        if mode == "raise" and r == 1 and step == 3:
            raise ValueError("a deliberate failure on step 3")
        if mode == "kill" and r == 1 and step == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "stop" and r == 1 and step == 7:
            dist.request_stop()
        loss = lossf(dp(cr.tensor(xb)), yb)
        if mode == "two_forwards":  # a second pass before the first one's backward
            loss = loss + lossf(dp(cr.tensor(xb)), yb)
        if l2:
            loss = loss + nn.functional.l2_penalty(dp.module, l2)
        opt.zero_grad()
        loss.backward(retain_graph=mode == "twice")
        if mode == "twice":
            loss.backward()
        opt.step()
        if dp.stop_requested:
            break
    dp.sync_buffers()
    arrays = {k: v for k, v in dp.module.state_dict().items()}
    arrays["steps"] = np.array(opt.steps)
    if mode == "trace":
        arrays["trace_kind"] = np.array([k for _, k, _ in dp.trace])
        arrays["trace_index"] = np.array([i for _, _, i in dp.trace])
        arrays["n_buckets"] = np.array(len(dp.buckets))
        # the last step's gradients are views of the buckets (nothing copied out), and a
        # Linear layer records LinearInto, whose backward writes them there
        bufs = [b.buf for b in dp._reducer.buckets]
        grads = [p.grad.data for p in dp.parameters()]
        arrays["grad_in_bucket"] = np.array([any(g.base is b for b in bufs) for g in grads])
        arrays["last_node"] = np.array(type(dp(cr.tensor(xb))._node).__name__)
        # the rank's weight is a Python float: a NumPy float64 would turn float32 into float64
        arrays["scale_type"] = np.array(type(dp._reducer.scale).__name__)
    np.savez(f"{out}.rank{r}.npz", **arrays)


if __name__ == "__main__":
    main()
