"""W10: data-parallel training on MPI. W7's epoch (784-512-512-10 ReLU MLP, global batch 128,
60,000 MNIST-shaped samples, SGD Nesterov momentum 0.9, chainrule's Trainer) on 2 ranks x 1
BLAS thread (``mpiexec -n 2``) against 1 process x 2 BLAS threads, on the same 2 cores.

Measured in one run, under ``mpiexec -n 2`` (``--mpi-worker``):

- the floor: a raw mpi4py ``Allreduce`` of the model's 669,706 float32 gradients;
- chainrule's gradient averaging per step: ``DataParallel``'s reducer taking the same gradients
  in backward's order as ``LinearInto`` hands them (already in the buckets: the matmul wrote
  them there, as fast as into a fresh array), with the rank's weight applied to each layer's
  upstream gradient, the bucketed ``Iallreduce``, the wait, ``.grad`` set; no compute. Beside
  it the copy path, for parameters of layers other than Linear (copied into the buckets). The
  three are interleaved, medians of 300 rounds;
- a rank's forward+backward of its share with ``DataParallel`` against the bare model (what the
  gates, LinearInto and the launches cost), and the wait for the buckets after it;
- the 2-rank epoch's samples/s, and the fraction of the gradient bytes whose allreduce had
  finished when backward ended (hidden behind backward), averaged over the steps. On one
  machine the allreduce is memory copies by the cores that also compute, so it cannot hide:
  expect ~0% (the rank tests its requests between gradients only);
- 4 and 8 ranks oversubscribed on the 2 cores, a few dozen steps, beside the cost model.

Cost model (ring allreduce): each rank sends and receives ``2 (n-1)/n * S`` bytes in
``2 (n-1)`` messages, ``t = 2 (n-1)/n * S / bw + 2 (n-1) * latency``. Communication hides behind
backward when backward of the rank's share of the batch takes at least ``t`` (all but the last
bucket overlaps), which gives the per-rank batch ``b >= t / (backward seconds per sample)``.

Goals (issue 13): averaging <= 1.15x the raw Allreduce; the 2-rank epoch >= 0.7x the 1-process
throughput here.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness import Row, mlp_weights

SIZES = [784, 512, 512, 10]
BATCH = 128
SAMPLES = 60_000
LR = 0.01
PARAMS = sum(a * b + b for a, b in itertools.pairwise(SIZES))  # 669,706


def data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (n, SIZES[0]), dtype=np.uint8).astype(np.float32) / 255.0
    return X, rng.integers(0, 10, n)


def trainer(X: np.ndarray, y: np.ndarray) -> Any:
    from chainrule import nn, optim, train
    from chainrule.data import DataLoader

    net = nn.MLP(SIZES)
    names = [n for n, _ in net.named_parameters()]
    net.load_state_dict(dict(zip(names, mlp_weights(SIZES), strict=True)))
    opt = optim.SGD(net.parameters(), lr=LR, momentum=0.9, nesterov=True)
    loader = DataLoader(X, y, batch_size=BATCH, shuffle=True, seed=0)
    return train.Trainer(net, opt, loader, epochs=1, progress=False, verbose=False)


def epochs_per_s(t: Any, n: int, repeats: int) -> float:
    t.fit(t.epoch + 1)  # warm-up
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        t.fit(t.epoch + 1)
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def ring_seconds(n: int, nbytes: float, bw_bytes_s: float, latency_s: float) -> float:
    """The ring allreduce cost model (see the module docstring).

    >>> round(ring_seconds(2, 1e6, 1e9, 0.0) * 1e3, 3)   # 2 ranks, 1 MB, 1 GB/s: 1 ms
    1.0
    """
    return 2 * (n - 1) / n * nbytes / bw_bytes_s + 2 * (n - 1) * latency_s


def single_process(quick: bool) -> dict[str, float]:
    """1 process, NumPy's default 2 BLAS threads (run in its own interpreter)."""
    n = SAMPLES // 10 if quick else SAMPLES
    X, y = data(n)
    t = trainer(X, y)
    rate = epochs_per_s(t, n, 1 if quick else 3)
    # backward's seconds per sample, for the cost model: one step at batch 128, timed in parts
    import chainrule as cr
    from chainrule.nn import functional

    net, xb, yb = t.model, cr.tensor(X[:BATCH]), y[:BATCH]
    fwd, bwd = [], []
    for _ in range(30):
        t0 = time.perf_counter()
        loss = functional.cross_entropy(net(xb), yb)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        fwd.append(t1 - t0)
        bwd.append(t2 - t1)
        net.zero_grad()
    return {
        "samples_per_s": rate,
        "forward_s": statistics.median(fwd),
        "backward_s": statistics.median(bwd),
    }


def mpi_worker(quick: bool, steps_only: int) -> None:
    """Under mpiexec: print (on rank 0) one JSON line of measurements."""
    from mpi4py import MPI

    from chainrule import distributed as dist

    dist.init()
    comm = MPI.COMM_WORLD
    n = SAMPLES // 10 if quick else SAMPLES
    if steps_only:  # oversubscribed runs: a few dozen steps only
        n = steps_only * BATCH
    X, y = data(n)
    t = trainer(X, y)
    dp = t.model
    out: dict[str, Any] = {"ranks": dist.world_size()}
    # The floor, one Allreduce of all the gradients' bytes, against chainrule's averaging of
    # the same gradients in backward's order, nothing else, interleaved (the machine is
    # shared: medians of alternating repetitions). Every parameter here is a Linear layer's:
    # its backward's matmul writes the gradient straight into the bucket (out=), so what
    # averaging adds is the rank's weight times the layer's upstream gradient, the bookkeeping,
    # the bucketed Iallreduce, the wait and setting .grad.
    # The copy path (a parameter of any other layer, copied in by a gate) is timed beside it.
    buf = np.ones(PARAMS, np.float32)
    red = dp._reducer
    grads = [np.ones_like(p.data) for p in dp._params]
    order = [(i - 1, i) for i in reversed(range(1, len(grads), 2))]  # (weight, bias) per layer
    # each layer's upstream gradient, which LinearInto multiplies by the rank's weight
    douts = [np.ones((BATCH // dist.world_size(), grads[ib].size), np.float32) for _, ib in order]

    def raw() -> float:
        comm.Barrier()
        t0 = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        return time.perf_counter() - t0

    def averaging(copy: bool) -> float:
        dp.zero_grad()
        red.uses = [1] * len(grads)
        comm.Barrier()
        t0 = time.perf_counter()
        for (iw, ib), dout in zip(order, douts, strict=True):
            if copy:
                red.add(ib, grads[ib])
                red.add(iw, grads[iw])
            else:  # what LinearInto.backward does around its matmul and sum
                _ = dout * red.scale  # the (N, out) upstream gradient, scaled
                red.slot(iw)
                red.slot(ib)
                red.done(iw)
                red.done(ib)
        dp.synchronize()
        return time.perf_counter() - t0

    runs: dict[str, list[float]] = {"raw": [], "views": [], "copy": []}
    for _ in range(30 if steps_only else 300):
        runs["raw"].append(raw())
        runs["views"].append(averaging(copy=False))
        runs["copy"].append(averaging(copy=True))
    out["raw_allreduce_s"] = statistics.median(runs["raw"])
    out["averaging_s"] = statistics.median(runs["views"])
    out["averaging_copy_s"] = statistics.median(runs["copy"])
    ratios = sorted(v / r for v, r in zip(runs["views"], runs["raw"], strict=True))
    out["ratio_quartiles"] = [ratios[len(ratios) // 4], ratios[3 * len(ratios) // 4]]
    out["buckets"] = len(dp.buckets)
    # What DataParallel adds to a step's forward + backward on this rank (the gates, LinearInto,
    # starting and testing the allreduces), against the bare model; the wait after it apart
    import chainrule as cr
    from chainrule.nn import functional

    share = BATCH // dist.world_size()
    xb, yb = cr.tensor(X[:share]), y[:share]
    steps: dict[str, list[float]] = {"bare": [], "dp": [], "wait": []}
    for _ in range(10 if steps_only else 60):
        for net in (dp.module, dp):
            net.zero_grad()
            comm.Barrier()
            t0 = time.perf_counter()
            functional.cross_entropy(net(xb), yb).backward()
            t1 = time.perf_counter()
            if net is dp:
                dp.synchronize()
                steps["wait"].append(time.perf_counter() - t1)
            steps["dp" if net is dp else "bare"].append(t1 - t0)
    dp.zero_grad()
    out["fwd_bwd_bare_s"] = statistics.median(steps["bare"])
    out["fwd_bwd_dp_s"] = statistics.median(steps["dp"])
    out["sync_after_backward_s"] = statistics.median(steps["wait"])
    # the epoch, with the wait at the end of each step traced
    comm.Barrier()
    dp.trace = []
    rate = epochs_per_s(t, n, 1 if (quick or steps_only) else 3)
    waits, done, last = [], [], None
    for stamp, kind, index in dp.trace:
        if kind == "waiting":
            last = stamp
            done.append(index / (PARAMS * 4))
        elif kind == "synchronized" and last is not None:
            waits.append(stamp - last)
    out["samples_per_s"] = rate
    out["exposed_wait_s"] = statistics.median(waits)
    out["hidden"] = statistics.mean(done)
    out["step_s"] = BATCH / rate
    if dist.is_main():
        print(json.dumps(out))


def mpirun(ranks: int, quick: bool, steps_only: int = 0) -> dict[str, Any]:
    exe = Path(sys.executable).parent / "mpiexec"
    mpiexec = str(exe) if exe.exists() else shutil.which("mpiexec")
    if mpiexec is None:
        raise RuntimeError("W10 needs mpiexec: pip install 'chainrule[mpi]'")
    args = [mpiexec, "-n", str(ranks), sys.executable, __file__, "--mpi-worker"]
    args += ["--quick"] * quick + ["--steps", str(steps_only)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    p = subprocess.run(args, check=True, capture_output=True, text=True, timeout=900, env=env)
    return dict(json.loads(p.stdout.strip().splitlines()[-1]))


def run(quick: bool = False) -> list[Row]:
    here = Path(__file__).parent
    one = subprocess.run(
        [sys.executable, __file__, "--single"] + ["--quick"] * quick,
        check=True, capture_output=True, text=True, cwd=here,
    )  # fmt: skip
    single = json.loads(one.stdout.strip().splitlines()[-1])
    two = mpirun(2, quick)
    overs = {r: mpirun(r, quick, steps_only=40) for r in (4, 8)}
    hidden = two["hidden"]
    nbytes = PARAMS * 4
    per_sample_bwd = single["backward_s"] / BATCH * 2  # one core's share: 2 threads -> 1
    lines = []
    for name, bw in (("1 Gb/s", 125e6), ("100 Gb/s", 12.5e9)):
        for n in (8, 64):
            t = ring_seconds(n, nbytes, bw, 5e-6 if bw > 1e9 else 50e-6)
            b = t / per_sample_bwd
            lines.append(
                f"{name}, {n} ranks: allreduce {t * 1e3:.2f} ms/step; hidden behind backward "
                f"from ~{b:,.0f} samples per rank (global batch ~{b * n:,.0f})"
            )
    over_notes = []
    shm = nbytes / two["raw_allreduce_s"] / (2 * (2 - 1) / 2)  # the shared-memory bandwidth
    for r, o in overs.items():
        model = ring_seconds(r, nbytes, shm, 0.0)
        over_notes.append(
            f"{r} ranks oversubscribed on 2 cores: {o['step_s'] * 1e3:.1f} ms/step measured, raw "
            f"allreduce {o['raw_allreduce_s'] * 1e3:.2f} ms (cost model at the 2-rank bandwidth "
            f"{shm / 1e9:.2f} GB/s: {model * 1e3:.2f} ms), averaging "
            f"{o['averaging_s'] * 1e3:.2f} ms"
        )
    rows = [
        Row(
            "W10 gradient averaging per step, 669,706 float32 gradients, 2 ranks",
            "ms",
            {"chainrule": two["averaging_s"] * 1e3, "raw Allreduce": two["raw_allreduce_s"] * 1e3},
            "<= 1.15x raw Allreduce",
            two["averaging_s"] <= 1.15 * two["raw_allreduce_s"],
            notes=[
                f"{two['buckets']} bucket(s) (one machine: one bucket per dtype), an Iallreduce "
                "each; Linear gradients computed "
                "into the buckets (no copy); the copy path (other layers' parameters) "
                f"{two['averaging_copy_s'] * 1e3:.3f} ms",
            ],
        ),
        Row(
            "W10 W7's epoch, 2 ranks x 1 BLAS thread vs 1 process x 2 threads",
            "samples/s",
            {"chainrule": two["samples_per_s"], "1 process": single["samples_per_s"]},
            ">= 0.7x 1 process",
            two["samples_per_s"] >= 0.7 * single["samples_per_s"],
            higher_is_better=True,
            notes=[
                f"fraction of the gradient bytes averaged before backward ended (hidden): "
                f"{hidden:.0%}; blocked {two['exposed_wait_s'] * 1e3:.2f} ms/step in the final "
                f"wait (the other rank's backward included) against "
                f"{two['raw_allreduce_s'] * 1e3:.2f} ms raw",
                f"1-process step: forward {single['forward_s'] * 1e3:.2f} ms, backward "
                f"{single['backward_s'] * 1e3:.2f} ms",
                f"a rank's forward+backward of its {BATCH // 2} samples: "
                f"{two['fwd_bwd_dp_s'] * 1e3:.2f} ms with DataParallel against "
                f"{two['fwd_bwd_bare_s'] * 1e3:.2f} ms for the bare model (the gates, "
                f"LinearInto, starting and testing the allreduces), then "
                f"{two['sync_after_backward_s'] * 1e3:.2f} ms waiting for the buckets",
                *lines,
                *over_notes,
            ],
        ),
    ]
    return rows


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    if "--mpi-worker" in sys.argv:
        mpi_worker(quick, int(sys.argv[sys.argv.index("--steps") + 1]))
    elif "--single" in sys.argv:
        print(json.dumps(single_process(quick)))
    else:
        for row in run(quick):
            print(row)
